"""The object-guided model: the starter image tower with an optional Alpha-CLIP-style mask input.

:class:`ObjectGuidedModel` is a :class:`~memesearch.models.starter.model.StarterModel` (same tower, same
state-dict keys, so the committed starter weights load into it) plus, when ``alpha`` is on, one extra
convolution ``alpha`` that reads a one-channel map of the region (1 inside the object's mask or box, 0
outside) at the stem's resolution and adds its output to the stem convolution's output. The extra
convolution starts at zero, so at step 0 the model equals the plain tower whatever the alpha map is; the
fine-tuning (task ``object-guided``, :mod:`memesearch.train.tasks.object_guided`) teaches it where to look.

Inputs of a region (:func:`region_input`): its box cut out of the image with a ``context`` margin,
padded to a white square and resized to the tower's side; with ``masked`` the pixels outside the region's
mask are painted white (the masked-crop baseline of :mod:`memesearch.models.regions`). The alpha map is
the region's mask (or its box when it has none) cut out the same way.

Example::

    >>> from memesearch.models.starter.model import StarterConfig
    >>> model = ObjectGuidedModel(StarterConfig(widths=(8, 16), depths=(1, 1)), alpha=True)
    >>> model.alpha.weight.abs().sum().item()
    0.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from memesearch.errors import ConfigError
from memesearch.models.starter.model import StarterConfig, StarterModel

RegionBox = tuple[float, float, float, float] | Sequence[float]


class ObjectGuidedModel(StarterModel):
    """Starter tower + (optional) zero-initialised alpha convolution (module docstring)."""

    def __init__(self, config: StarterConfig, *, alpha: bool = False) -> None:
        super().__init__(config)
        self.alpha: nn.Conv2d | None = None
        if alpha:
            self.alpha = nn.Conv2d(1, config.widths[0], config.stem, stride=config.stem, bias=False)
            nn.init.zeros_(self.alpha.weight)

    def image_features(self, pixels: Tensor, alpha: Tensor | None = None) -> Tensor:
        """``(B, 3, S, S)`` pixels in [-1, 1] (and ``(B, 1, S, S)`` alpha in [0, 1]) -> ``(B, dim)``
        tower features (not normalised). Without ``alpha`` (or without the branch) the plain tower."""
        tower: Any = self.tower
        if alpha is None or self.alpha is None:
            return tower(pixels)
        body: nn.Sequential = tower.body
        # the alpha map enters centred (2a - 1), as the pixels are; its conv adds to the stem's output
        x = body[0](pixels) + self.alpha(alpha.to(pixels.dtype) * 2 - 1)
        x = body[1:](x).mean(dim=(2, 3))
        return tower.head(tower.norm(x))

    def embed(self, pixels: Tensor, alpha: Tensor | None = None) -> Tensor:
        """Unit embeddings ``(B, dim)`` (no emotion gate: regions and collages carry no emotion words)."""
        return torch.nn.functional.normalize(self.image_features(pixels, alpha).float(), dim=-1)


def region_input(
    image: Image.Image,
    box: RegionBox,
    mask: np.ndarray | None,
    *,
    side: int,
    context: float = 0.0,
    masked: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels (side, side, 3) uint8, alpha (side, side) float32 in [0, 1])`` of one region (module
    docstring). ``mask`` is a boolean array of the image's size or None (the box stands in)."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    w, h = rgb.size
    bx0, by0, bx1, by1 = (float(v) for v in box)
    if not (bx1 > bx0 and by1 > by0):
        raise ConfigError(f"region box {list(box)} is empty")
    if mask is not None and mask.shape != (h, w):
        raise ConfigError(f"region mask is {mask.shape[0]}x{mask.shape[1]} but the image is {h}x{w}")
    mx, my = context * (bx1 - bx0), context * (by1 - by0)
    x0, y0 = max(0, int(np.floor(bx0 - mx))), max(0, int(np.floor(by0 - my)))
    x1, y1 = min(w, int(np.ceil(bx1 + mx))), min(h, int(np.ceil(by1 + my)))
    if x1 <= x0 or y1 <= y0:
        raise ConfigError(f"region box {list(box)} is outside a {w}x{h} image")
    region = np.zeros((h, w), dtype=bool)
    if mask is not None:
        region[:] = mask
    else:
        region[
            max(0, int(np.floor(by0))) : int(np.ceil(by1)), max(0, int(np.floor(bx0))) : int(np.ceil(bx1))
        ] = True
    arr = np.asarray(rgb, dtype=np.uint8)[y0:y1, x0:x1].copy()
    alpha = region[y0:y1, x0:x1]
    if masked:
        arr[~alpha] = 255
    size = max(arr.shape[0], arr.shape[1])
    canvas = np.full((size, size, 3), 255, dtype=np.uint8)
    amap = np.zeros((size, size), dtype=np.uint8)
    oy, ox = (size - arr.shape[0]) // 2, (size - arr.shape[1]) // 2
    canvas[oy : oy + arr.shape[0], ox : ox + arr.shape[1]] = arr
    amap[oy : oy + arr.shape[0], ox : ox + arr.shape[1]] = alpha * 255
    pix = np.asarray(Image.fromarray(canvas, "RGB").resize((side, side), Image.Resampling.BILINEAR))
    am = np.asarray(Image.fromarray(amap, "L").resize((side, side), Image.Resampling.BILINEAR))
    return pix, (am.astype(np.float32) / 255.0)


def whole_input(image: Image.Image, *, side: int) -> np.ndarray:
    """The whole image as ``(side, side, 3)`` uint8 (padded to a white square first, as regions are)."""
    w, h = image.size
    return region_input(image, (0, 0, w, h), None, side=side)[0]


__all__ = ["ObjectGuidedModel", "region_input", "whole_input"]
