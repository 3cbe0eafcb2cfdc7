"""Region records: a box in pixels, an optional label and score, an optional mask stored as RLE.

A :class:`Region` is one object of an image: ``box = (x0, y0, x1, y1)`` in pixels of the image it was
found in (``x1 > x0``, ``y1 > y0``, inside ``[0, width] x [0, height]``), a ``score`` in [0, 1] (the
segmenter's confidence; 1.0 for given boxes), an optional ``label`` and an optional ``mask``: a boolean
``H x W`` array stored as COCO-style *uncompressed* RLE (:class:`Rle`): ``{"size": [H, W], "counts":
[n0, n1, n2, ...]}`` — alternating run lengths of 0s and 1s over the mask read in column-major
(Fortran) order, starting with a run of 0s (possibly of length 0). This is what ``pycocotools`` calls
an uncompressed RLE, so masks written here can be read by COCO tools.

Example::

    >>> import numpy as np
    >>> m = np.zeros((3, 4), bool); m[1:, 2:] = True
    >>> rle = encode_rle(m)
    >>> rle.counts
    [7, 2, 1, 2]
    >>> bool((decode_rle(rle) == m).all())
    True
    >>> Region.from_mask(m, score=0.9).box
    (2.0, 1.0, 4.0, 3.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memesearch.errors import ConfigError, DataFormatError

Box = tuple[float, float, float, float]

#: Regions kept per image when no other bound is given (largest score first).
DEFAULT_MAX_REGIONS = 32


@dataclass(frozen=True, slots=True)
class Rle:
    """A mask as COCO uncompressed RLE: ``size = (H, W)``, run lengths in column-major order, 0s first."""

    size: tuple[int, int]
    counts: list[int] = field(default_factory=list)

    @property
    def area(self) -> int:
        """Number of pixels set (the sum of the odd-indexed runs)."""
        return int(sum(self.counts[1::2]))

    def to_dict(self) -> dict[str, Any]:
        return {"size": [int(self.size[0]), int(self.size[1])], "counts": [int(c) for c in self.counts]}

    @classmethod
    def from_dict(cls, data: Any) -> Rle:
        """Read ``{"size": [H, W], "counts": [...]}``; a bad shape or counts is a :class:`DataFormatError`."""
        if not isinstance(data, dict) or "size" not in data or "counts" not in data:
            raise DataFormatError(
                f"a mask RLE must be an object with size and counts, got {data!r:.80}",
                hint='e.g. {"size": [H, W], "counts": [zeros, ones, zeros, ...]}',
            )
        size, counts = data["size"], data["counts"]
        if isinstance(counts, str):
            raise DataFormatError(
                "compressed (string) RLE counts are not supported; write uncompressed counts (a list of ints)"
            )
        if (
            not isinstance(size, list | tuple)
            or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            raise DataFormatError(f"RLE size must be [H, W] with positive integers, got {size!r}")
        if not isinstance(counts, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts
        ):
            raise DataFormatError("RLE counts must be a list of non-negative integers")
        rle = cls(size=(int(size[0]), int(size[1])), counts=[int(c) for c in counts])
        total = sum(rle.counts)
        if total != rle.size[0] * rle.size[1]:
            raise DataFormatError(
                f"RLE counts sum to {total}, but size {rle.size[0]}x{rle.size[1]} has "
                f"{rle.size[0] * rle.size[1]} pixels"
            )
        return rle


def encode_rle(mask: np.ndarray) -> Rle:
    """The uncompressed COCO RLE of a 2-D boolean (or 0/1) ``mask``."""
    if mask.ndim != 2:
        raise DataFormatError(f"a mask must be a 2-D array (H, W), got shape {tuple(mask.shape)}")
    h, w = (int(v) for v in mask.shape)
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return Rle(size=(h, w), counts=[0])
    # Positions where the value changes, with both ends: runs are the gaps between them.
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(edges).tolist()
    if flat[0]:
        runs = [0, *runs]  # COCO counts start with a run of zeros
    return Rle(size=(h, w), counts=[int(r) for r in runs])


def decode_rle(rle: Rle) -> np.ndarray:
    """The ``(H, W)`` boolean mask of ``rle``."""
    h, w = rle.size
    if sum(rle.counts) != h * w:
        raise DataFormatError(f"RLE counts sum to {sum(rle.counts)}, but size {h}x{w} has {h * w} pixels")
    values = np.zeros(len(rle.counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, rle.counts)
    return flat.reshape((w, h)).T.copy()  # column-major back to (H, W)


def mask_box(mask: np.ndarray) -> Box | None:
    """The tight box ``(x0, y0, x1, y1)`` of the set pixels (x1, y1 exclusive), or ``None`` if empty."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return None
    return (float(xs[0]), float(ys[0]), float(xs[-1] + 1), float(ys[-1] + 1))


