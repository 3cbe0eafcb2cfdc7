"""Objects in images: region records with compact masks, and the segmenters that find them (issue 14).

What lives where:

* :mod:`~memesearch.objects.regions` — :class:`Region` (box, label, score, RLE mask), COCO RLE
  encode/decode, box clamping, the per-image bound;
* :mod:`~memesearch.objects.segmenter` — the :class:`Segmenter` contract, :class:`SegmenterConfig` and
  :func:`create_segmenter` (``auto``, ``sam2:<dir or hub id>``);
* :mod:`~memesearch.objects.auto` — the weight-free connected-components segmenter;
* :mod:`~memesearch.objects.sam2` — SAM2 through transformers, preprocessing written by hand;
* :mod:`~memesearch.objects.output` — writing regions as PNG masks + JSON (``memesearch segment``).

Importing this package is light (numpy only); torch and transformers load with the ``sam2`` segmenter.
"""

from memesearch.objects.regions import (
    DEFAULT_MAX_REGIONS,
    Box,
    Region,
    Rle,
    box_iou,
    check_region,
    clamp_box,
    decode_rle,
    encode_rle,
    limit_regions,
    mask_box,
    parse_box,
)
from memesearch.objects.registry import create_segmenter
from memesearch.objects.segmenter import SEGMENTERS, Segmenter, SegmenterConfig

__all__ = [
    "DEFAULT_MAX_REGIONS",
    "SEGMENTERS",
    "Box",
    "Region",
    "Rle",
    "Segmenter",
    "SegmenterConfig",
    "box_iou",
    "check_region",
    "clamp_box",
    "create_segmenter",
    "decode_rle",
    "encode_rle",
    "limit_regions",
    "mask_box",
    "parse_box",
]
