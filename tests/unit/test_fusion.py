"""Score fusion: arithmetic, missing branch scores, per-branch scores (selection: test_fusion_weights)."""

from __future__ import annotations

import numpy as np
import pytest

from memesearch.errors import ConfigError
from memesearch.models.fusion import (
    FusedResult,
    fuse_scores,
    normalize_per_query,
    normalize_weights,
    rank,
)

NAN = float("nan")


def test_weighted_sum_and_weight_normalisation() -> None:
    qi = np.array([0.2, 0.4, 0.9])
    qc = np.array([0.6, 0.1, 0.3])
    fused = fuse_scores({"qi": qi, "qc": qc}, {"qi": 0.75, "qc": 0.25})
    np.testing.assert_allclose(fused, 0.75 * qi + 0.25 * qc)
    # weights are scaled to sum to one
    np.testing.assert_allclose(fuse_scores({"qi": qi, "qc": qc}, {"qi": 3, "qc": 1}), fused)
    # (Q, N) works the same way
    two = fuse_scores({"qi": np.stack([qi, qc]), "qc": np.stack([qc, qi])}, {"qi": 0.5, "qc": 0.5})
    np.testing.assert_allclose(two, np.full((2, 3), 0.5) * (qi + qc))


def test_missing_branch_score_renormalises_the_other_weights() -> None:
    qi = np.array([0.5, 0.5, 0.2])
    lex = np.array([1.0, NAN, 0.0])
    fused = fuse_scores({"qi": qi, "lexical": lex}, {"qi": 0.6, "lexical": 0.4})
    np.testing.assert_allclose(fused, [0.6 * 0.5 + 0.4 * 1.0, 0.5, 0.6 * 0.2])


def test_fill_value_replaces_a_missing_score() -> None:
    qi = np.array([0.5, 0.5])
    lex = np.array([1.0, NAN])
    fused = fuse_scores({"qi": qi, "lexical": lex}, {"qi": 0.6, "lexical": 0.4}, fill={"lexical": 0.0})
    np.testing.assert_allclose(fused, [0.7, 0.3])
    with pytest.raises(ConfigError, match="unknown branch"):
        fuse_scores({"qi": qi}, {"qi": 1.0}, fill={"qc": 0.0})


def test_item_no_weighted_branch_scored_is_nan_and_zero_weight_branches_are_ignored() -> None:
    qi = np.array([0.5, NAN])
    qc = np.array([NAN, NAN])
    fused = fuse_scores({"qi": qi, "qc": qc}, {"qi": 1.0, "qc": 1.0})
    assert fused[0] == pytest.approx(0.5) and np.isnan(fused[1])
    # a branch with weight 0 neither contributes nor renormalises, even where it is missing
    fused = fuse_scores({"qi": np.array([0.4, 0.8]), "qc": np.array([NAN, 0.1])}, {"qi": 1.0, "qc": 0.0})
    np.testing.assert_allclose(fused, [0.4, 0.8])


def test_rank_carries_every_branch_score() -> None:
    ids = ["a", "b", "c", "d"]
    scores = {
        "qi": np.array([0.30, 0.25, 0.20, NAN]),
        "lexical": np.array([0.0, 1.0, NAN, NAN]),
    }
    results = rank(ids, scores, {"qi": 0.8, "lexical": 0.2})
    assert [r.item_id for r in results] == ["b", "a", "c"]  # "d": no branch scored it
    assert results[0] == FusedResult("b", pytest.approx(0.4), {"qi": 0.25, "lexical": 1.0})
    assert results[2].branch_scores == {"qi": pytest.approx(0.2), "lexical": None}
    assert results[2].score == pytest.approx(0.2)
    assert [r.item_id for r in rank(ids, scores, {"qi": 0.8, "lexical": 0.2}, k=1)] == ["b"]


def test_rank_ties_keep_input_order() -> None:
    results = rank(["x", "y", "z"], {"qi": np.array([0.5, 0.7, 0.5])}, {"qi": 1.0})
    assert [r.item_id for r in results] == ["y", "x", "z"]


def test_input_validation() -> None:
    s = np.array([0.1, 0.2])
    with pytest.raises(ConfigError, match=">= 0"):
        fuse_scores({"qi": s}, {"qi": -1.0})
    with pytest.raises(ConfigError, match="all zero"):
        fuse_scores({"qi": s, "qc": s}, {"qi": 0.0, "qc": 0.0})
    with pytest.raises(ConfigError, match="no weight for"):
        fuse_scores({"qi": s, "qc": s}, {"qi": 1.0})
    with pytest.raises(ConfigError, match="no scores for"):
        fuse_scores({"qi": s}, {"qi": 1.0, "qc": 1.0})
    with pytest.raises(ValueError, match="same shape"):
        fuse_scores({"qi": s, "qc": np.zeros(3)}, {"qi": 1.0, "qc": 1.0})
    with pytest.raises(ValueError, match="infinite"):
        fuse_scores({"qi": np.array([np.inf, 0.0])}, {"qi": 1.0})
    with pytest.raises(ValueError, match=r"\(N,\)"):
        rank(["a"], {"qi": s}, {"qi": 1.0})
    assert normalize_weights({"a": 1, "b": 3}) == {"a": 0.25, "b": 0.75}


def test_normalize_per_query() -> None:
    s = np.array([[1.0, 3.0, NAN, 2.0], [5.0, 5.0, 5.0, NAN]])
    mm = normalize_per_query(s, "minmax")
    np.testing.assert_allclose(mm[0], [0.0, 1.0, NAN, 0.5])
    np.testing.assert_allclose(mm[1], [0.0, 0.0, 0.0, NAN])  # all equal: nothing to tell apart
    z = normalize_per_query(s, "zscore")
    np.testing.assert_allclose(z[0], [-np.sqrt(1.5), np.sqrt(1.5), NAN, 0.0])
    assert np.isnan(normalize_per_query(np.array([NAN, NAN]))).all()
