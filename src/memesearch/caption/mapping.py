"""Mapping networks: one image embedding ``(B, F)`` -> a decoder prefix ``(B, k, D)``.

Both work batch-first on 3-D tensors, so images of a batch never attend to each other (the seed's
transformer mapper took ``(B, D)`` as one unbatched sequence and mixed the batch in training only).

Example::

    >>> import torch
    >>> m = build_mapper(MapperConfig(kind="transformer", prefix_length=4, clip_length=2, layers=1,
    ...                               heads=2), feature_dim=16, width=8)
    >>> m(torch.zeros(3, 16)).shape
    torch.Size([3, 4, 8])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from memesearch.caption.config import MapperConfig


class MLPMapper(nn.Module):
    """ClipCap's MLP: Linear(F -> H) -> tanh -> Linear(H -> k * D), viewed as ``(B, k, D)``."""

    def __init__(self, config: MapperConfig, feature_dim: int, width: int) -> None:
        super().__init__()
        self.prefix_length, self.width = config.prefix_length, width
        hidden = config.hidden or max(1, config.prefix_length * width // 2)
        self.net = nn.Sequential(
            nn.Linear(feature_dim, hidden),
            nn.Tanh(),
            nn.Dropout(config.dropout),
            nn.Linear(hidden, config.prefix_length * width),
        )

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features).view(features.shape[0], self.prefix_length, self.width)  # (B, k, D)


class TransformerMapper(nn.Module):
    """ClipCap's transformer mapper: ``clip_length`` projected vectors + ``k`` learned constants through
    pre-norm transformer layers; the outputs at the constants are the prefix."""

    def __init__(self, config: MapperConfig, feature_dim: int, width: int) -> None:
        super().__init__()
        if width % config.heads:
            raise ValueError(f"mapper.heads={config.heads} must divide the decoder width {width}")
        self.clip_length, self.width = config.clip_length, width
        self.project = nn.Linear(feature_dim, config.clip_length * width)
        self.constants = nn.Parameter(torch.randn(config.prefix_length, width) * 0.02)  # (k, D)
        layer = nn.TransformerEncoderLayer(
            d_model=width,
            nhead=config.heads,
            dim_feedforward=int(width * config.mlp_ratio),
            dropout=config.dropout,
            activation="relu",
            batch_first=True,
            norm_first=True,
        )
        self.layers = nn.TransformerEncoder(layer, num_layers=config.layers, enable_nested_tensor=False)

    def forward(self, features: Tensor) -> Tensor:
        b = features.shape[0]
        projected = self.project(features).view(b, self.clip_length, self.width)  # (B, c, D)
        constants = self.constants.unsqueeze(0).expand(b, -1, -1)  # (B, k, D)
        out = self.layers(torch.cat([projected, constants], dim=1))  # (B, c + k, D)
        return out[:, self.clip_length :]  # (B, k, D)


def build_mapper(config: MapperConfig, feature_dim: int, width: int) -> nn.Module:
    """The mapping network of ``config`` from ``feature_dim``-sized embeddings to ``width``-sized vectors."""
    if feature_dim < 1 or width < 1:
        raise ValueError(f"feature_dim and width must be positive, got {feature_dim} and {width}")
    cls = MLPMapper if config.kind == "mlp" else TransformerMapper
    return cls(config, feature_dim, width)
