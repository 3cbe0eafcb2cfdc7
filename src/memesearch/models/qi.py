"""The QI (query–image) item head of CLIP4Meme, rebuilt with its bugs fixed (SPEC §2.2, research/A §1.4).

An item's QI embedding is built from the item alone — its image feature, its emotion words and its
caption tokens — never from the query it is paired with (CLIP4Meme's first designs leaked it):

1. **Emotion gate**: the emotion words, encoded by a frozen text encoder (``emotion`` (B, E)), are
   projected to the image space, L2-normalised and added through a learnable scalar gate
   (init 0.1): ``x = image + gate * normalize(W_e emotion)``. Items without emotions
   (``emotion_mask`` False) get no emotion term — not the embedding of an empty string.
2. **Co-attention** (optional, ``caption_dim`` set): the fused image feature attends to the item's
   caption tokens (B, T, C) → projected to (B, T, D); 8 heads, FFN 4×, dropout, pre-norm residual.
   ``caption_mask`` (B, T) is True for real tokens; padding gets exactly zero attention weight
   (CLIP4Meme inverted this mask). An item with no caption token at all skips the block.
3. The result is L2-normalised; queries are compared by cosine times a learnable, clamped
   temperature (:class:`~memesearch.models.logit_scale.LogitScale`, owned by the Task's model).

Shapes::

    head = QIHead(QIConfig(dim=384, emotion_dim=384, caption_dim=512))
    out = head(image=(B, 384), emotion=(B, 384), emotion_mask=(B,), caption=(B, T, 512), caption_mask=(B, T))
    out.embedding   # (B, 384), unit length
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class QIConfig:
    """Sizes and initial values of :class:`QIHead`.

    Attributes:
        dim: item / query embedding size (the image feature's size).
        emotion_dim: size of the frozen emotion-text embeddings; ``None`` disables the emotion gate.
        caption_dim: size of the caption token features; ``None`` disables the co-attention block.
        heads: attention heads (``dim`` must be divisible by it).
        ffn_mult: hidden size of the co-attention feed-forward as a multiple of ``dim``.
        dropout: dropout in attention and feed-forward.
        gate_init: initial value of the emotion gate.
    """

    dim: int
    emotion_dim: int | None = None
    caption_dim: int | None = None
    heads: int = 8
    ffn_mult: int = 4
    dropout: float = 0.1
    gate_init: float = 0.1

    def __post_init__(self) -> None:
        if self.dim < 1 or self.dim % self.heads:
            raise ValueError(f"QIConfig.dim must be a positive multiple of heads={self.heads}: {self.dim}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class QIOutput:
    """What :class:`QIHead` returns: the item embedding and, for inspection, the attention weights."""

    embedding: Tensor  # (B, D), unit length
    attention: Tensor | None = None  # (B, T) weights of the fused image over caption tokens


class CoAttentionBlock(nn.Module):
    """One pre-norm block: the item vector attends to its caption tokens, then a feed-forward."""

    def __init__(self, dim: int, caption_dim: int, heads: int, ffn_mult: int, dropout: float) -> None:
        super().__init__()
        self.caption_proj = nn.Linear(caption_dim, dim)
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, dim * ffn_mult), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim * ffn_mult, dim)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, caption: Tensor, caption_mask: Tensor) -> tuple[Tensor, Tensor]:
        # x (B, D); caption (B, T, C); caption_mask (B, T) True = real token
        has_caption = caption_mask.any(dim=1)  # (B,)
        kv = self.norm_kv(self.caption_proj(caption))  # (B, T, D)
        # rows without any token would make softmax over nothing (NaN): give them one dummy key, then
        # discard their result below
        safe_mask = caption_mask.clone()
        safe_mask[~has_caption, 0] = True
        attended, weights = self.attn(
            self.norm_q(x).unsqueeze(1), kv, kv, key_padding_mask=~safe_mask, need_weights=True
        )  # (B, 1, D), (B, 1, T)
        gate = has_caption.to(x.dtype).unsqueeze(1)  # (B, 1): items without caption skip the block
        x = x + gate * self.drop(attended.squeeze(1))
        x = x + gate * self.drop(self.ffn(self.norm_ffn(x)))
        return x, weights.squeeze(1) * gate


class QIHead(nn.Module):
    """Emotion gate + caption co-attention over an image feature (module docstring)."""

    def __init__(self, config: QIConfig) -> None:
        super().__init__()
        self.config = config
        self.emotion_proj = nn.Linear(config.emotion_dim, config.dim) if config.emotion_dim else None
        self.gate = nn.Parameter(torch.tensor(float(config.gate_init))) if config.emotion_dim else None
        self.co_attention = (
            CoAttentionBlock(config.dim, config.caption_dim, config.heads, config.ffn_mult, config.dropout)
            if config.caption_dim
            else None
        )

    def forward(
        self,
        image: Tensor,
        emotion: Tensor | None = None,
        emotion_mask: Tensor | None = None,
        caption: Tensor | None = None,
        caption_mask: Tensor | None = None,
    ) -> QIOutput:
        x = F.normalize(image, dim=-1)  # (B, D)
        if self.emotion_proj is not None and self.gate is not None and emotion is not None:
            e = F.normalize(self.emotion_proj(emotion), dim=-1)  # (B, D)
            if emotion_mask is not None:
                e = e * emotion_mask.to(e.dtype).unsqueeze(1)
            x = x + self.gate * e
        weights = None
        if self.co_attention is not None and caption is not None:
            if caption_mask is None:
                caption_mask = torch.ones(caption.shape[:2], dtype=torch.bool, device=caption.device)
            x, weights = self.co_attention(x, caption, caption_mask.bool())
        return QIOutput(F.normalize(x, dim=-1), weights)