def clamp_box(box: Sequence[float], width: int, height: int) -> Box | None:
    """``box`` clipped to the image ``[0, width] x [0, height]``; ``None`` when nothing of it is inside.

    Corners given in the wrong order (x1 < x0) are swapped first. A malformed box (not 4 finite numbers)
    is a :class:`DataFormatError`.
    """
    if len(box) != 4:
        raise DataFormatError(f"a box is 4 numbers x0,y0,x1,y1 in pixels, got {list(box)!r}")
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise DataFormatError(f"a box is 4 numbers x0,y0,x1,y1 in pixels, got {list(box)!r}") from None
    if not all(np.isfinite(v) for v in (x0, y0, x1, y1)):
        raise DataFormatError(f"box coordinates must be finite numbers, got {list(box)!r}")
    x0, x1 = min(x0, x1), max(x0, x1)
    y0, y1 = min(y0, y1), max(y0, y1)
    x0, x1 = max(0.0, x0), min(float(width), x1)
    y0, y1 = max(0.0, y0), min(float(height), y1)
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)


def parse_box(text: str) -> Box:
    """``"x0,y0,x1,y1"`` (pixels) -> a box; anything else is a one-line :class:`DataFormatError`."""
    try:
        x0, y0, x1, y1 = (float(v) for v in str(text).split(","))
    except ValueError:
        raise DataFormatError(
            f"a box is x0,y0,x1,y1 in pixels, e.g. 10,20,120,140; got {str(text)[:80]!r}"
        ) from None
    return (x0, y0, x1, y1)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes (0 when either is empty)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Region:
    """One object of an image: box in pixels, optional label, score in [0, 1], optional RLE mask."""

    box: Box
    label: str | None = None
    score: float = 1.0
    mask: Rle | None = None

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = self.box
        if not (x1 > x0 and y1 > y0):
            raise DataFormatError(f"a region box needs x1 > x0 and y1 > y0, got {list(self.box)}")

    @property
    def area(self) -> float:
        """Mask area in pixels when there is a mask, else the box area."""
        if self.mask is not None:
            return float(self.mask.area)
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])

    def decoded_mask(self) -> np.ndarray | None:
        """The ``(H, W)`` boolean mask, or ``None`` when the region has none."""
        return None if self.mask is None else decode_rle(self.mask)

    @classmethod
    def from_mask(cls, mask: np.ndarray, *, score: float = 1.0, label: str | None = None) -> Region:
        """A region whose box is the tight box of ``mask`` (which must not be empty)."""
        box = mask_box(mask)
        if box is None:
            raise DataFormatError("cannot make a region from an empty mask (no pixel set)")
        return cls(box=box, label=label, score=float(score), mask=encode_rle(mask))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"box", "label"?, "score", "mask_rle"?}`` (native manifest ``objects``)."""
        out: dict[str, Any] = {"box": [round(float(v), 3) for v in self.box]}
        if self.label is not None:
            out["label"] = self.label
        if self.score != 1.0:
            out["score"] = round(float(self.score), 6)
        if self.mask is not None:
            out["mask_rle"] = self.mask.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Region:
        """Read the JSON form; anything malformed is a one-line :class:`DataFormatError`."""
        if not isinstance(data, dict):
            raise DataFormatError(f"an object must be a JSON object with a box, got {data!r:.80}")
        unknown = sorted(set(data) - {"box", "label", "score", "mask_rle"})
        if unknown:
            raise DataFormatError(
                f"unknown object field(s) {', '.join(map(repr, unknown))}; "
                "allowed: box, label, score, mask_rle"
            )
        box = data.get("box")
        if not isinstance(box, list | tuple) or len(box) != 4:
            raise DataFormatError(f'an object needs "box": [x0, y0, x1, y1] in pixels, got {box!r}')
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in box):
            raise DataFormatError(f"box coordinates must be numbers, got {box!r}")
        label = data.get("label")
        if label is not None and not isinstance(label, str):
            raise DataFormatError(f'"label" must be a string, got {label!r}')
        score = data.get("score", 1.0)
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0.0 <= score <= 1.0:
            raise DataFormatError(f'"score" must be a number in [0, 1], got {score!r}')
        mask = Rle.from_dict(data["mask_rle"]) if data.get("mask_rle") is not None else None
        return cls(box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])), label=label,
                   score=float(score), mask=mask)  # fmt: skip


def check_region(region: Region, width: int, height: int) -> Region | None:
    """``region`` made valid for a ``width x height`` image: its box clamped to the image, its mask checked.

    Returns ``None`` when the box lies wholly outside the image. A mask of another size than the image is
    a :class:`DataFormatError` (a mask cannot be clamped without guessing where it belongs).
    """
    if region.mask is not None and tuple(region.mask.size) != (height, width):
        h, w = region.mask.size
        raise DataFormatError(
            f"mask of region {region.label or list(region.box)!r} is {h}x{w} (HxW), but the image is "
            f"{height}x{width}",
            hint="masks are stored at the image's own size",
        )
    box = clamp_box(region.box, width, height)
    if box is None:
        return None
    if box == region.box:
        return region
    return Region(box=box, label=region.label, score=region.score, mask=region.mask)


def limit_regions(regions: Iterable[Region], max_regions: int) -> list[Region]:
    """The ``max_regions`` best regions (highest score first; ties: larger area first, then box order)."""
    if max_regions < 1:
        raise ConfigError(f"max_regions must be >= 1, got {max_regions}")
    ranked = sorted(regions, key=lambda r: (-r.score, -r.area, r.box))
    return ranked[:max_regions]
