"""The CLIP towers a training run was built on, as the product rebuilds them (architecture, tokenizer and
preprocessing from the base model; every weight then comes from the run's checkpoint)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memesearch.models.encoders.base import EncoderLoadError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import Tensor


def base_towers(ckpt: Path, settings: Mapping[str, Any], load_clip: Any) -> tuple[str, Any]:
    """``(model_name, ClipParts)`` of the CLIP towers a run was trained on: the architecture and tokenizer
    (every weight is then replaced by the checkpoint's)."""
    base = settings.get("model_name")
    if not isinstance(base, str):
        raise EncoderLoadError(f"{ckpt}: task_config.model_name (the CLIP towers it trained on) is missing")
    try:
        return base, load_clip(base)
    except Exception as exc:
        raise EncoderLoadError(
            f"{ckpt} was trained on {base!r}, which cannot be loaded here ({exc}); the checkpoint holds "
            "the weights but the architecture and tokenizer come from that model"
        ) from None


def cast_preprocess(preprocess: Callable[[Any], Tensor], dtype: torch.dtype) -> Callable[[Any], Tensor]:
    """The towers' image preprocessing, its tensor cast to the weights' dtype."""

    def run(image: Any) -> Tensor:
        return preprocess(image).to(dtype)

    return run
