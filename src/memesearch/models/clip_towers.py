"""CLIP towers for the trained seed models (CLIP4Meme, IEF): loaded by encoder name, tokenised, featured.

:func:`load_clip` returns the towers of a CLIP encoder from the registry (``clip:<dir>``,
``tiny-clip:<seed>``) — a transformers ``CLIPModel`` or ``ChineseCLIPModel`` with its tokenizer and
image preprocessing — as :class:`ClipParts`. :class:`TextTokenizer` pads every text to a fixed
``max_words`` tokens, so token features of different micro-batches can be concatenated.
:func:`text_features` / :func:`image_features` give projected token states and pooled vectors.
Training (:mod:`memesearch.train.tasks.clip_towers`) and serving (``checkpoint:<run>`` encoders,
:mod:`memesearch.models.trained`) build their models on these, so both see the same arithmetic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from memesearch.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class ClipParts:
    """What :func:`load_clip` returns: the transformers model, its tokenizer and image preprocessing."""

    model: nn.Module
    tokenizer: Any
    preprocess: Callable[[Any], Tensor]
    kind: str  # "clip", "chinese_clip" or "tiny_clip"
    dim: int
    max_positions: int  # longest text the text tower takes

    def max_words(self, wanted: int) -> int:
        """``wanted`` capped at the text tower's limit (logged when capped)."""
        if wanted > self.max_positions:
            log.warning(
                "task_config.max_words=%d exceeds the text tower's %d positions; using %d",
                wanted, self.max_positions, self.max_positions,
            )  # fmt: skip
        return min(wanted, self.max_positions)


def load_clip(model_name: str) -> ClipParts:
    """Load CLIP towers by encoder name (``clip:<dir>``, ``random-clip:<arch>[@seed]`` or
    ``tiny-clip:<seed>``) on CPU in float32."""
    from memesearch.models import create_encoder

    if not model_name.startswith(("clip:", "tiny-clip", "random-clip:")):
        raise ConfigError(
            f"task_config.model_name={model_name!r}: expected a CLIP encoder name, "
            "clip:<dir>, random-clip:<arch>[@seed] or tiny-clip:<seed>"
        )
    encoder: Any = create_encoder(model_name, device="cpu", dtype="float32")
    model = encoder.model
    model.train()
    limit = int(model.config.text_config.max_position_embeddings)
    return ClipParts(
        model, encoder.tokenizer, encoder.preprocess, encoder.config.kind, encoder.config.dim, limit
    )


class TextTokenizer:
    """Texts -> ``(input_ids, attention_mask)`` of shape ``(B, max_words)`` (padded and truncated)."""

    def __init__(self, tokenizer: Any, max_words: int) -> None:
        self.tokenizer = tokenizer
        self.max_words = max_words

    def __call__(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        from memesearch.models.encoders.tiny import ByteTokenizer

        texts = list(texts)
        if isinstance(self.tokenizer, ByteTokenizer):
            enc = self.tokenizer(texts)
            ids, mask = enc["input_ids"][:, : self.max_words], enc["attention_mask"][:, : self.max_words]
            pad = self.max_words - ids.shape[1]
            if pad > 0:
                ids = nn.functional.pad(ids, (0, pad), value=self.tokenizer.pad_token_id)
                mask = nn.functional.pad(mask, (0, pad), value=0)
            return ids, mask
        enc = self.tokenizer(
            texts, padding="max_length", truncation=True, max_length=self.max_words, return_tensors="pt"
        )
        return enc["input_ids"], enc["attention_mask"]


def text_features(
    text_model: nn.Module, projection: nn.Module, kind: str, ids: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor]:
    """``(tokens (B, T, D), pooled (B, D))``: projected token states and the projected pooled text.

    The pooled text is what CLIP's ``get_text_features`` returns (EOT state for CLIP, first token for
    Chinese-CLIP). Token states are projected with the same ``text_projection`` so that they live in
    the joint space (CLIP4Meme fed unprojected states, research/A §1.10 bug 2).
    """
    out = text_model(input_ids=ids, attention_mask=mask)
    hidden = out.last_hidden_state  # (B, T, W)
    pooled = hidden[:, 0] if kind == "chinese_clip" else out.pooler_output  # (B, W)
    return projection(hidden), projection(pooled)


def image_features(clip: nn.Module, pixels: Tensor) -> tuple[Tensor, Tensor]:
    """``(tokens (B, 1 + P, D), pooled (B, D))``: projected CLS + patch states and the projected CLS."""
    model: Any = clip
    vision = model.vision_model
    out = vision(pixel_values=pixels)
    tokens = model.visual_projection(vision.post_layernorm(out.last_hidden_state))
    pooled = model.visual_projection(out.pooler_output)
    return tokens, pooled
