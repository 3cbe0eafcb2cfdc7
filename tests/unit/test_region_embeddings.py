"""Region embeddings (issue 14): mask pooling against naive loops, and what each method feeds the tower."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image

from memesearch.errors import ConfigError
from memesearch.models import create_encoder
from memesearch.models.regions import (
    area_downsample,
    check_region_method,
    mask_pool,
    region_crop,
    region_embeddings,
)


def naive_area_downsample(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    H, W = mask.shape
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            total = 0.0
            for r in range(H):
                for c in range(W):
                    oy = max(0.0, min((i + 1) * H / h, r + 1) - max(i * H / h, r))
                    ox = max(0.0, min((j + 1) * W / w, c + 1) - max(j * W / w, c))
                    total += mask[r, c] * oy * ox
            out[i, j] = total / ((H / h) * (W / w))
    return out


@pytest.mark.parametrize(("shape", "cells"), [((8, 8), (4, 4)), ((10, 7), (3, 4)), ((5, 5), (5, 5))])
def test_area_downsample_equals_a_naive_loop(shape: tuple[int, int], cells: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    mask = rng.random(shape) > 0.5
    np.testing.assert_allclose(area_downsample(mask, *cells), naive_area_downsample(mask, *cells), atol=1e-12)


def test_mask_pool_equals_a_naive_loop() -> None:
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(6, 3, 4))
    weights = rng.random((2, 3, 4))
    weights[1] = 0.0  # a region that covers no cell: the plain average of the map
    got = mask_pool(feats, weights)
    for r in range(2):
        w = weights[r] if weights[r].sum() > 0 else np.ones((3, 4))
        want = [(feats[c] * w).sum() / (w.sum() + 1e-6) for c in range(6)]
        np.testing.assert_allclose(got[r], want, atol=1e-9)


def test_mask_pool_of_the_whole_image_is_the_global_embedding() -> None:
    enc = create_encoder("starter-v2")
    rng = np.random.default_rng(2)
    img = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), "RGB")
    whole = np.ones((64, 64), bool)
    got = region_embeddings(enc, img, [(0, 0, 64, 64)], [whole], method="mask-pool", dense_side=64)
    np.testing.assert_allclose(got, enc.encode_image([img]), atol=1e-5)


def test_mask_pool_with_a_backbone_starter_reads_its_cnn_branch() -> None:
    """v3's backbone has no dense map here: mask pooling pools the CNN's map, so the whole image gives the
    CNN branch's own embedding at 64 px — v3's CNN is v2's, so that is v2's global embedding exactly, and
    not v3's (which mixes in the backbone)."""
    enc: Any = create_encoder("starter-v3")
    rng = np.random.default_rng(2)
    img = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), "RGB")
    whole = np.ones((64, 64), bool)
    got = region_embeddings(enc, img, [(0, 0, 64, 64)], [whole], method="mask-pool", dense_side=64)
    np.testing.assert_allclose(got, create_encoder("starter-v2").encode_image([img]), atol=1e-5)
    assert float(np.abs(got - enc.encode_image([img])).max()) > 1e-2


def test_masked_crop_paints_the_outside_white_and_squares_the_box() -> None:
    img = Image.new("RGB", (20, 10), (10, 20, 30))
    mask = np.zeros((10, 20), bool)
    mask[2:8, 4:9] = True
    crop = np.asarray(region_crop(img, (4, 2, 12, 8), mask))
    assert crop.shape == (8, 8, 3)
    assert (crop[1:7, 0:5] == (10, 20, 30)).all()  # inside the mask: the image
    assert (crop[1:7, 5:8] == 255).all()  # in the box, outside the mask: white
    assert (crop[0] == 255).all() and (crop[7] == 255).all()  # padding to a square


def test_methods_give_unit_vectors_and_bad_input_is_one_clear_error() -> None:
    enc = create_encoder("tiny-clip:0")
    img = Image.new("RGB", (32, 32), "red")
    for method in ("crop", "masked-crop"):
        v = region_embeddings(enc, img, [(0, 0, 16, 16), (8, 8, 32, 32)], method=method)
        assert v.shape == (2, enc.dim) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    with pytest.raises(ConfigError, match="no dense image features"):
        region_embeddings(enc, img, [(0, 0, 16, 16)], method="mask-pool")
    with pytest.raises(ConfigError, match="valid: crop, masked-crop, mask-pool"):
        check_region_method("pool")
    with pytest.raises(ConfigError, match="mask is 5x5 but the image is 32x32"):
        region_embeddings(enc, img, [(0, 0, 4, 4)], [np.ones((5, 5), bool)], method="masked-crop")


def test_best_region_scores_equal_a_naive_loop() -> None:
    from memesearch.models.regions import best_region_scores, object_scores

    rng = np.random.default_rng(3)
    scores = rng.normal(size=(4, 9)).round(1)  # rounded: ties happen
    scores[1, 2] = np.nan
    owners = np.array([3, 0, 3, 3, 1, 0, 1, 3, 0])
    scores[:, 4] = np.nan
    scores[:, 6] = np.nan  # item 1: only NaN scores
    best, arg = best_region_scores(scores, owners, 5)
    for qi in range(4):
        for item in range(5):
            cols = [c for c in range(9) if owners[c] == item and not np.isnan(scores[qi, c])]
            if not cols:
                assert np.isnan(best[qi, item]) and arg[qi, item] == -1
                continue
            top = max(scores[qi, c] for c in cols)
            assert best[qi, item] == top and arg[qi, item] == min(c for c in cols if scores[qi, c] == top)
    fused = object_scores(np.full((4, 5), 0.5), best, 0.25)
    assert np.isclose(fused[0, 3], 0.25 * 0.5 + 0.75 * best[0, 3]) and (fused[:, [1, 2, 4]] == 0.5).all()
