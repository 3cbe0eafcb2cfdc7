"""Region embeddings: one vector per object of an image, in the space of the encoder's image vectors.

Three ways to embed a region (``box`` in pixels of ``image``, optional boolean ``mask`` of the image's size),
named by :data:`REGION_METHODS`:

* ``crop`` — the box cut out (padded to a square with white), through the image tower: a baseline that
  keeps the background inside the box;
* ``masked-crop`` — the same, with the pixels outside the mask painted white (what the tower saw in
  training: an emoji or sticker on white). Without a mask it is ``crop``;
* ``mask-pool`` — MaskCLIP-style: the image goes once through the tower's convolutional body (the
  starter: a ``(C, h, w)`` feature map, stride 16), each region's mask is area-downsampled to ``h x w``
  and the feature map averaged under it, and the pooled feature goes through the tower's own norm and
  head. One forward pass per image, whatever the number of regions; the context around the object is
  seen by the convolutions. Encoders without a dense image body (``dense_image_features``) cannot do it
  (:class:`~memesearch.errors.ConfigError` saying which can).

The image is run at ``dense_side`` pixels (square, a multiple of the tower's stride) for ``mask-pool``:
a 256-px collage whose emoji are 41-87 px wide then puts each emoji on 3-6 cells of the 16 x 16 map.

Example::

    >>> enc = create_encoder("starter")                                         # doctest: +SKIP
    >>> vecs = region_embeddings(enc, image, [(10, 10, 80, 80)], [mask], method="mask-pool")
    >>> vecs.shape
    (1, 384)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

#: region embedding methods, in the order reports list them
REGION_METHODS: tuple[str, ...] = ("crop", "masked-crop", "mask-pool")
DEFAULT_REGION_METHOD = "mask-pool"
#: side of the square input of the dense pass when the caller does not give one (the collages' size)
DEFAULT_DENSE_SIDE = 256

RegionBox = tuple[float, float, float, float]


def check_region_method(method: str) -> str:
    """``method`` when it is one of :data:`REGION_METHODS`, else a :class:`ConfigError` listing them."""
    if method not in REGION_METHODS:
        raise ConfigError(f"unknown region embedding {method!r}; valid: {', '.join(REGION_METHODS)}")
    return method


def supports_mask_pool(encoder: Any) -> bool:
    """Whether ``encoder`` exposes a dense image body (``dense_image_features`` + ``pool_to_embedding``)."""
    return hasattr(encoder, "dense_image_features") and hasattr(encoder, "pool_to_embedding")


def region_crop(
    image: Image.Image, box: RegionBox, mask: np.ndarray | None = None, *, fill: int = 255
) -> Image.Image:
    """The box of ``image`` as a square RGB image (padded with white); pixels outside ``mask`` (the image's
    size) painted white when a mask is given."""
    from PIL import Image as PILImage

    rgb = image if image.mode == "RGB" else image.convert("RGB")
    w, h = rgb.size
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x1 <= x0 or y1 <= y0:
        raise ConfigError(f"region box {list(box)} is empty inside a {w}x{h} image")
    arr = np.asarray(rgb, dtype=np.uint8)[y0:y1, x0:x1].copy()
    if mask is not None:
        if mask.shape != (h, w):
            raise ConfigError(f"region mask is {mask.shape[0]}x{mask.shape[1]} but the image is {h}x{w}")
        arr[~mask[y0:y1, x0:x1]] = fill
    side = max(arr.shape[0], arr.shape[1])
    canvas = np.full((side, side, 3), fill, dtype=np.uint8)
    oy, ox = (side - arr.shape[0]) // 2, (side - arr.shape[1]) // 2
    canvas[oy : oy + arr.shape[0], ox : ox + arr.shape[1]] = arr
    return PILImage.fromarray(canvas, "RGB")


def box_mask(box: RegionBox, height: int, width: int) -> np.ndarray:
    """A boolean ``(height, width)`` mask of the pixels inside ``box``."""
    m = np.zeros((height, width), dtype=bool)
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    m[y0:y1, x0:x1] = True
    return m


def area_downsample(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """The share of each of ``h x w`` equal cells covered by ``mask`` ``(H, W)`` -> ``(h, w)`` in [0, 1].

    Cell ``(i, j)`` covers rows ``[i*H/h, (i+1)*H/h)`` and columns ``[j*W/w, (j+1)*W/w)``, fractional
    edges weighted by the part of the pixel inside (exact area averaging, as ``F.adaptive_avg_pool2d``
    for sizes that divide, and correct for those that do not).
    """
    m = np.asarray(mask, dtype=np.float64)
    H, W = m.shape
    rows = _cover(H, h)  # (h, H): share of pixel row r inside cell row i, divided by the cell's height
    cols = _cover(W, w)
    out: np.ndarray = rows @ m @ cols.T
    return out


def _cover(n: int, k: int) -> np.ndarray:
    """``(k, n)``: the fraction of pixel ``p`` (``[p, p+1)``) inside cell ``i`` (``[i*n/k, (i+1)*n/k)``),
    divided by the cell's length ``n/k`` (rows sum to 1)."""
    edges = np.arange(k + 1) * (n / k)
    p = np.arange(n)
    lo = np.maximum(edges[:-1, None], p[None, :])
    hi = np.minimum(edges[1:, None], p[None, :] + 1)
    return np.clip(hi - lo, 0.0, None) / (n / k)


