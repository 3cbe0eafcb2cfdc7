"""The regions enricher: the objects of each item's image, as :class:`~memesearch.objects.Region` records.

Run at ingest when an index names an objects mode (``memesearch index ... --objects auto``):

* ``boxes`` — the boxes (and masks) the input gives with the item (native manifest ``objects``; a dataset
  folder's items): boxes outside the image are clamped (dropped when nothing is left), a mask of another
  size than the image is dropped (the box stays) with a warning;
* ``auto`` / ``sam2:<dir or hub id>`` — a segmenter (:func:`~memesearch.objects.create_segmenter`) on the
  item's cover frame, everything it finds, best first.

At most ``max_regions`` regions per item are kept (a segmenter's: highest score first; given boxes: the
first ones, in the input's order). Boxes and masks are in pixels of
the item's original image (a segmenter sees the cover frame, which ingest may have shrunk: its boxes are
scaled back and its masks resized to the original size). The result depends on the pixels (and, for
``boxes``, on the given objects): it is cached per content hash (+ a hash of the given objects) and
enricher version (segmenter name and version, the bound), so re-indexing never segments twice.

Example::

    enricher = RegionEnricher("auto", max_regions=8)
    enricher.enrich([EnrichInput(sha256=..., media="image", frames=[img], size=img.size)], ctx)
    # [{"regions": [{"box": [12.0, 40.0, 80.0, 100.0], "score": 0.93, "mask_rle": {...}}, ...]}]
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from memesearch.enrich.enrichers import EnrichContext, EnrichInput, text_key
from memesearch.errors import DataFormatError
from memesearch.objects.regions import Region, check_region, encode_rle, limit_regions
from memesearch.objects.segmenter import check_objects

logger = logging.getLogger(__name__)

#: bumped when what the enricher does around the segmenter changes (scaling, clamping)
ENRICHER_VERSION = "1"


class RegionEnricher:
    """Regions of each item (module docstring). The segmenter loads on first use."""

    name = "regions"
    fields: tuple[str, ...] = ("regions",)

    def __init__(
        self, mode: str, *, max_regions: int = 16, device: str | None = None, segmenter: Any = None
    ) -> None:
        self.mode = check_objects(mode)
        if self.mode == "none":
            raise DataFormatError("the regions enricher needs an objects mode other than none")
        self.max_regions = int(max_regions)
        self.device = device
        self._segmenter = segmenter

    @property
    def segmenter(self) -> Any:
        if self._segmenter is None:
            from memesearch.objects import SegmenterConfig, create_segmenter

            self._segmenter = create_segmenter(
                self.mode, SegmenterConfig(max_regions=self.max_regions), device=self.device
            )
        return self._segmenter

    @property
    def version(self) -> str:
        if self.mode == "boxes":
            return f"boxes:{ENRICHER_VERSION}:{self.max_regions}"
        seg = self.segmenter
        return f"{seg.name}:{seg.version}:{ENRICHER_VERSION}:{self.max_regions}"

    def wants(self, item: EnrichInput) -> bool:
        if self.mode == "boxes":
            return bool(item.objects)
        return bool(item.frames)

    def cache_key(self, item: EnrichInput) -> str:
        if self.mode == "boxes":
            given = json.dumps([r.to_dict() for r in item.objects], sort_keys=True)
            return f"{item.sha256}:{text_key([given])}"
        return item.sha256

    def enrich(self, items: Sequence[EnrichInput], ctx: EnrichContext) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for item in items:
            if self.mode == "boxes":  # the input's own order, the first max_regions
                kept = self._given(item)[: self.max_regions]
            else:
                found = self._segment(item)
                kept = limit_regions(found, self.max_regions) if found else []
            out.append({"regions": [r.to_dict() for r in kept]})
        return out

    def _given(self, item: EnrichInput) -> list[Region]:
        width, height = item.size
        kept: list[Region] = []
        for region in item.objects:
            try:
                checked = check_region(region, width, height)
            except DataFormatError as exc:
                logger.warning("item %s: %s; the mask is dropped, the box kept", item.sha256[:16], exc)
                checked = check_region(
                    Region(box=region.box, label=region.label, score=region.score), width, height
                )
            if checked is not None:
                kept.append(checked)
        return kept

    def _segment(self, item: EnrichInput) -> list[Region]:
        cover = item.frames[0]
        found: list[Region] = list(self.segmenter.segment(cover))
        fw, fh = cover.size
        width, height = item.size if item.size[0] > 0 else cover.size
        if (fw, fh) == (width, height):
            return found
        return [scale_region(r, (fw, fh), (width, height)) for r in found]


def scale_region(region: Region, frm: tuple[int, int], to: tuple[int, int]) -> Region:
    """``region`` found in an image of size ``frm`` (w, h), moved to the same image at size ``to``: box
    scaled, mask resized (nearest neighbour)."""
    from PIL import Image

    sx, sy = to[0] / frm[0], to[1] / frm[1]
    x0, y0, x1, y1 = region.box
    box = (min(x0 * sx, to[0]), min(y0 * sy, to[1]), min(x1 * sx, to[0]), min(y1 * sy, to[1]))
    mask = None
    decoded = region.decoded_mask()
    if decoded is not None:
        img = Image.fromarray(decoded.astype(np.uint8) * 255).resize(to, Image.Resampling.NEAREST)
        mask = encode_rle(np.asarray(img) > 127)
    return Region(box=box, label=region.label, score=region.score, mask=mask)


def region_in_frame(
    region: Region, image_size: tuple[int, int], frame_size: tuple[int, int]
) -> tuple[tuple[float, float, float, float], np.ndarray | None]:
    """The box and boolean mask of ``region`` (in pixels of the original image, ``image_size`` (w, h)) in a
    frame of ``frame_size`` (what the encoder sees at ingest)."""
    if tuple(image_size) == tuple(frame_size) or image_size[0] <= 0:
        return region.box, region.decoded_mask()
    moved = scale_region(region, image_size, frame_size)
    return moved.box, moved.decoded_mask()


__all__ = ["ENRICHER_VERSION", "RegionEnricher", "region_in_frame", "scale_region"]
