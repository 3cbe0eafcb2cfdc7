"""Region records: COCO RLE round trip (against a ten-line naive encoder), clamping, bounds, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from memesearch.errors import ConfigError, DataFormatError
from memesearch.objects import (
    Region,
    Rle,
    box_iou,
    check_region,
    clamp_box,
    decode_rle,
    encode_rle,
    limit_regions,
    mask_box,
)


def _naive_rle(mask: np.ndarray) -> list[int]:
    """COCO counts the slow way: walk the pixels column by column, count runs, zeros first."""
    counts, current, run = [], False, 0
    for x in range(mask.shape[1]):
        for y in range(mask.shape[0]):
            if bool(mask[y, x]) != current:
                counts.append(run)
                current, run = not current, 0
            run += 1
    counts.append(run)
    return counts


@pytest.mark.parametrize("shape", [(1, 1), (3, 4), (17, 5), (64, 48)])
@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])
def test_rle_round_trip_and_matches_naive(shape: tuple[int, int], density: float) -> None:
    rng = np.random.default_rng(hash((shape, density)) % 2**32)
    mask = rng.random(shape) < density
    rle = encode_rle(mask)
    assert rle.counts == _naive_rle(mask)
    assert rle.size == shape and rle.area == int(mask.sum())
    back = decode_rle(rle)
    assert back.dtype == bool and back.shape == shape and (back == mask).all()
    # and through JSON
    again = Rle.from_dict(rle.to_dict())
    assert (decode_rle(again) == mask).all()


def test_mask_starting_with_ones_has_leading_zero_run() -> None:
    mask = np.ones((2, 2), bool)
    assert encode_rle(mask).counts == [0, 4]


def test_region_dict_round_trip() -> None:
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    region = Region.from_mask(mask, score=0.75, label="cat")
    assert region.box == (3.0, 2.0, 9.0, 5.0) and region.area == 18
    back = Region.from_dict(region.to_dict())
    assert back == region
    assert (back.decoded_mask() == mask).all()  # type: ignore[operator]
    assert Region.from_dict({"box": [0, 0, 5, 5]}) == Region(box=(0.0, 0.0, 5.0, 5.0))


def test_bad_rle_and_region_input_are_clear_errors() -> None:
    with pytest.raises(DataFormatError, match="sum to 5"):
        Rle.from_dict({"size": [2, 3], "counts": [1, 4]})
    with pytest.raises(DataFormatError, match="compressed"):
        Rle.from_dict({"size": [2, 3], "counts": "abc"})
    with pytest.raises(DataFormatError, match="size"):
        Rle.from_dict({"size": [0, 3], "counts": []})
    with pytest.raises(DataFormatError, match="x1 > x0"):
        Region(box=(5.0, 0.0, 5.0, 3.0))
    with pytest.raises(DataFormatError, match="unknown object field"):
        Region.from_dict({"box": [0, 0, 1, 1], "colour": "red"})
    with pytest.raises(DataFormatError, match="score"):
        Region.from_dict({"box": [0, 0, 1, 1], "score": 2})
    with pytest.raises(DataFormatError, match="empty mask"):
        Region.from_mask(np.zeros((3, 3), bool))
    with pytest.raises(DataFormatError, match="2-D"):
        encode_rle(np.zeros((2, 2, 2), bool))


def test_clamp_box_and_check_region() -> None:
    assert clamp_box((-10, -5, 50, 500), 40, 30) == (0.0, 0.0, 40.0, 30.0)
    assert clamp_box((30, 20, 10, 5), 40, 30) == (10.0, 5.0, 30.0, 20.0)  # swapped corners
    assert clamp_box((50, 50, 60, 60), 40, 30) is None  # wholly outside
    with pytest.raises(DataFormatError, match="finite"):
        clamp_box((0, 0, float("nan"), 1), 4, 4)
    with pytest.raises(DataFormatError, match="4 numbers"):
        clamp_box((0, 0, 1), 4, 4)
    outside = Region(box=(-4.0, 2.0, 100.0, 8.0), label="x")
    fixed = check_region(outside, 20, 10)
    assert fixed is not None and fixed.box == (0.0, 2.0, 20.0, 8.0) and fixed.label == "x"
    assert check_region(Region(box=(30.0, 30.0, 40.0, 40.0)), 20, 10) is None
    wrong = Region.from_mask(np.ones((5, 5), bool))
    with pytest.raises(DataFormatError, match=r"5x5 \(HxW\), but the image is 10x20"):
        check_region(wrong, 20, 10)


def test_limit_regions_keeps_best_and_rejects_bad_bound() -> None:
    regions = [Region(box=(0.0, 0.0, float(i + 1), 1.0), score=s) for i, s in enumerate([0.2, 0.9, 0.9, 0.5])]
    kept = limit_regions(regions, 2)
    assert [r.score for r in kept] == [0.9, 0.9] and kept[0].area > kept[1].area
    with pytest.raises(ConfigError):
        limit_regions(regions, 0)


def test_box_iou_and_mask_box() -> None:
    assert box_iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert box_iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    assert mask_box(np.zeros((3, 3), bool)) is None
