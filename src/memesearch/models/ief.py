"""The IEF / Cap4Video-style network: token-wise interaction (QI) and a caption transformer (QC).

Training is :mod:`memesearch.train.tasks.ief` (stages, losses, frozen parts; its docstring has the
equations); serving a trained run (``checkpoint:<run>``) is :mod:`memesearch.models.trained.ief`. Both
build :class:`IEFModel` and read an item the same way: its image tokens (projected CLS + patches) followed
by the token states of its context text (:func:`~memesearch.models.clip4meme.item_text`: captions, then
OCR, joined by newlines) — :meth:`IEFModel.item_tokens`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memesearch.errors import ConfigError
from memesearch.models.clip_towers import ClipParts, image_features, text_features
from memesearch.models.logit_scale import LogitScale


@dataclass(frozen=True)
class IEFArch:
    """The architecture keys of an ``ief`` ``task_config``: caption transformer size and temperature."""

    caption_layers: int = 2
    caption_heads: int = 8
    logit_scale_init: float = 1 / 0.07

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | Any) -> IEFArch:
        """The architecture keys of a ``task_config`` (a mapping or a config object); others are ignored."""
        get = settings.get if isinstance(settings, Mapping) else lambda k, d: getattr(settings, k, d)
        return cls(**{f.name: get(f.name, f.default) for f in fields(cls)})


def _weight_head(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 1))


def _masked_softmax(logits: Tensor, mask: Tensor) -> Tensor:
    return logits.masked_fill(~mask, float("-inf")).softmax(dim=-1)


class IEFModel(nn.Module):
    """CLIP towers, the ``wti`` weight heads and the QC caption transformer (module docstring)."""

    def __init__(self, parts: ClipParts, config: IEFArch, max_words: int) -> None:
        super().__init__()
        dim = parts.dim
        if dim % config.caption_heads:
            raise ConfigError(
                f"task_config.caption_heads={config.caption_heads} must divide the embedding size {dim}"
            )
        self.kind = parts.kind
        self.clip = parts.model
        self.wti_text = _weight_head(dim)
        self.wti_item = _weight_head(dim)
        self.logit_scale = LogitScale(init=config.logit_scale_init)
        self.caption_position = nn.Embedding(max_words, dim)
        layer = nn.TransformerEncoderLayer(
            dim, config.caption_heads, dim_feedforward=dim, dropout=0.0, batch_first=True
        )
        self.caption_transformer = nn.TransformerEncoder(
            layer, config.caption_layers, enable_nested_tensor=False
        )
        self.qc_logit_scale = LogitScale(init=config.logit_scale_init)

    def text(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(tokens (B, T, D), pooled (B, D)) of the CLIP text tower."""
        clip: Any = self.clip
        return text_features(clip.text_model, clip.text_projection, self.kind, ids, mask)

    def wti(self, query: Tensor, query_mask: Tensor, item: Tensor, item_mask: Tensor) -> Tensor:
        """Weighted token-wise interaction: (A, T, D) queries x (B, J, D) items -> (A, B) in [-1, 1]."""
        qm, im = query_mask.bool(), item_mask.bool()
        w = _masked_softmax(self.wti_text(query).squeeze(-1), qm)  # (A, T)
        u = _masked_softmax(self.wti_item(item).squeeze(-1), im)  # (B, J)
        q, v = F.normalize(query, dim=-1), F.normalize(item, dim=-1)
        s = torch.einsum("atd,bjd->abtj", q, v)  # (A, B, T, J)
        neg = torch.finfo(s.dtype).min
        # every item has image tokens and every query its bos/eos, so each max sees a valid entry
        t2v = s.masked_fill(~im[None, :, None, :], neg).amax(dim=3)  # (A, B, T)
        v2t = s.masked_fill(~qm[:, None, :, None], neg).amax(dim=2)  # (A, B, J)
        return 0.5 * ((t2v * w[:, None, :]).sum(-1) + (v2t * u[None, :, :]).sum(-1))

    def caption_embedding(self, ids: Tensor, mask: Tensor) -> Tensor:
        """Context token ids (B, T) -> (B, D) unit ``transf_avg`` embeddings."""
        tokens, _ = self.text(ids, mask)  # (B, T, D)
        valid = mask.bool()
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.caption_transformer(tokens + self.caption_position(positions), src_key_padding_mask=~valid)
        w = valid.to(x.dtype).unsqueeze(-1)  # (B, T, 1)
        return F.normalize((x * w).sum(1) / w.sum(1).clamp(min=1.0), dim=-1)

    def item_tokens(
        self, pixels: Tensor, tokenize: Any, texts: Sequence[str | None]
    ) -> tuple[Tensor, Tensor]:
        """``(B, 1 + P + T, D)`` image then context-text tokens and their int64 mask (1 = valid).

        ``texts[i]``: item i's context text (:func:`~memesearch.models.clip4meme.item_text`; None = none:
        its text positions are zeros, masked out); ``tokenize`` pads to ``T = tokenize.max_words``.
        """
        image, _ = image_features(self.clip, pixels)  # (B, 1 + P, D)
        n, t, dim = image.shape[0], int(tokenize.max_words), image.shape[2]
        caption = image.new_zeros(n, t, dim)
        caption_mask = torch.zeros(n, t, dtype=torch.int64, device=image.device)
        rows = [i for i, c in enumerate(texts) if c]
        if rows:
            ids, mask = tokenize([texts[i] for i in rows])
            tokens, _ = self.text(ids.to(image.device), mask.to(image.device))
            caption = caption.index_copy(0, torch.tensor(rows, device=image.device), tokens.to(caption.dtype))
            caption_mask[rows] = mask.to(image.device, torch.int64)
        image_mask = torch.ones(n, image.shape[1], dtype=torch.int64, device=image.device)
        return torch.cat([image, caption], dim=1), torch.cat([image_mask, caption_mask], dim=1)
