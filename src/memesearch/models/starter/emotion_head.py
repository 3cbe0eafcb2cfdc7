"""Emotions from pixels: a per-emotion logistic head on the frozen ``starter`` image tower.

The ``starter`` image tower maps an image to a unit vector ``(384,)``. The zero-shot tagger
(:mod:`memesearch.enrich.emotion`) compares those vectors with embedded emotion prompts and is at chance
(the tower never had to encode emotions). This head is *trained* instead: one logistic regression per
emotion word of :data:`memesearch.data.emotions.EMOTION_WORDS` on the tower's embeddings of the emoji
benchmark's train styles, with the benchmark's emotion labels (CLDR subcategories mapped to the bilingual
vocabulary, :mod:`memesearch.data.emoji.emotions`) as targets::

    p(emotion e | image) = sigmoid(w_e . x / |x| + b_e)     x = image_features(starter, image)  (512,)

where ``x`` is the frozen tower body's last feature map, mean- and max-pooled (:func:`image_features`).

Each emotion has its own threshold, chosen on val for precision (see
:mod:`memesearch.train.emotion_head`); an emotion whose threshold is ``None`` is never tagged. Tags are
the emotions at or above their threshold, best probability first, ``top_k`` at most.

The default starter's head lives next to its weights, ``memesearch/models/weights/starter-v3-emotion-head``:
``head.safetensors`` (``weight`` ``(E, 384)``, ``bias`` ``(E,)``, float32) and ``head.json`` (the emotion
order, the thresholds, the SHA-256 of the starter weights it was trained on, how it was trained and its
numbers). It is only valid for the image tower it was trained on: :func:`head_for_encoder` returns it
only when the encoder's ``weights_sha256`` matches.

Example::

    >>> from memesearch.models import create_encoder
    >>> enc = create_encoder("starter")                          # doctest: +SKIP
    >>> head = head_for_encoder(enc)                               # doctest: +SKIP
    >>> head.tag(image_features(enc, ["sleepy.png"]))              # doctest: +SKIP
    [[('tired', 0.83)]]
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.errors import ConfigError, DataFormatError

logger = logging.getLogger(__name__)

HEAD_FORMAT = "memesearch-emotion-head"
HEAD_FORMAT_VERSION = 1
WEIGHTS_FILE = "head.safetensors"
CONFIG_FILE = "head.json"
#: the default starter's head: package ``memesearch.models``, folder ``weights/starter-v3-emotion-head``
HEAD_PACKAGE = "memesearch.models"
HEAD_PATH = ("weights", "starter-v3-emotion-head")


#: the heads of the other committed starter versions, each used only with its own tower
OTHER_HEAD_PATHS: tuple[tuple[str, str], ...] = (
    ("weights", "starter-v2-emotion-head"),
    ("weights", "starter-v1-emotion-head"),
)


def head_dir() -> Path:
    """The folder of the shipped head (inside the installed package)."""
    return Path(str(resources.files(HEAD_PACKAGE).joinpath(*HEAD_PATH)))


def shipped_head_dirs() -> list[Path]:
    """The shipped heads' folders: the default starter's first, then the other versions' that exist."""
    other = [Path(str(resources.files(HEAD_PACKAGE).joinpath(*p))) for p in OTHER_HEAD_PATHS]
    return [head_dir(), *(d for d in other if (d / CONFIG_FILE).exists())]


#: What the head reads: the tower body's last feature map, mean- and max-pooled over space, concatenated.
FEATURES = "starter-body-meanmax"


def image_features(encoder: Any, images: Sequence[Any], *, batch_size: int = 256) -> np.ndarray:
    """The head's input for images (PIL or paths): the frozen ``starter`` tower body's last feature map at
    the side its CNN reads (``cnn_size``: the image size, or 64 px for a model with a backbone), mean- and
    max-pooled -> ``(N, 2 C)`` float32 (``C`` = 256 channels).

    These pooled body features carry more of the expression than the 384-d output embedding (which is
    trained to match concept names): on val, 2 emotions pass the precision rule with them, 0 with the
    embedding (C = 1; see ``docs/results/emotion_head.json``).
    """
    starter_config = getattr(encoder, "starter_config", None)
    side = int(starter_config.cnn_size if starter_config is not None else encoder.config.image_size)
    out: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        fmap = encoder.dense_image_features(list(images[start : start + batch_size]), side=side)  # (n,C,h,w)
        out.append(np.concatenate([fmap.mean(axis=(2, 3)), fmap.max(axis=(2, 3))], axis=1).astype(np.float32))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


