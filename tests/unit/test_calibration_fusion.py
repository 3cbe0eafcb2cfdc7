"""The fitted fusion is never worse than the best single branch on held-out queries of each condition.

Two synthetic conditions, as the default calibration meets them (scripts/fit_default_calibration.py):

* ``sparse`` — an emoji folder: only the image branch carries signal; two items per gallery have (OCR)
  text whose text and lexical scores are noise, and a third of the items have noise emotion scores;
* ``dense`` — text memes: two thirds of the items have text, and the text and lexical branches carry signal
  as well as the image branch.

One calibration is fitted on the fit queries of both and must rank the held-out queries of each at least
as well (R@10) as the best single branch there. What broke this before: the rank of an item in a branch is
only meaningful next to how many items the branch scored (first of two texts is no evidence, first of forty
is), and the fit was not solved to convergence.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from memesearch.eval.calibrate import PairSet, fit_calibration, fused_logit, query_metrics
from memesearch.search.calibration import FEATURES, ITEM_FEATURES, RANK_CAP, Calibration, pair_features

N_ITEMS = 120


def condition(rng: np.random.Generator, n_queries: int, *, text_items: int, text_signal: bool) -> PairSet:
    """Every (query, item) pair of ``n_queries`` galleries of :data:`N_ITEMS` items (1-3 relevant each)."""
    names = ("image", "text", "lexical", "emotion")
    scores: dict[str, list[np.ndarray]] = {b: [] for b in names}
    feats: dict[str, list[np.ndarray]] = {b: [] for b in names}
    items_all, labels, query = [], [], []
    for q in range(n_queries):
        rel = np.zeros(N_ITEMS, bool)
        rel[rng.choice(N_ITEMS, rng.integers(1, 4), replace=False)] = True
        has_text = np.zeros(N_ITEMS, bool)
        has_text[rng.choice(N_ITEMS, text_items, replace=False)] = True
        text = rng.normal(0.80, 0.02, N_ITEMS) + (0.04 * rel if text_signal else 0.0)
        match = rng.uniform(size=N_ITEMS) < (0.4 * rel if text_signal else 0.0)
        lexical = np.where(match, rng.uniform(0.5, 1.0, N_ITEMS), 0.0)
        s = {
            "image": rng.normal(0.10, 0.05, N_ITEMS) + 0.05 * rel,
            "text": np.where(has_text, text, np.nan),
            "lexical": np.where(has_text, lexical, np.nan),
            "emotion": np.where(rng.uniform(size=N_ITEMS) < 0.3, rng.uniform(0.0, 1.0, N_ITEMS), np.nan),
        }
        items = np.zeros((N_ITEMS, len(ITEM_FEATURES)))
        items[has_text, 0], items[has_text, 1] = 1.0, 0.95  # one readable OCR line, confident
        for b in names:
            scores[b].append(s[b])
            feats[b].append(pair_features(s[b], items))
        items_all.append(items)
        labels.append(rel)
        query.append(np.full(N_ITEMS, q))
    y = np.concatenate(labels)
    return PairSet(
        scores={b: np.concatenate(v) for b, v in scores.items()},
        features={b: np.concatenate(v) for b, v in feats.items()},
        items=np.concatenate(items_all),
        labels=y,
        query=np.concatenate(query),
        relevant_total=int(y.sum()),
    )


def conditions(seed: int) -> dict[str, tuple[PairSet, PairSet]]:
    """``{condition: (fit pairs, held-out val pairs)}``."""
    rng = np.random.default_rng(seed)
    kinds = {
        "sparse": {"text_items": 2, "text_signal": False},
        "dense": {"text_items": 80, "text_signal": True},
    }
    return {name: (condition(rng, 200, **kw), condition(rng, 300, **kw)) for name, kw in kinds.items()}


def r_at_10_gain(cal: Calibration, val: PairSet) -> tuple[float, float, str]:
    """(mean paired R@10 gain of the fusion over the best single branch, its standard error, that branch)
    over the held-out queries ``val``."""
    fused = query_metrics(fused_logit(cal, val), val.labels, val.query)[1]["R@10"]
    single = {b: query_metrics(s, val.labels, val.query)[1]["R@10"] for b, s in val.scores.items()}
    branch = max(single, key=lambda b: float(single[b].mean()))
    diff = fused - single[branch]
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(diff.size)), branch


def boost_of_sparse_texts(cal: Calibration, val: PairSet) -> float:
    """Mean change of the fused log-odds of the items with text when their text and lexical scores are
    taken away: what having (noise) text earns an item."""
    without = PairSet(
        scores={b: np.full_like(s, np.nan) if b in ("text", "lexical") else s for b, s in val.scores.items()},
        features=val.features,
        items=val.items,
        labels=val.labels,
        query=val.query,
        relevant_total=val.relevant_total,
    )
    has_text = ~np.isnan(val.scores["text"])
    return float((fused_logit(cal, val) - fused_logit(cal, without))[has_text].mean())


@functools.cache
def fitted(seed: int) -> tuple[dict[str, tuple[PairSet, PairSet]], Calibration]:
    """The conditions of ``seed`` and the calibration fitted on their fit queries (the regularisation
    chosen by cross-validation, on a short grid to stay fast)."""
    data = conditions(seed)
    cal = fit_calibration(
        PairSet.concat([fit_pairs for fit_pairs, _ in data.values()]), c_grid=(0.01, 0.1, 1.0)
    )
    return data, cal


def test_fused_ranking_is_at_least_the_best_single_branch_on_held_out_queries_of_each_condition() -> None:
    data, cal = fitted(0)
    sparse_gain, sparse_se, sparse_branch = r_at_10_gain(cal, data["sparse"][1])
    dense_gain, dense_se, _ = r_at_10_gain(cal, data["dense"][1])
    assert sparse_branch == "image"  # the conditions are what they claim to be
    # two branches with signal: the fusion beats the best of them, by far more than the noise
    assert dense_gain > 5 * dense_se > 0
    # one branch with signal: its ranking is already the best there is, so a learned fusion can at best tie
    # it in expectation, and on 300 held-out queries it moves by a few queries either way (over seeds 0-4:
    # -3 to 0 queries); it must not be significantly worse: within two standard errors of the paired
    # difference. (The old fit's damage shows in the boost below, not reliably in R@10 at this size.)
    assert sparse_gain >= -2 * sparse_se, (
        f"sparse: fused R@10 {sparse_gain:+.4f} (se {sparse_se:.4f}) vs image"
    )


def test_noise_text_of_a_sparse_gallery_earns_no_boost_and_did_before() -> None:
    """The failure the scored count fixes: blind to how many items a branch scored, the fit carries "first
    in the text branch" from the dense condition to the two noise texts of the sparse one, and every query
    of the sparse condition finds them near the top."""
    data, cal = fitted(0)
    assert boost_of_sparse_texts(cal, data["sparse"][1]) < 0.75
    data = conditions(0)
    col = FEATURES.index("log_scored")
    assert pair_features(np.array([0.1, 0.2]), np.zeros((2, len(ITEM_FEATURES))))[0, col] == pytest.approx(
        np.log(2)
    )
    for fit_pairs, val in data.values():  # the old features: no count (every branch looks fully scored)
        for pairs in (fit_pairs, val):
            for name, f in pairs.features.items():
                f[:, col] = np.where(np.isnan(pairs.scores[name]), np.nan, np.log(RANK_CAP))
    blind = fit_calibration(PairSet.concat([fit_pairs for fit_pairs, _ in data.values()]), c=1.0)
    assert boost_of_sparse_texts(blind, data["sparse"][1]) > 1.0
