"""The frozen pretrained backbone as a torch module (the registry: :mod:`memesearch.models.backbones`).

Example::

    >>> backbone = PooledBackbone("nanodet-g")                  # doctest: +SKIP
    >>> backbone(torch.zeros(2, 3, 128, 128)).shape             # doctest: +SKIP
    torch.Size([2, 1536])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from memesearch.errors import ConfigError
from memesearch.models.backbones import backbone_dir, backbone_spec


class PooledBackbone(nn.Module):
    """Frozen backbone: ``(B, 3, S, S)`` RGB in [-1, 1] -> ``(B, spec.dim)`` pooled features.

    Every side works (the trunk is fully convolutional); each tapped map is averaged and max-pooled over
    space and the results are concatenated in tap order (mean, max, mean, max, ...).
    """

    mean: Tensor
    std: Tensor

    def __init__(self, name: str) -> None:
        super().__init__()
        from memesearch.models.tfjs_graph import load_tfjs_graph

        self.spec = backbone_spec(name)
        folder = backbone_dir(name)
        if not (folder / "model.json").is_file():
            raise ConfigError(
                f"backbone {name!r} is not installed: {folder}/model.json is missing "
                "(python scripts/extract_backbone.py writes it)"
            )
        self.graph = load_tfjs_graph(folder / "model.json", outputs=list(self.spec.taps)).eval()
        self.graph.requires_grad_(False)
        shape = (1, 3, 1, 1)
        self.register_buffer("mean", torch.tensor(self.spec.mean).view(shape), persistent=False)
        self.register_buffer("std", torch.tensor(self.spec.std).view(shape), persistent=False)

    def forward(self, pixels: Tensor) -> Tensor:
        x = (pixels.float() + 1.0) * 127.5  # [-1, 1] -> 0..255
        if self.spec.bgr:
            x = x[:, [2, 1, 0]]
        x = (x - self.mean) / self.std
        spatial = (2, 3)
        if self.spec.layout == "nhwc":
            x, spatial = x.permute(0, 2, 3, 1), (1, 2)
        maps = self.graph(x)
        parts: list[Tensor] = []
        for tap in self.spec.taps:
            m = maps[tap]
            parts += [m.mean(dim=spatial), m.amax(dim=spatial)]
        return torch.cat(parts, dim=1).to(pixels.dtype)

    def train(self, mode: bool = True) -> PooledBackbone:
        """Stays in eval mode: the backbone is frozen (its graph has no dropout or batch statistics)."""
        return super().train(False)
