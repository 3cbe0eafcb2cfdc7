"""An ``ief`` training run served as an encoder (``checkpoint:<run>``): late interaction for the image branch.

IEF's image branch scores a query's tokens against an item's tokens (``wti``, :class:`~memesearch.models.ief
.IEFModel`), so an item is not one vector. The index keeps, per item:

- one vector (:meth:`IEFEncoder.encode_image`: the projected CLS, unit) in the vector store — it finds the
  image branch's *candidates* (nearest to the query's pooled text) and answers image queries;
- its tokens (:meth:`IEFEncoder.encode_item_tokens`: image CLS + patches, then its context text's token
  states; float32, valid tokens only) — the branch scores every candidate exactly with them
  (:meth:`IEFEncoder.late_scores`), the arithmetic ``memesearch evaluate --checkpoint`` uses.

The text branch is the CLIP text tower's pooled query against the item's passage through the caption
transformer (a stage-``qc`` run) or through the same pooled text tower (a stage-``qi`` run, whose caption
transformer is untrained).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.models.encoders.base import Encoder, EncoderConfig, TextKind
from memesearch.models.encoders.images import ImageInput, load_image

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor


class IEFEncoder(Encoder):
    """A trained IEF model behind the encoder API, with the late-interaction methods (module docstring)."""

    #: the image branch scores stored item tokens (:meth:`late_scores`), not the vector store's vectors
    late_interaction = True

    def __init__(
        self,
        config: EncoderConfig,
        model: Any,
        tokenize: Any,
        preprocess: Callable[[Any], Tensor],
        stage: str,
        device: Any,
    ) -> None:
        self.config = config
        self.model = model
        self.tokenize = tokenize
        self.tokenizer = tokenize.tokenizer
        self.preprocess = preprocess
        self._pixels = preprocess
        self.stage = stage
        self.device = device

    def _ids(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        ids, mask = self.tokenize(list(texts))
        return ids.to(self.device), mask.to(self.device)

    def _encode_text_batch(self, texts: list[str], kind: TextKind) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        ids, mask = self._ids(texts)
        with torch.no_grad():
            if kind == "passage" and self.stage == "qc":
                vec = self.model.caption_embedding(ids, mask)
            else:
                vec = F.normalize(self.model.text(ids, mask)[1], dim=-1)
        return np.asarray(vec.float().cpu().numpy())

    def _encode_image_batch(self, images: list[Any]) -> np.ndarray:
        import torch

        from memesearch.models.clip_towers import image_features

        pixels = torch.stack([self._pixels(im) for im in images]).to(self.device)
        with torch.no_grad():
            _, pooled = image_features(self.model.clip, pixels)
        return np.asarray(pooled.float().cpu().numpy())

    def encode_item_tokens(
        self, images: Sequence[ImageInput], texts: Sequence[Sequence[str] | None], *, batch_size: int = 16
    ) -> list[np.ndarray]:
        """Each item's valid tokens ``(J_i, dim)`` float32: image CLS + patches, then the token states of its
        context texts (``texts[i]``: captions, then OCR; empty or None = none)."""
        import torch

        from memesearch.models.clip4meme import item_text

        items = list(images)
        joined = [item_text(t or []) for t in texts]
        out: list[np.ndarray] = []
        for start in range(0, len(items), batch_size):
            batch = [load_image(x) for x in items[start : start + batch_size]]
            pixels = torch.stack([self._pixels(im) for im in batch]).to(self.device)
            with torch.no_grad():
                chunk = joined[start : start + batch_size]
                tokens, mask = self.model.item_tokens(pixels, self.tokenize, chunk)
            tokens, valid = tokens.float().cpu().numpy(), mask.bool().cpu().numpy()
            out.extend(np.ascontiguousarray(tokens[i][valid[i]]) for i in range(len(batch)))
        return out

    def late_scores(
        self, queries: Sequence[str], items: Sequence[np.ndarray], *, batch_size: int = 256
    ) -> np.ndarray:
        """``wti`` scores ``(Q, N)`` of text queries against items given by their tokens ``(J_i, dim)``."""
        import torch

        out = np.zeros((len(queries), len(items)), dtype=np.float32)
        if not len(queries) or not len(items):
            return out
        ids, qmask = self._ids(queries)
        with torch.no_grad():
            q, _ = self.model.text(ids, qmask)
            for start in range(0, len(items), batch_size):
                chunk = items[start : start + batch_size]
                longest = max(t.shape[0] for t in chunk)
                v = torch.zeros(len(chunk), longest, self.dim, dtype=q.dtype)
                vm = torch.zeros(len(chunk), longest, dtype=torch.int64)
                for i, t in enumerate(chunk):
                    v[i, : t.shape[0]] = torch.tensor(t, dtype=q.dtype)
                    vm[i, : t.shape[0]] = 1
                s = self.model.wti(q, qmask, v.to(self.device), vm.to(self.device))
                out[:, start : start + len(chunk)] = s.float().cpu().numpy()
        return out

    def tokens_to_bytes(self, tokens: np.ndarray) -> bytes:
        """How the index stores an item's tokens (float32, row-major)."""
        return np.ascontiguousarray(tokens, dtype=np.float32).tobytes()

    def tokens_from_bytes(self, data: bytes) -> np.ndarray:
        """Inverse of :meth:`tokens_to_bytes`."""
        return np.frombuffer(data, dtype=np.float32).reshape(-1, self.dim)


def load_ief(
    name: str,
    ckpt: Path,
    settings: Mapping[str, Any],
    extra: Mapping[str, Any],
    *,
    device: str,
    dtype: Any,
    load_weights: Callable[[Any, Path], None],
) -> IEFEncoder:
    """The :class:`IEFEncoder` of checkpoint ``ckpt`` of an ``ief`` run (``settings``: its task_config)."""
    import torch

    from memesearch.models.clip_towers import TextTokenizer, load_clip
    from memesearch.models.encoders.base import package_versions
    from memesearch.models.ief import IEFArch, IEFModel
    from memesearch.models.trained.towers import base_towers, cast_preprocess
    from memesearch.utils.device import dtype_name, resolve_dtype

    base, parts = base_towers(ckpt, settings, load_clip)
    arch = IEFArch.from_settings(settings)
    max_words = min(int(settings.get("max_words", 77)), parts.max_positions)
    model = IEFModel(parts, arch, max_words)
    load_weights(model, ckpt)
    torch_dtype = resolve_dtype(dtype)
    model.to(device=device, dtype=torch_dtype).eval()
    stage = str(settings.get("stage", "qi"))
    config = EncoderConfig(
        name=name,
        kind=f"ief-{stage}",
        source=str(ckpt.resolve()),
        dim=parts.dim,
        normalize=True,
        modalities=("image", "text"),
        max_length=max_words,
        image_size=None,
        dtype=dtype_name(torch_dtype),
        versions=package_versions("memesearch", "torch", "transformers"),
        extra={
            **extra,
            "base_model": base,
            "architecture": dict(vars(arch)),
            "image_branch": "late interaction (wti) over stored item tokens; candidates by the CLS vector",
            "text_branch": "caption transformer" if stage == "qc" else "pooled CLIP text tower",
        },
    )
    preprocess = cast_preprocess(parts.preprocess, torch_dtype)
    tokenize = TextTokenizer(parts.tokenizer, max_words)
    return IEFEncoder(config, model, tokenize, preprocess, stage, torch.device(device))