@dataclass
class EmotionHead:
    """Per-emotion logistic regressions over image embeddings, with per-emotion thresholds.

    Attributes:
        emotions: the emotion words, in the row order of ``weight``.
        weight: ``(E, D)`` float32.
        bias: ``(E,)`` float32.
        thresholds: per emotion, the minimum probability of a tag, or ``None`` (never tagged).
        encoder_sha256: SHA-256 of the image tower weights the head was trained on.
        info: everything else in ``head.json`` (training command, data, numbers).
    """

    emotions: tuple[str, ...]
    weight: np.ndarray
    bias: np.ndarray
    thresholds: dict[str, float | None]
    encoder_sha256: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.weight = np.ascontiguousarray(self.weight, dtype=np.float32)
        self.bias = np.ascontiguousarray(self.bias, dtype=np.float32).reshape(-1)
        if self.weight.ndim != 2 or self.weight.shape[0] != len(self.emotions):
            raise DataFormatError(
                f"head weight {self.weight.shape} does not fit {len(self.emotions)} emotions"
            )
        if self.bias.shape != (len(self.emotions),):
            raise DataFormatError(f"head bias {self.bias.shape} does not fit {len(self.emotions)} emotions")
        unknown = sorted(set(self.thresholds) - set(self.emotions))
        if unknown:
            raise DataFormatError(f"thresholds for emotions the head does not have: {unknown}")
        self.thresholds = {e: self.thresholds.get(e) for e in self.emotions}

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])

    @property
    def active(self) -> tuple[str, ...]:
        """The emotions that can be tagged (threshold not ``None``)."""
        return tuple(e for e in self.emotions if self.thresholds[e] is not None)

    @property
    def version(self) -> str:
        """Identifies the head (weights + thresholds): part of the enricher's cache version."""
        import hashlib

        digest = hashlib.sha256(self.weight.tobytes() + self.bias.tobytes())
        digest.update(json.dumps(self.thresholds, sort_keys=True).encode())
        return f"emotion-head-{HEAD_FORMAT_VERSION};{digest.hexdigest()[:16]}"

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """``(N, E)`` probabilities of ``(N, D)`` image features (normalised here, as in training)."""
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise DataFormatError(f"expected image features of shape (N, {self.dim}), got {x.shape}")
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        logits = x.astype(np.float64) @ self.weight.T.astype(np.float64) + self.bias
        return (1.0 / (1.0 + np.exp(-np.clip(logits, -60.0, 60.0)))).astype(np.float32)

    def tag(self, vectors: np.ndarray, *, top_k: int = 2) -> list[list[tuple[str, float]]]:
        """Per item, the emotions at or above their threshold, best first, ``top_k`` at most."""
        if top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {top_k}")
        probs = self.probabilities(vectors) if len(vectors) else np.zeros((0, len(self.emotions)))
        limits = np.array(
            [np.inf if self.thresholds[e] is None else float(self.thresholds[e]) for e in self.emotions]  # type: ignore[arg-type]
        )
        out: list[list[tuple[str, float]]] = []
        for row in probs:
            kept = [j for j in np.argsort(-row, kind="stable") if row[j] >= limits[j]][:top_k]
            out.append([(self.emotions[j], round(float(row[j]), 4)) for j in kept])
        return out

    def save(self, path: str | Path) -> Path:
        """Write ``head.safetensors`` + ``head.json`` into the folder ``path`` (created)."""
        from safetensors.numpy import save_file

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({"weight": self.weight, "bias": self.bias}, str(folder / WEIGHTS_FILE))
        (folder / WEIGHTS_FILE).chmod(0o644)
        data = {
            "format": HEAD_FORMAT,
            "format_version": HEAD_FORMAT_VERSION,
            "emotions": list(self.emotions),
            "thresholds": self.thresholds,
            "encoder_sha256": self.encoder_sha256,
            **self.info,
        }
        (folder / CONFIG_FILE).write_text(
            json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        return folder

    @classmethod
    def load(cls, path: str | Path | None = None) -> EmotionHead:
        """Read a head folder (default: the shipped one, :func:`head_dir`)."""
        from safetensors.numpy import load_file

        folder = Path(path) if path is not None else head_dir()
        try:
            data = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
            tensors = load_file(str(folder / WEIGHTS_FILE))
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"cannot read the emotion head in {folder}: {exc}") from None
        if data.get("format") != HEAD_FORMAT or int(data.get("format_version", 0)) > HEAD_FORMAT_VERSION:
            raise DataFormatError(f"{folder / CONFIG_FILE}: not a {HEAD_FORMAT} v{HEAD_FORMAT_VERSION} file")
        known = {"format", "format_version", "emotions", "thresholds", "encoder_sha256"}
        return cls(
            emotions=tuple(data["emotions"]),
            weight=tensors["weight"],
            bias=tensors["bias"],
            thresholds={e: (None if t is None else float(t)) for e, t in data["thresholds"].items()},
            encoder_sha256=str(data.get("encoder_sha256", "")),
            info={k: v for k, v in data.items() if k not in known},
        )


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> EmotionHead:
    return EmotionHead.load(path)


def head_for_encoder(encoder: Any, path: str | Path | None = None) -> EmotionHead | None:
    """The head trained on this encoder's image tower, or ``None``.

    ``None`` when the encoder is not a ``starter`` whose ``weights_sha256`` equals the head's
    ``encoder_sha256`` (another tower's embeddings mean nothing to the head), or when the head has no
    active emotion.
    """
    config = getattr(encoder, "config", None)
    if (
        config is None
        or getattr(config, "kind", None) != "starter"
        or not getattr(encoder, "supports_image", True)
    ):
        return None
    sha = str((getattr(config, "extra", None) or {}).get("weights_sha256", ""))
    folders = [Path(path)] if path is not None else shipped_head_dirs()
    head: EmotionHead | None = None
    for folder in folders:
        if not (folder / CONFIG_FILE).exists():
            continue
        candidate = _load_cached(str(folder))
        if candidate.info.get("features") != FEATURES or not hasattr(encoder, "dense_image_features"):
            continue
        if sha and sha == candidate.encoder_sha256:
            head = candidate
            break
    if head is None:
        logger.info("no shipped emotion head was trained on this image tower; no image emotion tags")
        return None
    if not head.active:
        return None
    return head


__all__ = ["FEATURES", "EmotionHead", "head_dir", "head_for_encoder", "image_features", "shipped_head_dirs"]
