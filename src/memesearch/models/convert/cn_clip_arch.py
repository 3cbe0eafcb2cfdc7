"""The shapes of cn_clip's ViT models: the published architectures and inference from a state dict.

cn_clip builds a model from two JSON configs (``ViT-B-16.json`` + ``RoBERTa-wwm-ext-base-chinese.json``);
:class:`CnClipArch` holds the fields of both. Attention heads cannot be read from tensor shapes (the
q, k, v matrices are square whatever the head count), so they follow cn_clip's configs: 64-wide heads,
except ViT-H-14's 80-wide ones.

Example::

    >>> ARCHITECTURES["ViT-H-14"].vision_heads, ARCHITECTURES["ViT-B-16"].text_heads
    (16, 12)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memesearch.errors import ConfigError, DataFormatError

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass(frozen=True)
class CnClipArch:
    """The shapes of a cn_clip ViT model (the fields of its ``ViT-*.json`` + ``RoBERTa-*.json`` configs)."""

    name: str
    embed_dim: int
    image_size: int
    vision_layers: int
    vision_width: int
    vision_patch: int
    vision_head_width: int
    vision_mlp: int
    text_hidden: int
    text_layers: int
    text_intermediate: int
    vocab_size: int = 21128
    text_positions: int = 512
    text_types: int = 2
    text_head_width: int = 64
    published: bool = field(default=False, compare=False)

    @property
    def vision_heads(self) -> int:
        return self.vision_width // self.vision_head_width

    @property
    def text_heads(self) -> int:
        return self.text_hidden // self.text_head_width

    def hf_config(self) -> dict[str, Any]:
        """Keyword arguments of ``transformers.ChineseCLIPConfig`` for this architecture."""
        return {
            "text_config": {
                "vocab_size": self.vocab_size,
                "hidden_size": self.text_hidden,
                "num_hidden_layers": self.text_layers,
                "num_attention_heads": self.text_heads,
                "intermediate_size": self.text_intermediate,
                "max_position_embeddings": self.text_positions,
                "type_vocab_size": self.text_types,
                "hidden_act": "gelu",
                "layer_norm_eps": 1e-12,
                "pad_token_id": 0,
            },
            "vision_config": {
                "hidden_size": self.vision_width,
                "intermediate_size": self.vision_mlp,
                "num_hidden_layers": self.vision_layers,
                "num_attention_heads": self.vision_heads,
                "image_size": self.image_size,
                "patch_size": self.vision_patch,
                "hidden_act": "quick_gelu",
                "layer_norm_eps": 1e-5,
                "projection_dim": self.embed_dim,
            },
            "projection_dim": self.embed_dim,
        }


def _published(
    name: str, embed: int, size: int, layers: int, width: int, patch: int, **text: int
) -> CnClipArch:
    head_width = 80 if width == 1280 else 64  # ViT-H-14.json sets vision_head_width 80
    base = {"text_hidden": 768, "text_layers": 12, "text_intermediate": 3072}  # RoBERTa-wwm-ext-base
    base.update(text)
    return CnClipArch(name, embed, size, layers, width, patch, head_width, 4 * width, **base, published=True)


#: cn_clip's published ViT architectures (RN50 is refused: ChineseCLIPModel has no ResNet tower)
ARCHITECTURES: dict[str, CnClipArch] = {
    arch.name: arch
    for arch in (
        _published("ViT-B-16", 512, 224, 12, 768, 16),
        _published("ViT-L-14", 768, 224, 24, 1024, 14),
        _published("ViT-L-14-336", 768, 336, 24, 1024, 14),
        # RoBERTa-wwm-ext-large text tower
        _published(
            "ViT-H-14", 1024, 224, 32, 1280, 14, text_hidden=1024, text_layers=24, text_intermediate=4096
        ),
    )
}
RESNETS = ("RN50",)


def infer_arch(state: dict[str, torch.Tensor], path: str | Path = "") -> CnClipArch:
    """The architecture of a cn_clip state dict (normalised keys), named after a published one when
    the shapes are exactly those of one."""

    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise DataFormatError(f"the checkpoint has no tensor {key!r}", path=path)
        return tuple(state[key].shape)

    conv = shape("visual.conv1.weight")  # (width, 3, patch, patch)
    if len(conv) != 4 or conv[1] != 3 or conv[2] != conv[3]:
        raise DataFormatError(
            f"mismatched shapes: visual.conv1.weight is {conv}, expected (width, 3, p, p)", path=path
        )
    width, patch = conv[0], conv[2]
    positions = shape("visual.positional_embedding")[0]
    grid = math.isqrt(max(positions - 1, 0))
    if grid * grid != positions - 1:
        raise DataFormatError(
            f"mismatched shapes: visual.positional_embedding has {positions} rows, expected grid * grid + 1",
            path=path,
        )
    head_width = 80 if width == 1280 else 64
    hidden = shape("bert.embeddings.word_embeddings.weight")[1]
    for what, size, unit in (("vision width", width, head_width), ("text width", hidden, 64)):
        if size % unit:
            raise DataFormatError(
                f"the {what} {size} is not a multiple of {unit}, so the number of attention heads cannot be "
                f"inferred; pass --arch ({', '.join(ARCHITECTURES)})",
                path=path,
            )
    arch = CnClipArch(
        name="inferred",
        embed_dim=shape("visual.proj")[-1],
        image_size=grid * patch,
        vision_layers=_count(state, "visual.transformer.resblocks.", path),
        vision_width=width,
        vision_patch=patch,
        vision_head_width=head_width,
        vision_mlp=shape("visual.transformer.resblocks.0.mlp.c_fc.weight")[0],
        text_hidden=hidden,
        text_layers=_count(state, "bert.encoder.layer.", path),
        text_intermediate=shape("bert.encoder.layer.0.intermediate.dense.weight")[0],
        vocab_size=shape("bert.embeddings.word_embeddings.weight")[0],
        text_positions=shape("bert.embeddings.position_embeddings.weight")[0],
        text_types=shape("bert.embeddings.token_type_embeddings.weight")[0],
    )
    for published in ARCHITECTURES.values():
        if replace(published, name="inferred") == arch:
            return published
    return arch


def _count(state: dict[str, torch.Tensor], prefix: str, path: str | Path) -> int:
    """Number of numbered blocks under ``prefix`` (``prefix{i}.``), checking they run 0..n-1."""
    found = {int(m[1]) for k in state if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    if not found or found != set(range(len(found))):
        raise DataFormatError(
            f"the checkpoint's blocks {prefix}N are not numbered 0..n-1 (found {sorted(found)[:8]})",
            path=path,
        )
    return len(found)


def named_arch(arch: str | None) -> CnClipArch | None:
    """The published architecture called ``arch`` (``None`` stays ``None``: infer it); RN50 is refused."""
    if arch is None:
        return None
    if arch in RESNETS:
        raise ConfigError(
            f"--arch {arch} cannot be converted: transformers' ChineseCLIPModel has no ResNet image tower "
            f"(convertible: {', '.join(ARCHITECTURES)})"
        )
    if arch not in ARCHITECTURES:
        raise ConfigError(f"unknown --arch {arch!r}; expected one of {', '.join([*ARCHITECTURES, *RESNETS])}")
    return ARCHITECTURES[arch]
