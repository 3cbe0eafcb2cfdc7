"""``tiny-clip[:seed]`` — a randomly initialised tiny CLIP for tests, with nothing to download.

A transformers ``CLIPModel`` built from :func:`tiny_clip_config` (width 32, 2 layers, 32-px images, a
259-token byte vocabulary), initialised from ``seed`` without touching the global torch RNG, so the same
seed gives the same weights and the same vectors. Texts are tokenised by :class:`ByteTokenizer` (UTF-8
bytes, so any language works); images by :func:`~memesearch.models.encoders.images.clip_preprocess`.

Its vectors carry no meaning: use it to test plumbing (shapes, batching, indexes, training loops).
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.models.encoders.base import EncoderConfig, package_versions
from memesearch.models.encoders.hf_clip import TorchClipEncoder
from memesearch.models.encoders.images import clip_preprocess
from memesearch.utils.device import dtype_name, resolve_device, resolve_dtype

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

TINY_IMAGE_SIZE = 32
TINY_WIDTH = 32
TINY_LAYERS = 2
TINY_MAX_LENGTH = 32


class ByteTokenizer:
    """Tokenises text as its UTF-8 bytes: ids 0..255 are bytes, then ``<bos>``, ``<eos>``, ``<pad>``.

    >>> ByteTokenizer()(["hi"])["input_ids"].tolist()
    [[256, 104, 105, 257]]
    """

    vocab_size = 259
    bos_token_id = 256
    eos_token_id = 257
    pad_token_id = 258

    def __init__(self, max_length: int = TINY_MAX_LENGTH) -> None:
        if max_length < 3:
            raise ValueError(f"max_length must be at least 3 (bos, one byte, eos), got {max_length}")
        self.model_max_length = max_length

    def encode(self, text: str) -> list[int]:
        """One text -> ids with ``<bos>`` and ``<eos>``, truncated to ``model_max_length``."""
        body = list(unicodedata.normalize("NFC", text).strip().encode("utf-8"))[: self.model_max_length - 2]
        return [self.bos_token_id, *body, self.eos_token_id]

    def __call__(self, texts: list[str]) -> dict[str, torch.Tensor]:
        """Texts -> ``input_ids`` and ``attention_mask`` (B, T), padded to the longest."""
        import torch

        rows = [self.encode(text) for text in texts]
        width = max((len(row) for row in rows), default=2)
        ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        return {"input_ids": ids, "attention_mask": mask}


def tiny_clip_config() -> Any:
    """The transformers ``CLIPConfig`` of ``tiny-clip`` (32 wide, 2 layers, 32-px images, patch 8)."""
    from transformers import CLIPConfig

    tok = ByteTokenizer
    return CLIPConfig(
        text_config={
            "hidden_size": TINY_WIDTH,
            "intermediate_size": 4 * TINY_WIDTH,
            "num_hidden_layers": TINY_LAYERS,
            "num_attention_heads": 2,
            "max_position_embeddings": TINY_MAX_LENGTH,
            "vocab_size": tok.vocab_size,
            # eos id != 2, so CLIP pools at the first <eos> (not the legacy argmax of ids)
            "bos_token_id": tok.bos_token_id,
            "eos_token_id": tok.eos_token_id,
            "pad_token_id": tok.pad_token_id,
        },
        vision_config={
            "hidden_size": TINY_WIDTH,
            "intermediate_size": 4 * TINY_WIDTH,
            "num_hidden_layers": TINY_LAYERS,
            "num_attention_heads": 2,
            "image_size": TINY_IMAGE_SIZE,
            "patch_size": 8,
        },
        projection_dim=TINY_WIDTH,
    )


def load_tiny_clip(
    name: str,
    seed: int,
    *,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
) -> TorchClipEncoder:
    """Build ``tiny-clip:<seed>``: same seed -> same weights, on any machine (initialised on CPU)."""
    import torch
    from transformers import CLIPModel

    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype)
    hf_config = tiny_clip_config()
    # a private RNG scope: building the model must not change the caller's random stream
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model: Any = CLIPModel(hf_config)
    model = model.to(device=torch_device, dtype=torch_dtype).eval()

    tokenizer = ByteTokenizer()

    def preprocess(image: Image.Image) -> torch.Tensor:
        return torch.from_numpy(clip_preprocess(image, TINY_IMAGE_SIZE))  # (3, 32, 32)

    def pixels(images: list[Image.Image]) -> torch.Tensor:
        return torch.from_numpy(np.stack([clip_preprocess(image, TINY_IMAGE_SIZE) for image in images]))

    config = EncoderConfig(
        name=name,
        kind="tiny_clip",
        source="random",
        dim=TINY_WIDTH,
        normalize=True,
        modalities=("image", "text"),
        max_length=TINY_MAX_LENGTH,
        image_size=TINY_IMAGE_SIZE,
        dtype=dtype_name(torch_dtype),
        versions=package_versions("memesearch", "torch", "transformers"),
        extra={"seed": seed, "width": TINY_WIDTH, "layers": TINY_LAYERS, "tokenizer": "bytes"},
    )
    return TorchClipEncoder(
        config=config,
        model=model,
        tokenize=tokenizer.__call__,
        pixels=pixels,
        preprocess=preprocess,
        tokenizer=tokenizer,
        device=torch_device,
        dtype=torch_dtype,
    )
