"""The UniCLIP training model: CLIP towers + the training-only OCR heads.

:class:`UniClipModel` holds the transformers CLIP / Chinese-CLIP model (``clip``, loaded by
:func:`memesearch.models.clip_towers.load_clip`) and, when switched on, a :class:`PresenceHead`
(``presence``) and a :class:`SemanticHead` (``semantic``). Its image pass returns both the unit image
embedding (what ``clip:<dir>`` serves: ``get_image_features``) and the full token sequence before the
final norm (what the heads read), from **one** forward of the vision tower. Its text pass is
``get_text_features``. So a model exported without its heads (``clip.save_pretrained``) gives exactly the
embeddings it trained with. The contrastive temperature is the CLIP model's own ``logit_scale``
(log-space), clamped to ``[0, ln 100]`` as in the original.

Example::

    >>> model = UniClipModel(parts, UniClipArch(presence=True, semantic=True))   # doctest: +SKIP
    >>> image = model.encode_image(pixels)          # .embedding (B, D) unit, .tokens (B, 1 + P, W)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memesearch.models.clip_towers import ClipParts
from memesearch.models.uniclip.heads import (
    PresenceHead,
    PresenceHeadConfig,
    SemanticHead,
    SemanticHeadConfig,
)

#: the original clamps the log temperature to [0, ln 100]
LOGIT_SCALE_MAX = math.log(100.0)


@dataclass(frozen=True)
class UniClipArch:
    """Which heads the model has and their shapes (a subset of the Task's ``task_config``).

    Attributes:
        presence: build the presence head (IC).
        semantic: build the semantic head (ITM).
        head_layers: blocks of each head (3 in the original).
        head_heads: attention heads of the head blocks (None: vision width / 64).
        ocr_context: candidate OCR length in tokens (20 in the original).
        head_dropout: dropout of the candidate embedding (BERT's 0.1).
    """

    presence: bool = True
    semantic: bool = True
    head_layers: int = 3
    head_heads: int | None = None
    ocr_context: int = 20
    head_dropout: float = 0.1

    @classmethod
    def from_settings(cls, settings: Any) -> UniClipArch:
        """The architecture keys of a config object (others ignored)."""
        values: dict[str, Any] = {f.name: getattr(settings, f.name, f.default) for f in fields(cls)}
        return cls(**values)


class ImageOutput(NamedTuple):
    """``embedding`` (B, D) unit image embeddings; ``tokens`` (B, 1 + P, W) before the final norm."""

    embedding: Tensor
    tokens: Tensor


def _pad_id(tokenizer: Any) -> int:
    pad = getattr(tokenizer, "pad_token_id", None)
    return int(pad) if pad is not None else 0


class UniClipModel(nn.Module):
    """CLIP towers + optional presence and semantic heads (module docstring)."""

    def __init__(self, parts: ClipParts, arch: UniClipArch) -> None:
        super().__init__()
        self.kind = parts.kind
        self.arch = arch
        self.clip = parts.model
        config: Any = self.clip.config
        vision_width = int(config.vision_config.hidden_size)
        text_width = int(config.text_config.hidden_size)
        self.presence: PresenceHead | None = None
        self.semantic: SemanticHead | None = None
        if arch.presence:
            self.presence = PresenceHead(PresenceHeadConfig(vision_width, arch.head_layers, arch.head_heads))
        if arch.semantic:
            self.semantic = SemanticHead(
                SemanticHeadConfig(
                    vision_width=vision_width,
                    text_width=text_width,
                    vocab_size=int(config.text_config.vocab_size),
                    pad_token_id=_pad_id(parts.tokenizer),
                    context=arch.ocr_context,
                    layers=arch.head_layers,
                    heads=arch.head_heads,
                    dropout=arch.head_dropout,
                )
            )

    def logit_scale(self) -> Tensor:
        """The contrastive scale ``exp(clamp(logit_scale, 0, ln 100))`` (a 0-d tensor)."""
        clip: Any = self.clip
        return clip.logit_scale.clamp(0.0, LOGIT_SCALE_MAX).exp()

    @torch.no_grad()
    def clamp_logit_scale_(self) -> None:
        clip: Any = self.clip
        clip.logit_scale.clamp_(0.0, LOGIT_SCALE_MAX)

    def encode_text(self, ids: Tensor, mask: Tensor) -> Tensor:
        """(B, T) token ids + mask -> (B, D) unit text embeddings (``get_text_features``)."""
        from memesearch.models.encoders.hf_clip import features

        clip: Any = self.clip
        return F.normalize(features(clip.get_text_features(input_ids=ids, attention_mask=mask)), dim=-1)

    def encode_image(self, pixels: Tensor) -> ImageOutput:
        """(B, 3, H, W) pixels -> unit embeddings and the token sequence before the final norm, one pass."""
        clip: Any = self.clip
        out = clip.get_image_features(pixel_values=pixels)
        if isinstance(out, Tensor):  # transformers 4 returns the projected tensor only
            vision = clip.vision_model(pixel_values=pixels)
            return ImageOutput(F.normalize(clip.visual_projection(vision.pooler_output), dim=-1),
                               vision.last_hidden_state)  # fmt: skip
        return ImageOutput(F.normalize(out.pooler_output, dim=-1), out.last_hidden_state)

    def presence_logits(self, tokens: Tensor) -> Tensor:
        """(B, N, W) image tokens -> (B, 2) presence logits."""
        if self.presence is None:
            raise RuntimeError("this UniCLIP model was built without the presence head")
        return self.presence(tokens)

    def semantic_logits(self, tokens: Tensor, ids: Tensor, mask: Tensor) -> Tensor:
        """Image tokens + candidate OCR ids/mask (B, T) -> (B, 2) semantic-match logits."""
        if self.semantic is None:
            raise RuntimeError("this UniCLIP model was built without the semantic head")
        return self.semantic(tokens, ids, mask)
