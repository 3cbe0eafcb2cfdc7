"""UniCLIP on the starter's towers: the starter CNN image tower + UniCLIP's training-only OCR heads.

:class:`UniClipStarterModel` is a :class:`~memesearch.models.starter.model.StarterModel` (same tower, same
state-dict keys ``tower.*``, ``qi.*``, ``logit_scale.*``, so the committed starter weights load into it and
its non-head weights are a starter weights directory) plus, when switched on, UniCLIP's
:class:`~memesearch.models.uniclip.heads.PresenceHead` (``presence``) and
:class:`~memesearch.models.uniclip.heads.SemanticHead` (``semantic``). The text tower (frozen e5-small)
lives outside the model: its embeddings are cached once (the Task's business).

The "image token sequence" the heads read is the tower body's last feature map (``(B, C, h, w)``, 4 x 4
cells of 256 channels for the 64-px starter) flattened to ``h * w`` tokens, with the mean-pooled cell (the
vector the tower's head maps to the embedding) in front as the class token: ``(B, 1 + h*w, C)``, before
the tower's final LayerNorm, as the ViT version reads the tokens before its final norm. One forward of
the body gives both the embedding and the tokens.

Example::

    >>> from memesearch.models.starter.model import StarterConfig
    >>> cfg = StarterConfig(image_size=32, widths=(8, 16), depths=(1, 1), head_hidden=0, dim=24)
    >>> model = UniClipStarterModel(cfg, UniClipStarterArch(vocab_size=50))
    >>> out = model.encode_image(torch.zeros(2, 3, 32, 32))
    >>> out.embedding.shape, out.tokens.shape
    (torch.Size([2, 24]), torch.Size([2, 65, 16]))
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from memesearch.models.starter.model import StarterConfig, StarterModel
from memesearch.models.uniclip.heads import (
    PresenceHead,
    PresenceHeadConfig,
    SemanticHead,
    SemanticHeadConfig,
)
from memesearch.models.uniclip.model import LOGIT_SCALE_MAX, ImageOutput

#: prefixes of the training-only parameters (left out of the exported starter weights)
HEAD_PREFIXES: tuple[str, ...] = ("presence.", "semantic.")


@dataclass(frozen=True)
class UniClipStarterArch:
    """The heads of a :class:`UniClipStarterModel`.

    Attributes:
        presence, semantic: build the presence (IC) / semantic (ITM) head.
        head_layers, head_heads: blocks per head and their attention heads (None: width / 64).
        ocr_context: candidate OCR length in tokens.
        head_dropout: dropout of the candidate embedding.
        vocab_size, pad_token_id: of the candidate tokenizer (cn_clip's BERT vocabulary: 21128, 0).
        text_width: width of the candidate embedding (0: the image tokens' width, no adapter).
    """

    presence: bool = True
    semantic: bool = True
    head_layers: int = 3
    head_heads: int | None = None
    ocr_context: int = 20
    head_dropout: float = 0.1
    vocab_size: int = 21128
    pad_token_id: int = 0
    text_width: int = 0

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> UniClipStarterArch:
        """The architecture keys of a config object (others ignored), then ``overrides``."""
        values: dict[str, Any] = {
            f.name: getattr(settings, f.name, f.default) for f in fields(cls) if hasattr(settings, f.name)
        }
        return cls(**(values | overrides))


def image_tokens(fmap: Tensor) -> Tensor:
    """``(B, C, h, w)`` feature map -> ``(B, 1 + h*w, C)``: the mean-pooled cell, then the cells by row."""
    cells = fmap.flatten(2).transpose(1, 2)  # (B, h*w, C)
    return torch.cat([cells.mean(dim=1, keepdim=True), cells], dim=1)


class UniClipStarterModel(StarterModel):
    """Starter tower + QI gate + logit scale + optional presence and semantic heads (module docstring)."""

    def __init__(self, config: StarterConfig, arch: UniClipStarterArch) -> None:
        super().__init__(config)
        self.arch = arch
        width = int(config.widths[-1])
        self.presence: PresenceHead | None = None
        self.semantic: SemanticHead | None = None
        if arch.presence:
            self.presence = PresenceHead(PresenceHeadConfig(width, arch.head_layers, arch.head_heads))
        if arch.semantic:
            self.semantic = SemanticHead(
                SemanticHeadConfig(
                    vision_width=width,
                    text_width=arch.text_width or width,
                    vocab_size=arch.vocab_size,
                    pad_token_id=arch.pad_token_id,
                    context=arch.ocr_context,
                    layers=arch.head_layers,
                    heads=arch.head_heads,
                    dropout=arch.head_dropout,
                )
            )

    def encode_image(self, pixels: Tensor) -> ImageOutput:
        """``(B, 3, S, S)`` pixels in [-1, 1] -> unit embeddings ``(B, dim)`` (exactly the starter's image
        features, normalised) and the tokens ``(B, 1 + h*w, C)``, from one pass of the body."""
        tower: Any = self.tower
        fmap = tower.body(pixels)  # (B, C, h, w)
        tokens = image_tokens(fmap)
        embedding = tower.head(tower.norm(tokens[:, 0]))
        return ImageOutput(F.normalize(embedding, dim=-1), tokens)

    @torch.no_grad()
    def clamp_logit_scale_(self) -> None:
        """No-op: :class:`~memesearch.models.logit_scale.LogitScale` clamps itself when read."""

    def presence_logits(self, tokens: Tensor) -> Tensor:
        if self.presence is None:
            raise RuntimeError("this model was built without the presence head")
        return self.presence(tokens)

    def semantic_logits(self, tokens: Tensor, ids: Tensor, mask: Tensor) -> Tensor:
        if self.semantic is None:
            raise RuntimeError("this model was built without the semantic head")
        return self.semantic(tokens, ids, mask)


__all__ = ["HEAD_PREFIXES", "LOGIT_SCALE_MAX", "UniClipStarterArch", "UniClipStarterModel", "image_tokens"]
