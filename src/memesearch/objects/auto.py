"""``auto``: an offline, class-agnostic segmenter without weights — connected components of non-background.

Made for stickers, sticker sheets and collages: objects drawn on a transparent, plain or simply
patterned background. Steps (all vectorised; cost is linear in the pixels whatever the content):

1. Foreground: where the image has real transparency (some alpha below 255 on its border), the pixels
   with alpha >= 128; otherwise the pixels whose colour differs from every *background colour* by more
   than ``tolerance`` (max over R, G, B). Background colours are the colours that cover at least 5%
   of the image border (quantised to 16 levels per channel), so a plain background and a two- or
   three-colour pattern (stripes, checks) work. When those colours explain less than 90% of the
   border (a gradient, a drawn scene with sky and ground), a pixel must also differ from the median
   colour of its row and of its column, which follow such backgrounds as long as objects cover less
   than half of each row or column. Photographs need ``sam2``.
2. Components: the foreground dilated by ``gap`` pixels is labelled with 8-connectivity, so that parts
   of one drawing a few pixels apart (the stars of ✨) stay one object; each region's mask is the
   undilated foreground of its component with its holes filled (the white eyes of a face belong to it).
3. Bounds: components under ``min_area_fraction`` of the image are dropped, and so are textures (8 or
   more small components of one size and colour, e.g. polka dots), and at most ``max_regions``
   are kept, largest first; masks are only built for the kept ones, so an image with 10,000 specks
   costs one labelling pass and a ``bincount``.

Prompts: a point returns the component under it (nothing when it falls on background); a box returns
the foreground inside the box as one region.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from memesearch.objects.regions import Box, Region, clamp_box
from memesearch.objects.segmenter import Point, SegmenterConfig

if TYPE_CHECKING:
    from PIL import Image

VERSION = "3"
#: Share of the border a quantised colour must cover to count as background.
BORDER_SHARE = 0.05
#: When the background colours cover less than this share of the border, the row/column model is used.
SCENE_BELOW = 0.9
#: This many small components of one size and colour are a background texture, not objects.
TEXTURE_REPEATS = 8


def foreground_mask(rgba: np.ndarray, tolerance: int = 24) -> np.ndarray:
    """``(H, W)`` boolean foreground of an ``(H, W, 4)`` uint8 image (see the module docstring, step 1)."""
    alpha = rgba[..., 3]
    border = np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])
    if (border < 255).any():
        return alpha >= 128
    rgb = rgba[..., :3].astype(np.int16)
    edge = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])  # (n, 3)
    quant = edge // 16
    keys = quant[:, 0] * 256 + quant[:, 1] * 16 + quant[:, 2]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    foreground = np.ones(rgb.shape[:2], dtype=bool)
    common = np.flatnonzero(counts >= max(1, BORDER_SHARE * len(keys)))
    for k in common:
        colour = np.median(edge[inverse == k], axis=0)  # the real colour, not the bin's corner
        foreground &= np.abs(rgb - colour).max(axis=-1) > tolerance
    if counts[common].sum() < SCENE_BELOW * len(keys):
        # A border of many colours: a gradient or a drawn scene. Row and column medians follow it,
        # wherever objects cover less than half of the row or column (so not for plain sheets, where
        # a big sticker may cover most of its columns).
        foreground &= np.abs(rgb - np.median(rgb, axis=1)[:, None, :]).max(axis=-1) > tolerance
        foreground &= np.abs(rgb - np.median(rgb, axis=0)[None, :, :]).max(axis=-1) > tolerance
    return foreground


def _texture_components(
    labels: np.ndarray, n: int, areas: np.ndarray, rgba: np.ndarray, pixels: int
) -> np.ndarray:
    """``(n,)`` booleans: components that are part of a background texture — at least ``TEXTURE_REPEATS``
    small (< 1% of the image) components of the same size (+/- 12%) and colour (16 levels per channel),
    such as the dots of a polka-dot background that never touch the border."""
    flat = labels.ravel()
    counts = np.maximum(areas, 1).astype(np.float64)
    colour = np.stack(
        [np.bincount(flat, weights=rgba[..., c].ravel(), minlength=n + 1)[1:] / counts for c in range(3)],
        axis=1,
    )  # (n, 3) mean colour per component
    size_bin = np.floor(np.log(counts) / np.log(1.25)).astype(np.int64)  # same bin: within a factor 1.25
    key = size_bin * 4096 + (colour // 16).astype(np.int64) @ np.array([256, 16, 1])
    _, inverse, repeats = np.unique(key, return_inverse=True, return_counts=True)
    return (repeats[inverse] >= TEXTURE_REPEATS) & (areas < 0.01 * pixels)


class AutoSegmenter:
    """Connected components of non-background (module docstring); ``name = "auto"``."""

    name = "auto"
    version = VERSION

    def __init__(self, config: SegmenterConfig | None = None, *, tolerance: int = 24, gap: int = 2) -> None:
        self.config = config or SegmenterConfig()
        self.tolerance = tolerance
        self.gap = gap
        self.version = f"{VERSION}:tol{tolerance}:gap{gap}:min{self.config.min_area_fraction}"

    def _components(self, fg: np.ndarray) -> tuple[np.ndarray, int]:
        from scipy import ndimage

        grown = ndimage.binary_dilation(fg, iterations=self.gap) if self.gap > 0 else fg
        labels, n = ndimage.label(grown, structure=np.ones((3, 3), dtype=bool))
        labels[~fg] = 0  # a component's pixels are its foreground, not the dilation
        return labels, int(n)

    def _region(self, labels: np.ndarray, index: int, sl: tuple[slice, slice], score: float) -> Region:
        from scipy import ndimage

        mask = np.zeros(labels.shape, dtype=bool)
        mask[sl] = ndimage.binary_fill_holes(labels[sl] == index)
        return Region.from_mask(mask, score=score)

    def segment(
        self,
        image: Image.Image,
        points: Sequence[Point] | None = None,
        boxes: Sequence[Box] | None = None,
    ) -> list[Region]:
        """Regions of ``image`` (module docstring), at most ``config.max_regions`` without prompts."""
        from scipy import ndimage

        rgba = np.asarray(image.convert("RGBA"))
        h, w = rgba.shape[:2]
        fg = foreground_mask(rgba, self.tolerance)
        out: list[Region] = []
        labels, n = self._components(fg)
        if points:
            slices = ndimage.find_objects(labels)
            for x, y in points:
                xi, yi = int(x), int(y)
                if not (0 <= xi < w and 0 <= yi < h) or labels[yi, xi] == 0:
                    continue
                k = int(labels[yi, xi])
                sl = slices[k - 1]
                assert sl is not None
                out.append(self._region(labels, k, (sl[0], sl[1]), score=1.0))
        if boxes:
            for box in boxes:
                clamped = clamp_box(box, w, h)
                if clamped is None:
                    continue
                x0, y0, x1, y1 = (round(v) for v in clamped)
                mask = np.zeros_like(fg)
                mask[y0:y1, x0:x1] = fg[y0:y1, x0:x1]
                if mask.any():
                    out.append(Region.from_mask(mask, score=1.0))
        if points or boxes or n == 0:
            return out
        areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]  # (n,) pixels per component
        min_area = max(1.0, self.config.min_area_fraction * h * w)
        texture = _texture_components(labels, n, areas, rgba, h * w)
        keep = [int(i) for i in np.argsort(-areas, kind="stable") if areas[i] >= min_area and not texture[i]]
        keep = keep[: self.config.max_regions]
        slices = ndimage.find_objects(labels)
        for i in keep:
            sl = slices[i]
            assert sl is not None
            # Score: how much of its box the object fills (1 for a rectangle), a cheap quality cue.
            region = self._region(labels, i + 1, (sl[0], sl[1]), score=1.0)
            bw, bh = region.box[2] - region.box[0], region.box[3] - region.box[1]
            out.append(
                Region(box=region.box, score=round(min(1.0, region.area / (bw * bh)), 4), mask=region.mask)
            )
        return out
