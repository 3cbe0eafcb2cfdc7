"""``clip:<dir or hub id>`` — Hugging Face CLIP and Chinese-CLIP checkpoints through transformers.

The architecture is read from the checkpoint's ``config.json`` (``model_type``: ``clip`` -> ``CLIPModel``,
``chinese_clip`` -> ``ChineseCLIPModel``; OpenAI CLIP, Chinese-CLIP, QA-CLIP and UniCLIP converted to
HF layout all load this way; original cn_clip ``.pt`` files are converted by
:mod:`memesearch.models.convert.cn_clip`). Preprocessing comes from the checkpoint's
``preprocessor_config.json`` through transformers' PIL image processor (no torchvision; it honours
``do_center_crop: false``, Chinese-CLIP's squash-resize), the tokenizer through ``AutoTokenizer``.

Example::

    >>> enc = create_encoder("clip:/models/chinese-clip-vit-base-patch16", max_length=52)  # doctest: +SKIP
    >>> enc.encode_image(["cat.png"]).shape                                                 # doctest: +SKIP
    (1, 512)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.errors import ConfigError
from memesearch.models.encoders.base import (
    Encoder,
    EncoderConfig,
    EncoderLoadError,
    TextKind,
    package_versions,
)
from memesearch.models.encoders.images import to_rgb
from memesearch.models.encoders.sources import CheckpointSource, resolve_source
from memesearch.utils.device import dtype_name, resolve_device, resolve_dtype

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

logger = logging.getLogger(__name__)

#: model_type in config.json -> (transformers model class, tokenizer outputs the text tower takes)
SUPPORTED_MODEL_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "clip": ("CLIPModel", ("input_ids", "attention_mask")),
    "chinese_clip": ("ChineseCLIPModel", ("input_ids", "attention_mask", "token_type_ids")),
}


def features(output: Any) -> torch.Tensor:
    """The projected embedding of ``get_*_features``: a tensor (transformers 4) or ``.pooler_output`` (5)."""
    import torch

    return output if isinstance(output, torch.Tensor) else output.pooler_output


class TorchClipEncoder(Encoder):
    """A two-tower CLIP-style transformers model (``get_image_features`` / ``get_text_features``).

    Shared by ``clip:`` and ``tiny-clip``; they differ only in how texts are tokenised and images turned
    into ``pixel_values`` (functions passed in).
    """

    def __init__(
        self,
        *,
        config: EncoderConfig,
        model: Any,
        tokenize: Callable[[list[str]], dict[str, torch.Tensor]],
        pixels: Callable[[list[Image.Image]], torch.Tensor],
        preprocess: Callable[[Image.Image], torch.Tensor],
        tokenizer: Any,
        device: str,
        dtype: torch.dtype,
    ) -> None:
        self.config = config
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.device = device
        self.dtype = dtype
        self._tokenize = tokenize
        self._pixels = pixels

    def _encode_image_batch(self, images: list[Image.Image]) -> np.ndarray:
        import torch

        pixel_values = self._pixels(images).to(self.device, self.dtype)  # (B, 3, H, W)
        with torch.inference_mode():
            out = features(self.model.get_image_features(pixel_values=pixel_values))  # (B, dim)
        return out.float().cpu().numpy()

    def _encode_text_batch(self, texts: list[str], kind: TextKind) -> np.ndarray:
        import torch

        # CLIP models have no query/passage prefixes: `kind` does not change the text
        inputs = {key: value.to(self.device) for key, value in self._tokenize(texts).items()}
        with torch.inference_mode():
            out = features(self.model.get_text_features(**inputs))  # (B, dim)
        return out.float().cpu().numpy()


class _ProcessorTransform:
    """PIL image -> (3, H, W) tensor with a transformers image processor (the encoder's ``preprocess``)."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def batch(self, images: list[Image.Image]) -> torch.Tensor:
        # images are already RGB (load_image); the processor resizes, crops and normalises
        pixel_values: torch.Tensor = self.processor(images=images, return_tensors="pt")["pixel_values"]
        return pixel_values

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.batch([to_rgb(image)])[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.processor).__name__})"


