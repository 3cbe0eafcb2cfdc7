"""The starter's emotion gate, undone: an item's image vector as the tower alone gives it.

An item is stored as the QI head makes it (:class:`memesearch.models.qi.QIHead`)::

    v = normalize(x + t)        x = the tower's unit image vector,  t = gate * normalize(W_e emotion + b_e)

(``t = 0`` for an item without emotion words). A *text* query is meant to meet ``v``: the model was trained
so. An *image* query is not: it has no emotion words, so it is ``x`` of the query image, and ``v`` of the same
sticker tagged "happy" sits at cosine ~0.7 from it, below a plain look-alike. Since ``x`` is a unit vector,
``x = lam * v - t`` with the one positive ``lam`` that makes ``|x| = 1``::

    lam = (v . t) + sqrt((v . t)^2 - |t|^2 + 1)

so ``x`` comes back exactly from the stored ``v`` and the item's emotion words (:func:`ungate`), with no
second vector stored. ``t`` needs the gate's three tensors, read from the weights file without torch
(:class:`EmotionGate`), and the emotion words' e5 vectors (what ``encode_items`` feeds the gate).

The mean vector of an animated item is the renormalised mean of its gated frame vectors: undoing the gate on
it is an approximation (each frame's ``lam`` differs); its frame vectors are undone exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.models.starter.config import emotion_text

#: the gate's tensors in a starter weights file
GATE_KEYS = ("qi.emotion_proj.weight", "qi.emotion_proj.bias", "qi.gate")


@dataclass(frozen=True)
class EmotionGate:
    """``weight`` ``(dim, E)``, ``bias`` ``(dim,)`` and the scalar ``gate`` of a starter's QI head."""

    weight: np.ndarray
    bias: np.ndarray
    gate: float

    @classmethod
    def from_weights_file(cls, path: str | Path) -> EmotionGate | None:
        """The gate of a ``model.safetensors`` (None when the model has none: a starter without emotions)."""
        from safetensors import safe_open

        with safe_open(str(path), framework="np") as f:
            if not set(GATE_KEYS) <= set(f.keys()):
                return None
            w, b, g = (np.asarray(f.get_tensor(k), dtype=np.float32) for k in GATE_KEYS)
        return cls(w, b, float(g.reshape(-1)[0]))

    @classmethod
    def from_model(cls, model: Any) -> EmotionGate | None:
        """The gate of a built torch starter (None when it has none)."""
        qi = getattr(model, "qi", None)
        proj, gate = getattr(qi, "emotion_proj", None), getattr(qi, "gate", None)
        if proj is None or gate is None:
            return None
        as_np = lambda p: np.asarray(p.detach().float().cpu().numpy(), dtype=np.float32)  # noqa: E731
        return cls(as_np(proj.weight), as_np(proj.bias), float(gate.detach().float().cpu()))

    def terms(self, emotion_vectors: np.ndarray) -> np.ndarray:
        """``t`` ``(N, dim)`` of emotion-text embeddings ``(N, E)``: ``gate * normalize(W e + b)``."""
        z = np.asarray(emotion_vectors, np.float32) @ self.weight.T + self.bias
        return self.gate * z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


#: emotion texts whose gate terms a cache keeps (an index has a few hundred distinct emotion sets at most)
CACHE_SIZE = 4096


def emotion_terms(
    gate: EmotionGate | None,
    text_encoder: Any,
    kind: str,
    emotions: Sequence[Any],
    cache: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """``t`` of each item ``(N, dim)`` from its emotion words (zeros for an item without any, or no gate);
    ``text_encoder`` embeds the words as ``encode_items`` does (``kind``: the model's ``emotion_kind``).
    ``cache``: emotion text -> its term, filled here (up to :data:`CACHE_SIZE` texts), so that a server
    embeds each emotion set once."""
    texts = [emotion_text(list(w) if w else None) for w in emotions]
    if gate is None:
        return np.zeros((len(texts), 0), np.float32)
    table = cache if cache is not None else {}
    out = np.zeros((len(texts), gate.weight.shape[0]), np.float32)
    missing = sorted({t for t in texts if t is not None and t not in table})
    if missing:
        vectors = np.asarray(text_encoder.encode_text(missing, kind=kind), np.float32)
        if len(table) + len(missing) > CACHE_SIZE:
            table.clear()
        table.update(zip(missing, gate.terms(vectors), strict=True))
    for i, t in enumerate(texts):
        if t is not None:
            out[i] = table[t]
    return out


def ungate(vectors: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """``x`` of stored gated unit vectors ``v`` ``(N, dim)`` and their gate terms ``t`` (module docstring);
    a row without a term (or, defensively, one that admits no unit ``x``) is returned as it is."""
    v = np.asarray(vectors, np.float32)
    if terms.size == 0:
        return v.copy()
    t = np.asarray(terms, np.float32)
    vt = np.sum(v * t, axis=1)
    tt = np.sum(t * t, axis=1)
    disc = vt * vt - tt + 1.0
    use = (tt > 0) & (disc >= 0) & np.all(np.isfinite(v), axis=1)
    out = v.copy()
    lam = vt[use] + np.sqrt(disc[use])
    out[use] = lam[:, None] * v[use] - t[use]
    out[use] /= np.maximum(np.linalg.norm(out[use], axis=1, keepdims=True), 1e-12)
    return out


__all__ = ["EmotionGate", "emotion_terms", "ungate"]
