"""The ``starter`` model: the network and its torch input conventions (the config and the torch-free
inputs are :mod:`memesearch.models.starter.config`, re-exported here).

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

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memesearch.models.logit_scale import LogitScale
from memesearch.models.qi import QIConfig, QIHead
from memesearch.models.starter.config import StarterConfig, emotion_text, pixel_bytes

__all__ = [
    "ImageTower",
    "ResidualBlock",
    "StarterConfig",
    "StarterModel",
    "build_model",
    "emotion_text",
    "is_starter_model",
    "normalize_pixels",
    "to_pixels",
]

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image


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
    """Patchify stem -> residual stages (stride-2 conv between them) -> mean pool -> MLP to ``dim``.

    With ``config.backbone`` a second branch joins: the frozen pretrained backbone's pooled features
    (:class:`~memesearch.models.pooled_backbone.PooledBackbone`, at ``image_size``), standardised with the
    training set's statistics (buffers ``backbone_mean`` / ``backbone_std``) and projected by an MLP
    (``backbone_head``); the CNN reads the input average-pooled to ``tower_size``. The output is then the
    mix of both unit vectors, ``(1 - w) * cnn + w * backbone`` with ``w = backbone_weight``.
    """

    def __init__(self, config: StarterConfig) -> None:
        super().__init__()
        self.pool = config.image_size // config.cnn_size
        self.backbone_weight = float(config.backbone_weight)
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
        self.backbone: nn.Module | None = None
        if config.backbone:
            from memesearch.models.pooled_backbone import PooledBackbone

            self.backbone = PooledBackbone(config.backbone)
            feat = self.backbone.spec.dim
            self.register_buffer("backbone_mean", torch.zeros(feat))
            self.register_buffer("backbone_std", torch.ones(feat))
            self.backbone_head = nn.Sequential(
                nn.Linear(feat, config.backbone_hidden),
                nn.GELU(),
                nn.Dropout(0.2),
                nn.Linear(config.backbone_hidden, config.dim),
            )

    def cnn_features(self, pixels: Tensor) -> Tensor:
        """The CNN branch alone: (B, 3, S, S) in [-1, 1] -> (B, dim), not normalised."""
        if self.pool > 1:
            pixels = F.avg_pool2d(pixels, self.pool)
        x = self.body(pixels).mean(dim=(2, 3))  # (B, C)
        return self.head(self.norm(x))

    def backbone_features(self, pixels: Tensor) -> Tensor:
        """The backbone's pooled features, standardised: (B, 3, S, S) -> (B, F) (no gradient)."""
        assert self.backbone is not None
        with torch.no_grad():
            raw = self.backbone(pixels)
        return (raw - self.backbone_mean) / self.backbone_std

    def forward(self, pixels: Tensor) -> Tensor:
        # pixels (B, 3, S, S) in [-1, 1] -> (B, dim): not normalised without a backbone, a mix of two
        # unit vectors with one
        cnn = self.cnn_features(pixels)
        if self.backbone is None:
            return cnn
        projected = self.backbone_head(self.backbone_features(pixels))
        w = self.backbone_weight
        return (1.0 - w) * F.normalize(cnn, dim=-1) + w * F.normalize(projected, dim=-1)


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
    batch = torch.from_numpy(pixel_bytes(images, size)).permute(0, 3, 1, 2)  # (B, 3, S, S) uint8
    return batch.float().div_(255.0)


def normalize_pixels(pixels: Tensor) -> Tensor:
    """[0, 1] pixels -> the tower's input range [-1, 1]."""
    return pixels * 2.0 - 1.0