def mask_pool(features: np.ndarray, weights: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Average a ``(C, h, w)`` feature map under each of ``weights`` ``(R, h, w)`` -> ``(R, C)``.

    ``r = Σ_p M_p · F_p / (Σ_p M_p + eps)``; a region whose weights are all zero gets the plain average
    of the map (it cannot be located, the whole image stands in for it)."""
    C = features.shape[0]
    flat = features.reshape(C, -1).astype(np.float64)  # (C, P)
    wts = weights.reshape(weights.shape[0], -1).astype(np.float64)  # (R, P)
    total = wts.sum(axis=1, keepdims=True)
    empty = total[:, 0] <= 0
    if empty.any():
        wts[empty] = 1.0
        total[empty] = wts.shape[1]
    pooled: np.ndarray = (wts @ flat.T) / (total + eps)
    return pooled


def region_embeddings(
    encoder: Any,
    image: Image.Image,
    boxes: Sequence[RegionBox],
    masks: Sequence[np.ndarray | None] | None = None,
    *,
    method: str = DEFAULT_REGION_METHOD,
    dense_side: int | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Unit region embeddings ``(R, dim)`` of the regions ``boxes`` (and ``masks``: boolean arrays of the
    image's size, or None = the box) of one image, by ``method`` (module docstring)."""
    check_region_method(method)
    n = len(boxes)
    if n == 0:
        return np.zeros((0, int(encoder.dim)), dtype=np.float32)
    given = list(masks) if masks is not None else [None] * n
    if len(given) != n:
        raise ConfigError(f"got {n} boxes but {len(given)} masks; give one mask (or None) per box")
    if method == "mask-pool":
        return _mask_pooled(encoder, image, boxes, given, dense_side)
    if getattr(encoder, "region_alpha", False):  # a tower trained with a mask input (task object-guided)
        vecs = encoder.encode_regions(
            image, boxes, given, masked=method == "masked-crop", batch_size=batch_size
        )
        return _unit(np.asarray(vecs, dtype=np.float32))
    crops = [
        region_crop(image, b, m if method == "masked-crop" else None)
        for b, m in zip(boxes, given, strict=True)
    ]
    vecs = np.asarray(encoder.encode_image(crops, batch_size=batch_size), dtype=np.float32)
    return _unit(vecs)


def _mask_pooled(
    encoder: Any,
    image: Image.Image,
    boxes: Sequence[RegionBox],
    masks: Sequence[np.ndarray | None],
    dense_side: int | None,
) -> np.ndarray:
    if not supports_mask_pool(encoder):
        raise ConfigError(
            f"encoder {getattr(encoder, 'name', encoder)!r} has no dense image features for mask pooling "
            "(the starter has); use --region-embedding masked-crop or crop"
        )
    w, h = image.size
    side = int(dense_side or DEFAULT_DENSE_SIDE)
    fmap = np.asarray(encoder.dense_image_features([image], side=side)[0])  # (C, fh, fw)
    _, fh, fw = fmap.shape
    weights = np.stack(
        [
            area_downsample(m if m is not None else box_mask(b, h, w), fh, fw)
            for b, m in zip(boxes, masks, strict=True)
        ]
    )  # (R, fh, fw)
    pooled = mask_pool(fmap, weights)
    return _unit(np.asarray(encoder.pool_to_embedding(pooled), dtype=np.float32))


def _unit(vecs: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vecs, axis=1, keepdims=True)
    out: np.ndarray = (vecs / np.maximum(norm, 1e-12)).astype(np.float32)
    return out


def best_region_scores(
    region_scores: np.ndarray, region_items: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each item's best region: ``region_scores`` ``(Q, R)`` of regions owned by item columns
    ``region_items`` ``(R,)`` -> ``(best score (Q, n_items), best region column (Q, n_items))``; items with
    no region (or only NaN scores) get NaN and -1; ties go to the first region column."""
    s = np.where(np.isnan(region_scores), -np.inf, np.asarray(region_scores, dtype=np.float64))
    q, r = s.shape
    best = np.full((q, n_items), np.nan)
    arg = np.full((q, n_items), -1, dtype=np.int64)
    if r == 0:
        return best, arg
    items = np.asarray(region_items, dtype=np.int64)
    order = np.argsort(items, kind="stable")  # regions grouped by item, in column order inside a group
    owners, starts = np.unique(items[order], return_index=True)
    grouped = s[:, order]  # (Q, R)
    top = np.maximum.reduceat(grouped, starts, axis=1)  # (Q, G)
    at_top = grouped >= np.repeat(top, np.diff(np.append(starts, r)), axis=1)
    position = np.where(at_top, np.arange(r)[None, :], r)
    first = np.minimum.reduceat(position, starts, axis=1)  # (Q, G): first column reaching the top
    found = np.isfinite(top)
    best[:, owners] = np.where(found, top, np.nan)
    arg[:, owners] = np.where(found, order[np.minimum(first, r - 1)], -1)
    return best, arg


def object_scores(global_scores: np.ndarray, best_region: np.ndarray, global_weight: float) -> np.ndarray:
    """The objects branch's score of each item: ``w * global + (1 - w) * best region`` (an item without
    regions: its global score — the whole image is its only object). The one definition search and
    ``memesearch evaluate --objects`` use."""
    g = np.asarray(global_scores, dtype=np.float64)
    b = np.asarray(best_region, dtype=np.float64)
    out: np.ndarray = np.where(np.isnan(b), g, global_weight * g + (1.0 - global_weight) * b)
    return out


__all__ = [
    "DEFAULT_DENSE_SIDE",
    "DEFAULT_REGION_METHOD",
    "REGION_METHODS",
    "area_downsample",
    "best_region_scores",
    "box_mask",
    "check_region_method",
    "mask_pool",
    "object_scores",
    "region_crop",
    "region_embeddings",
    "supports_mask_pool",
]
