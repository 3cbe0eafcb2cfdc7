"""Calibrated fusion: recovers known probabilities, the log-odds fusion, features, serialisation."""

from __future__ import annotations

import numpy as np
import pytest

from memesearch.errors import ConfigError
from memesearch.eval.calibrate import (
    PairSet,
    calibration_metrics,
    fit_calibration,
    fused_logit,
    ranking_metrics,
    relevance_of,
)
from memesearch.search.calibration import (
    FEATURES,
    ITEM_FEATURES,
    RANK_CAP,
    Calibration,
    pair_features,
    query_features,
)


def synthetic_pairs(seed: int, n_queries: int = 300, per_query: int = 40) -> tuple[PairSet, np.ndarray]:
    """One branch whose score s gives relevance with probability sigmoid(10 s - 6); items featureless."""
    rng = np.random.default_rng(seed)
    scores, feats, truth, labels, query = [], [], [], [], []
    items = np.zeros((per_query, len(ITEM_FEATURES)))
    for q in range(n_queries):
        s = rng.uniform(0.0, 1.0, per_query)
        p = 1.0 / (1.0 + np.exp(-(10.0 * s - 6.0)))
        scores.append(s)
        feats.append(pair_features(s, items))
        truth.append(p)
        labels.append(rng.uniform(size=per_query) < p)
        query.append(np.full(per_query, q))
    pairs = PairSet(
        scores={"image": np.concatenate(scores)},
        features={"image": np.concatenate(feats)},
        items=np.zeros((n_queries * per_query, len(ITEM_FEATURES))),
        labels=np.concatenate(labels),
        query=np.concatenate(query),
        relevant_total=int(np.concatenate(labels).sum()),
    )
    return pairs, np.concatenate(truth)


def test_fit_recovers_true_probabilities_and_is_calibrated_on_new_data() -> None:
    pairs, _ = synthetic_pairs(0)
    cal = fit_calibration(pairs)
    test, truth = synthetic_pairs(1)
    got = relevance_of(cal, test)
    assert np.mean(np.abs(got - truth)) < 0.03  # the true probabilities, from scores alone
    metrics = calibration_metrics(cal, test)
    assert metrics["ece"] < 0.03
    assert 0 < metrics["precision_at_cut"] <= 1 and 0 < metrics["recall_at_cut_all"] <= 1
    assert sum(b["pairs"] for b in metrics["reliability"]) == len(test)


def test_query_features_rank_and_gap() -> None:
    gap, log_rank = query_features(np.array([0.2, 0.9, np.nan, 0.9, 0.5]))
    assert np.allclose(gap[[0, 1, 3, 4]], [-0.7, 0.0, 0.0, -0.4]) and np.isnan(gap[2])
    assert np.allclose(np.exp(log_rank[[0, 1, 3, 4]]), [4, 1, 1, 3])  # ties share the better rank
    _, capped = query_features(np.arange(100.0))
    assert np.exp(capped).max() == pytest.approx(RANK_CAP)


def test_fusion_of_log_odds_and_missing_branches() -> None:
    coef = [0.0] * len(FEATURES)
    cal = Calibration(
        branches={"image": _const(0.8, coef), "text": _const(0.3, coef)},
        fusion_intercept=0.0,
        fusion_weights={"image": 1.0, "text": 1.0},
        missing={"text": -1.0},
    )
    items = np.zeros((2, len(ITEM_FEATURES)))
    rel, probs = cal.relevance({"image": np.array([0.1, 0.2]), "text": np.array([0.5, np.nan])}, items)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    assert np.allclose(probs["image"], 0.8) and np.isnan(probs["text"][1])
    assert rel[0] == pytest.approx(1 / (1 + np.exp(-(logit(0.8) + logit(0.3)))))
    assert rel[1] == pytest.approx(1 / (1 + np.exp(-(logit(0.8) - 1.0))))  # no text score: its bias
    back = Calibration.from_dict(cal.to_dict())
    assert np.allclose(back.relevance({"image": np.array([0.1, 0.2])}, items)[0], cal.relevance(
        {"image": np.array([0.1, 0.2])}, items)[0])  # fmt: skip
    with pytest.raises(ConfigError, match="refit it with `memesearch tune`"):
        Calibration.from_dict({**cal.to_dict(), "version": 99})


def test_a_version_1_calibration_still_loads_and_gives_the_same_relevance() -> None:
    v1_features = [f for f in FEATURES if f != "log_scored"]
    coef = [6.0, 0.5, -0.3, 0.2, -0.1, 0.0, 0.0, 0.0]
    old = {
        "version": 1,
        "features": v1_features,
        "rank_cap": RANK_CAP,
        "branches": {"image": {"coef": coef, "intercept": -3.0}},
        "fusion": {"intercept": 0.5, "weights": {"image": 1.2}, "missing": {"image": 0.0}},
    }
    cal = Calibration.from_dict(old)
    assert cal.version == 2 and cal.branches["image"].coef[FEATURES.index("log_scored")] == 0.0
    scores = np.array([0.1, 0.3, 0.2])
    items = np.array([[1.0, 0.9, 0, 0, 0], [0, 0, 0, 0, 0], [2.0, 0.5, 0, 0, 0]])
    z = -3.0 + np.column_stack([scores, *query_features(scores), items]) @ np.array(coef)
    expected = 1 / (1 + np.exp(-(0.5 + 1.2 * z)))  # the version-1 formula
    assert np.allclose(cal.relevance({"image": scores}, items)[0], expected)
    assert Calibration.from_dict(cal.to_dict()).to_dict() == cal.to_dict()  # written as version 2
    with pytest.raises(ConfigError, match="refit it"):
        Calibration.from_dict({**old, "features": list(FEATURES)})  # version 1 with other features


def test_ranking_metrics_break_ties_pessimistically_and_fused_logit_matches_search() -> None:
    query = np.array([0, 0, 0, 1, 1, 1])
    labels = np.array([False, True, False, True, False, False])
    m = ranking_metrics(np.array([0.5, 0.5, 0.1, 0.9, 0.2, 0.1]), labels, query, k=1)
    assert m["queries"] == 2 and m["R@1"] == 0.5  # query 0's relevant item ties for first: rank 2
    assert m["NDCG@1"] == pytest.approx(0.5)
    pairs, _ = synthetic_pairs(3, n_queries=30)
    cal = fit_calibration(pairs, c=1.0)
    assert np.allclose(1 / (1 + np.exp(-fused_logit(cal, pairs))), relevance_of(cal, pairs))


def test_too_few_pairs_is_a_clear_refusal() -> None:
    pairs, _ = synthetic_pairs(2, n_queries=1, per_query=5)
    with pytest.raises(ConfigError, match="too few labelled pairs"):
        fit_calibration(pairs)


def _const(p: float, coef: list[float]):
    from memesearch.search.calibration import BranchCalibration

    return BranchCalibration(list(coef), float(np.log(p / (1 - p))))
