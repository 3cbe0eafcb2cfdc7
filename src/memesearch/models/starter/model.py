"""The ``starter`` model: its architecture config, the network, and the conventions of its inputs.

A compact ResNet-like image tower maps 64-px images into the frozen ``e5-small`` text space (LiT-style:
"locked text"); on top sits the QI emotion gate (:class:`~memesearch.models.qi.QIHead`: the item's
emotion words, embedded by ``e5-small``, projected and added through a learnable scalar gate) and a
learnable logit scale. The model is trained by :mod:`memesearch.train.tasks.starter`; the committed
weights are loaded as an encoder by :mod:`memesearch.models.starter.encoder`.

Example::

    >>> import torch
    >>> model = build_model(StarterConfig(image_size=32, widths=(8, 16), depths=(1, 1), head_hidden=0))
    >>> model.items(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 384])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memesearch.errors import ConfigError
from memesearch.models.logit_scale import LogitScale
from memesearch.models.qi import QIConfig, QIHead

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image


# ------------------------------------------------------------------------------------------------
# config


@dataclass(frozen=True)
class StarterConfig:
    """Architecture of the starter model (image tower + QI emotion gate + logit scale).

    Attributes:
        image_size: side of the square input in pixels (images are resized to it, bicubic).
        stem: stride (= kernel) of the patchify stem; 2 turns 64 px into a 32 x 32 map.
        widths: channels of the stages; every stage after the first halves the resolution.
        depths: residual blocks per stage.
        head_hidden: hidden size of the MLP projection head (0: a single linear layer).
        dim: output size, the text encoder's size (384 for e5-small).
        emotion_dim: size of the emotion-text embeddings (0 disables the emotion gate).
        gate_init: initial value of the emotion gate.
        logit_scale_init: initial temperature (clamped to [1, 100] by ``LogitScale``).
        text_encoder: the frozen text encoder whose space the tower maps into.
        emotion_kind: the e5 prefix used for emotion words (item-side text: ``passage``).
    """

    image_size: int = 64
    stem: int = 2
    widths: tuple[int, ...] = (32, 64, 128, 256)
    depths: tuple[int, ...] = (1, 1, 1, 1)
    head_hidden: int = 768
    dim: int = 384
    emotion_dim: int = 384
    gate_init: float = 0.1
    logit_scale_init: float = 10.0
    text_encoder: str = "e5-small"
    emotion_kind: str = "passage"

    def __post_init__(self) -> None:
        def bad(key: str, value: Any, expected: str) -> ConfigError:
            return ConfigError(f"starter config {key}: got {value!r}, expected {expected}")

        if self.image_size < 8:
            raise bad("image_size", self.image_size, "an integer >= 8")
        if self.stem < 1 or self.image_size % self.stem:
            raise bad("stem", self.stem, f"a positive divisor of image_size={self.image_size}")
        if not self.widths or any(w < 1 for w in self.widths):
            raise bad("widths", self.widths, "a non-empty list of positive integers")
        if len(self.depths) != len(self.widths) or any(d < 0 for d in self.depths):
            raise bad("depths", self.depths, f"{len(self.widths)} integers >= 0 (one per stage in widths)")
        if self.head_hidden < 0 or self.dim < 1 or self.emotion_dim < 0:
            raise bad("head_hidden/dim/emotion_dim", (self.head_hidden, self.dim, self.emotion_dim), ">= 0")
        if self.emotion_kind not in ("query", "passage"):
            raise bad("emotion_kind", self.emotion_kind, "'query' or 'passage'")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        out = asdict(self)
        out["widths"], out["depths"] = list(self.widths), list(self.depths)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StarterConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown starter config keys {unknown}; expected some of {sorted(names)}")
        values = dict(data)
        for key in ("widths", "depths"):
            if key in values:
                values[key] = tuple(int(v) for v in values[key])
        return cls(**values)


# ------------------------------------------------------------------------------------------------
# the network


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity shortcut (ResNet basic block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        nn.init.zeros_(self.bn2.weight)  # each block starts as the identity (stable from scratch)

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))


class ImageTower(nn.Module):
    """Patchify stem -> residual stages (stride-2 conv between them) -> mean pool -> MLP to ``dim``."""

    def __init__(self, config: StarterConfig) -> None:
        super().__init__()
        w = config.widths
        layers: list[nn.Module] = [
            nn.Conv2d(3, w[0], config.stem, stride=config.stem, bias=False),
            nn.BatchNorm2d(w[0]),
            nn.ReLU(inplace=True),
        ]
        for i, width in enumerate(w):
            if i > 0:
                layers += [
                    nn.Conv2d(w[i - 1], width, 3, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
            layers += [ResidualBlock(width) for _ in range(config.depths[i])]
        self.body = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(w[-1])
        if config.head_hidden:
            self.head: nn.Module = nn.Sequential(
                nn.Linear(w[-1], config.head_hidden), nn.GELU(), nn.Linear(config.head_hidden, config.dim)
            )
        else:
            self.head = nn.Linear(w[-1], config.dim)

    def forward(self, pixels: Tensor) -> Tensor:
        # pixels (B, 3, S, S) in [-1, 1] -> (B, dim), not normalised
        x = self.body(pixels).mean(dim=(2, 3))  # (B, C)
        return self.head(self.norm(x))


class StarterModel(nn.Module):
    """Image tower + QI emotion gate + logit scale. Texts are embedded outside (frozen e5-small)."""

    def __init__(self, config: StarterConfig) -> None:
        super().__init__()
        self.config = config
        self.tower = ImageTower(config)
        self.qi = QIHead(
            QIConfig(
                dim=config.dim,
                emotion_dim=config.emotion_dim or None,
                caption_dim=None,
                gate_init=config.gate_init,
            )
        )
        self.logit_scale = LogitScale(init=config.logit_scale_init)

    def image_features(self, pixels: Tensor) -> Tensor:
        """(B, 3, S, S) pixels in [-1, 1] -> (B, dim) image-tower features (not normalised)."""
        return self.tower(pixels)

    def items(
        self, pixels: Tensor, emotion: Tensor | None = None, emotion_mask: Tensor | None = None
    ) -> Tensor:
        """(B, dim) unit item embeddings: image features + gated emotion (``emotion`` (B, E))."""
        return self.qi(self.image_features(pixels), emotion, emotion_mask).embedding


def build_model(config: StarterConfig) -> StarterModel:
    """The :class:`StarterModel` of ``config`` with fresh weights (on CPU, float32)."""
    return StarterModel(config)


def is_starter_model(model: Any) -> bool:
    """True when ``model`` is a :class:`StarterModel` (built by :func:`build_model`)."""
    return isinstance(model, StarterModel)


# ------------------------------------------------------------------------------------------------
# inputs


def to_pixels(images: Sequence[Image.Image], size: int) -> Tensor:
    """RGB PIL images -> ``(B, 3, size, size)`` float32 in [0, 1] (bicubic resize when the size differs).

    Images should come from :func:`~memesearch.models.encoders.images.load_image` (transparency on
    white), as in training.
    """
    from PIL import Image

    arrays = []
    for image in images:
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BICUBIC)
        arrays.append(np.asarray(rgb, dtype=np.uint8))
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)  # (B, 3, S, S) uint8
    return batch.float().div_(255.0)


def normalize_pixels(pixels: Tensor) -> Tensor:
    """[0, 1] pixels -> the tower's input range [-1, 1]."""
    return pixels * 2.0 - 1.0


def emotion_text(emotions: Sequence[str] | None) -> str | None:
    """The text embedded for an item's emotion words (``"happy, love"``); ``None`` when it has none."""
    words = [e.strip() for e in (emotions or []) if e and e.strip()]
    return ", ".join(words) if words else None
