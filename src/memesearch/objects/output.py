"""Writing regions for a look at what a segmenter does: one PNG mask per region, an overlay, one JSON.

Layout of ``write_regions(..., out_dir, stem="cat")``::

    out_dir/cat.regions.json     {"image", "width", "height", "segmenter": {"name", "version"},
                                  "prompts": {"points", "boxes"},
                                  "regions": [{"box", "label"?, "score"?, "mask_rle"?, "area", "mask_png"}]}
    out_dir/cat.mask-00.png      region 0: 8-bit grey, 255 inside the mask (the box when it has none)
    out_dir/cat.overlay.png      the image with every mask tinted and every box outlined

``mask_rle`` is COCO uncompressed RLE (:mod:`memesearch.objects.regions`); boxes are pixels ``x0, y0,
x1, y1`` of the image (x1, y1 exclusive).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.objects.regions import Box, Region

if TYPE_CHECKING:
    from PIL import Image

#: Tints of the overlay, cycled over the regions.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
)


def region_mask(region: Region, width: int, height: int) -> np.ndarray:
    """The region's ``(H, W)`` boolean mask, or its filled box when it has no mask."""
    mask = region.decoded_mask()
    if mask is not None:
        return mask
    out = np.zeros((height, width), dtype=bool)
    x0, y0, x1, y1 = (round(v) for v in region.box)
    out[y0:y1, x0:x1] = True
    return out


def overlay(image: Image.Image, regions: Sequence[Region]) -> Image.Image:
    """``image`` (RGB) with each region's mask tinted at 45% and its box outlined, in palette order."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    base = np.asarray(image.convert("RGB"), dtype=np.float32)
    h, w = base.shape[:2]
    for i, region in enumerate(regions):
        mask = region_mask(region, w, h)
        base[mask] = 0.55 * base[mask] + 0.45 * np.array(PALETTE[i % len(PALETTE)], np.float32)
    out = PILImage.fromarray(base.round().astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(out)
    for i, region in enumerate(regions):
        x0, y0, x1, y1 = region.box
        draw.rectangle((x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)), outline=PALETTE[i % len(PALETTE)], width=2)
    return out


def regions_document(
    regions: Sequence[Region],
    *,
    image: str,
    width: int,
    height: int,
    segmenter: dict[str, str],
    points: Sequence[tuple[float, float]] = (),
    boxes: Sequence[Box] = (),
) -> dict[str, Any]:
    """The JSON document of the module docstring (:func:`write_regions` adds the ``mask_png`` names)."""
    rows = [{**region.to_dict(), "area": round(region.area)} for region in regions]
    return {
        "image": image,
        "width": width,
        "height": height,
        "segmenter": segmenter,
        "prompts": {"points": [list(p) for p in points], "boxes": [list(b) for b in boxes]},
        "regions": rows,
    }


def write_regions(
    image: Image.Image,
    regions: Sequence[Region],
    out_dir: Path,
    *,
    stem: str,
    document: dict[str, Any],
) -> Path:
    """Write the masks, the overlay and ``document`` (with ``mask_png`` names added); return the JSON path."""
    from PIL import Image as PILImage

    out_dir.mkdir(parents=True, exist_ok=True)
    w, h = image.size
    names = []
    for i, region in enumerate(regions):
        name = f"{stem}.mask-{i:02d}.png"
        PILImage.fromarray(region_mask(region, w, h).astype(np.uint8) * 255, "L").save(out_dir / name)
        names.append(name)
    overlay(image, regions).save(out_dir / f"{stem}.overlay.png")
    for row, name in zip(document["regions"], names, strict=True):
        row["mask_png"] = name
    path = out_dir / f"{stem}.regions.json"
    path.write_text(json.dumps(document, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