def load_hf_clip(
    name: str,
    location: str,
    *,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    max_length: int | None = None,
) -> TorchClipEncoder:
    """Load ``clip:<location>`` (see the module docstring).

    ``max_length`` caps text tokens (default: the model's limit, 77 for CLIP, 512 for Chinese-CLIP;
    Chinese-CLIP was trained with 52).
    """
    source = resolve_source(name, location)
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype)
    model_type, hf_config = _read_config(source)
    class_name, text_inputs = SUPPORTED_MODEL_TYPES[model_type]

    import transformers

    model_class = getattr(transformers, class_name)
    try:
        model = model_class.from_pretrained(
            source.location, config=hf_config, dtype=torch_dtype, local_files_only=source.local_files_only
        )
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise source.fail("the weights", exc) from None
    model = model.to(torch_device).eval()

    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            source.location, local_files_only=source.local_files_only
        )
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise source.fail("the tokenizer", exc) from None
    try:
        # backend="pil": transformers' PIL implementation, so torchvision is never needed
        processor = transformers.AutoImageProcessor.from_pretrained(
            source.location, backend="pil", local_files_only=source.local_files_only
        )
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise source.fail("the image preprocessing (preprocessor_config.json)", exc) from None

    text_limit = int(hf_config.text_config.max_position_embeddings)
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < text_limit:
        text_limit = tokenizer_limit
    if max_length is None:
        max_length = text_limit
    elif not 1 < max_length <= text_limit:
        raise ConfigError(f"max_length must be between 2 and {text_limit} for {name!r}, got {max_length}")

    def tokenize(texts: list[str]) -> dict[str, torch.Tensor]:
        encoded = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return {key: encoded[key] for key in text_inputs if key in encoded}

    transform = _ProcessorTransform(processor)
    config = EncoderConfig(
        name=name,
        kind=model_type,
        source=source.location,
        dim=int(hf_config.projection_dim),
        normalize=True,
        modalities=("image", "text"),
        max_length=max_length,
        image_size=int(hf_config.vision_config.image_size),
        dtype=dtype_name(torch_dtype),
        versions=package_versions("memesearch", "torch", "transformers"),
        extra={
            "model_class": class_name,
            "image_processor": type(processor).__name__,
            "tokenizer": type(tokenizer).__name__,
        },
    )
    logger.info("loaded %s (%s, dim %d) on %s", name, class_name, config.dim, torch_device)
    return TorchClipEncoder(
        config=config,
        model=model,
        tokenize=tokenize,
        pixels=transform.batch,
        preprocess=transform,
        tokenizer=tokenizer,
        device=torch_device,
        dtype=torch_dtype,
    )


def _read_config(source: CheckpointSource) -> tuple[str, Any]:
    """Load the checkpoint's config and check its ``model_type`` is one we support."""
    if source.is_local and not (Path(source.location) / "config.json").is_file():
        raise EncoderLoadError(
            f"cannot load {source.spec!r}: the directory {source.location} has no config.json; expected a "
            "CLIP or Chinese-CLIP checkpoint written by save_pretrained"
        )
    import transformers

    try:
        hf_config = transformers.AutoConfig.from_pretrained(
            source.location, local_files_only=source.local_files_only
        )
    except (OSError, ValueError, KeyError) as exc:
        raise source.fail("the config", exc) from None
    model_type = getattr(hf_config, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise EncoderLoadError(
            f"{source.spec!r} is a {model_type!r} checkpoint, but 'clip:' loads only model_type "
            f"{' or '.join(map(repr, SUPPORTED_MODEL_TYPES))}; "
            "use 'st:' for sentence-transformers text models"
        )
    return model_type, hf_config
