"""The segmenter contract and the registry from names to segmenters.

A segmenter turns an image into :class:`~memesearch.objects.regions.Region` s. Without prompts it
segments everything it can (bounded by :attr:`SegmenterConfig.max_regions`); with ``points`` (each
``(x, y)`` in pixels) it returns one region per point, with ``boxes`` (each ``(x0, y0, x1, y1)``) one
region per box, in prompt order (a prompt that finds nothing gives no region). ``name`` and ``version``
identify what made the regions, so that a cache keyed by content hash and segmenter version never
serves regions of another model.

Names (:func:`create_segmenter`):

* ``auto`` — :class:`~memesearch.objects.auto.AutoSegmenter`: connected components of non-background,
  no weights (stickers, sticker sheets, collages);
* ``sam2:<dir or hub id>`` — :class:`~memesearch.objects.sam2.Sam2Segmenter`: transformers ``Sam2Model``.

Example::

    >>> seg = create_segmenter("auto", SegmenterConfig(max_regions=8))
    >>> seg.name
    'auto'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from memesearch.errors import ConfigError
from memesearch.objects.regions import DEFAULT_MAX_REGIONS, Box, Region

if TYPE_CHECKING:
    from PIL import Image

Point = tuple[float, float]

#: Segmenter names: the spec is ``name`` or ``name:<argument>``.
SEGMENTERS: dict[str, str] = {
    "auto": "connected components of non-background (no weights)",
    "sam2": "transformers Sam2Model from a local folder or hub id: sam2:<dir or hub id>",
}


@dataclass(frozen=True, slots=True)
class SegmenterConfig:
    """Bounds and thresholds shared by the segmenters.

    ``max_regions``: regions kept per image (best first). ``min_area_fraction``: a region smaller than
    this share of the image is dropped (specks, noise). The ``sam2`` automatic mode reads the remaining
    fields (SAM's automatic generator defaults, except a 16 x 16 grid instead of 32 x 32 and a stability
    threshold of 0.9 instead of 0.95, for CPUs): a ``points_per_side`` x ``points_per_side`` grid of
    point prompts, ``points_per_batch`` prompts per decoder call, candidates kept when the predicted IoU
    is at least ``pred_iou_thresh`` and the stability score (IoU of the mask thresholded at +/-
    ``stability_offset``) at least ``stability_score_thresh``, then box non-maximum suppression at
    ``box_nms_thresh``.
    """

    max_regions: int = DEFAULT_MAX_REGIONS
    min_area_fraction: float = 0.001
    points_per_side: int = 16
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.8
    stability_score_thresh: float = 0.9
    stability_offset: float = 1.0
    box_nms_thresh: float = 0.7

    def __post_init__(self) -> None:
        if self.max_regions < 1:
            raise ConfigError(f"max_regions must be >= 1, got {self.max_regions}")
        if not 0.0 <= self.min_area_fraction < 1.0:
            raise ConfigError(f"min_area_fraction must be in [0, 1), got {self.min_area_fraction}")
        if self.points_per_side < 1 or self.points_per_batch < 1:
            raise ConfigError(
                f"points_per_side and points_per_batch must be >= 1, got {self.points_per_side}, "
                f"{self.points_per_batch}"
            )
        if self.stability_offset < 0:
            raise ConfigError(f"stability_offset must be >= 0, got {self.stability_offset}")
        for name in ("pred_iou_thresh", "stability_score_thresh", "box_nms_thresh"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value}")


@runtime_checkable
class Segmenter(Protocol):
    """Anything with ``name``, ``version`` and ``segment(image, points=None, boxes=None)``."""

    name: str
    version: str

    def segment(
        self,
        image: Image.Image,
        points: Sequence[Point] | None = None,
        boxes: Sequence[Box] | None = None,
    ) -> list[Region]: ...


#: what an index's ``objects`` setting (``memesearch index --objects``) accepts
OBJECT_MODES: tuple[str, ...] = ("none", "boxes", "auto", "sam2:<dir or hub id>")


def check_objects(spec: str) -> str:
    """The normalised objects mode (:data:`OBJECT_MODES`): ``none``, ``boxes`` (given with the items),
    ``auto`` or ``sam2:<dir or hub id>``; anything else is a :class:`ConfigError` naming the valid ones."""
    text = str(spec).strip()
    name, sep, arg = text.partition(":")
    if name in ("none", "boxes", "auto") and not sep:
        return name
    if name == "sam2" and arg.strip():
        return f"sam2:{arg.strip()}"
    raise ConfigError(f"unknown objects mode {spec!r}; valid: {', '.join(OBJECT_MODES)}")
