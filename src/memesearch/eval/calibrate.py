"""Fit and measure calibrated fusion (:mod:`memesearch.search.calibration`) on labelled queries.

1. :func:`collect_pairs` — for every query, the candidates search would score (the union of each branch's
   top ``depth`` over the gallery), each with its raw branch scores, the per-query features computed over
   those candidates (as search computes them), the item's features and its label (graded relevance at or
   above ``threshold``);
2. :func:`fit_calibration` — one logistic regression per branch on the pairs where the branch has a
   score, then a logistic regression over the branches' log-odds (and "no score" indicators): the learned
   log-odds fusion;
3. :func:`calibration_metrics` — expected calibration error (ECE, 10 equal-width bins), the reliability
   curve, and precision / recall of the cut at a probability (0.5) over the candidate pairs, recall also
   against every relevant item of the gallery; :func:`plot_reliability` draws the curve.

Fit on a validation split under realistic conditions (plain folders, OCR on, no oracle captions); never on
test (:func:`memesearch.eval.fusion_weights.is_test_split` refuses it in the commands).

Example::

    >>> pairs = collect_pairs(Searcher(index), queries_from_dataset(ds, "val", index))   # doctest: +SKIP
    >>> cal = fit_calibration(pairs, fitted_on={"data": "emoji val, OCR on, no captions"})
    >>> calibration_metrics(cal, pairs)["ece"]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.errors import ConfigError
from memesearch.eval.index_eval import IndexQueries
from memesearch.search.branches import BRANCHES
from memesearch.search.calibration import BranchCalibration, Calibration, logit, pair_features


@dataclass
class PairSet:
    """Candidate (query, item) pairs: per branch the raw score ``(P,)`` (NaN = no score) and its features
    ``(P, F)``; the item features ``(P, Fi)``; the labels ``(P,)``; the query of each pair ``(P,)``;
    ``relevant_total`` = relevant (query, item) pairs in the whole gallery, candidates or not."""

    scores: dict[str, np.ndarray]
    features: dict[str, np.ndarray]
    items: np.ndarray
    labels: np.ndarray
    query: np.ndarray
    relevant_total: int

    def __len__(self) -> int:
        return int(self.labels.size)

    @classmethod
    def concat(cls, parts: Sequence[PairSet]) -> PairSet:
        names = sorted({n for p in parts for n in p.scores})
        offset = 0
        queries = []
        for p in parts:
            queries.append(p.query + offset)
            offset += int(p.query.max()) + 1 if p.query.size else 0
        return cls(
            scores={n: np.concatenate([p.scores[n] for p in parts]) for n in names},
            features={n: np.concatenate([p.features[n] for p in parts]) for n in names},
            items=np.concatenate([p.items for p in parts]),
            labels=np.concatenate([p.labels for p in parts]),
            query=np.concatenate(queries),
            relevant_total=sum(p.relevant_total for p in parts),
        )


def collect_pairs(searcher: Any, queries: IndexQueries, *, depth: int = 50, threshold: int = 1) -> PairSet:
    """The candidate pairs of ``queries`` over their gallery (see the module docstring)."""
    qs = queries.queries
    rowids, matrices = searcher.score_matrix([q.text for q in qs])
    gallery = np.unique(queries.columns)
    col_of = {int(r): j for j, r in enumerate(rowids.tolist())}
    cols = np.array([col_of[int(r)] for r in gallery], dtype=np.int64)
    labels_of: dict[int, list[str]] = {}
    for r, lab in zip(queries.columns.tolist(), queries.labels, strict=True):
        labels_of.setdefault(int(r), []).append(lab)
    item_feats = searcher.item_features(gallery)
    names = [n for n in BRANCHES if n in matrices]
    out_scores: dict[str, list[np.ndarray]] = {n: [] for n in names}
    out_feats: dict[str, list[np.ndarray]] = {n: [] for n in names}
    items, labels, query = [], [], []
    relevant_total = 0
    for i, q in enumerate(qs):
        per_branch = {n: matrices[n][i, cols].astype(np.float64) for n in names}
        cand: set[int] = set()
        for s in per_branch.values():
            present = np.flatnonzero(~np.isnan(s))
            top = present[np.argsort(-s[present], kind="stable")[:depth]]
            cand.update(top.tolist())
        idx = np.array(sorted(cand), dtype=np.int64)
        rel = [
            max((q.qrels.get(lab, 0) for lab in labels_of[int(r)]), default=0) >= threshold for r in gallery
        ]
        relevant_total += int(np.sum(rel))
        for n in names:
            s = per_branch[n][idx]
            out_scores[n].append(s)
            out_feats[n].append(pair_features(s, item_feats[idx]))
        items.append(item_feats[idx])
        labels.append(np.array([rel[j] for j in idx], dtype=bool))
        query.append(np.full(idx.size, i, dtype=np.int64))
    width = item_feats.shape[1] if item_feats.ndim == 2 else 0
    return PairSet(
        scores={n: np.concatenate(v) if v else np.zeros(0) for n, v in out_scores.items()},
        features={n: np.concatenate(v) if v else np.zeros((0, width + 3)) for n, v in out_feats.items()},
        items=np.concatenate(items) if items else np.zeros((0, width)),
        labels=np.concatenate(labels) if labels else np.zeros(0, bool),
        query=np.concatenate(query) if query else np.zeros(0, np.int64),
        relevant_total=relevant_total,
    )


def _logistic(x: np.ndarray, y: np.ndarray, c: float) -> tuple[list[float], float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(x, y)
    return [float(v) for v in model.coef_[0]], float(model.intercept_[0])


def fit_calibration(
    pairs: PairSet, *, c: float = 1.0, fitted_on: dict[str, Any] | None = None, min_pairs: int = 20
) -> Calibration:
    """Per-branch logistic calibrators, then the log-odds fusion (see the module docstring).

    A branch with fewer than ``min_pairs`` scored pairs, or whose pairs are all relevant or all not, is
    left out (it then contributes nothing); :class:`ConfigError` when no branch can be fitted.
    """
    y = pairs.labels.astype(int)
    if len(pairs) < min_pairs or y.min() == y.max():
        raise ConfigError(
            f"too few labelled pairs to calibrate: {len(pairs)} candidate pairs, {int(y.sum())} relevant; "
            "give more labelled queries (each with at least one relevant indexed item)"
        )
    branches: dict[str, BranchCalibration] = {}
    for name, feats in pairs.features.items():
        present = ~np.isnan(pairs.scores[name])
        yb = y[present]
        if present.sum() < min_pairs or yb.min() == yb.max():
            continue
        coef, intercept = _logistic(feats[present], yb, c)
        branches[name] = BranchCalibration(coef, intercept)
    if not branches:
        raise ConfigError(
            "no branch has enough scored pairs with both relevant and irrelevant items to calibrate"
        )
    columns = []
    for name, cal in branches.items():
        present = ~np.isnan(pairs.scores[name])
        p = np.full(len(pairs), 0.5)
        p[present] = cal.probability(pairs.features[name][present])
        columns.append(np.where(present, logit(p), 0.0))
        columns.append((~present).astype(np.float64))
    coef, intercept = _logistic(np.column_stack(columns), y, c)
    names = list(branches)
    return Calibration(
        branches=branches,
        fusion_intercept=intercept,
        fusion_weights={n: coef[2 * k] for k, n in enumerate(names)},
        missing={n: coef[2 * k + 1] for k, n in enumerate(names)},
        fitted_on=dict(fitted_on or {}),
    )


def relevance_of(calibration: Calibration, pairs: PairSet) -> np.ndarray:
    """The fused relevance of every pair, computed query by query exactly as search computes it."""
    out = np.empty(len(pairs))
    for qi in np.unique(pairs.query):
        m = pairs.query == qi
        out[m] = calibration.relevance({n: s[m] for n, s in pairs.scores.items()}, pairs.items[m])[0]
    return out


def calibration_metrics(
    calibration: Calibration, pairs: PairSet, *, cut: float = 0.5, bins: int = 10
) -> dict[str, Any]:
    """ECE, the reliability curve and the cut's precision / recall over ``pairs`` (module docstring)."""
    p = relevance_of(calibration, pairs)
    y = pairs.labels.astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    curve, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            conf, acc = float(p[m].mean()), float(y[m].mean())
            ece += m.mean() * abs(conf - acc)
            curve.append({"bin": [float(edges[b]), float(edges[b + 1])], "mean_p": conf, "frac_relevant": acc,
                          "pairs": int(m.sum())})  # fmt: skip
    kept = p >= cut
    tp = float((kept & (y > 0)).sum())
    return {
        "pairs": len(pairs),
        "relevant_pairs": int(y.sum()),
        "ece": float(ece),
        "reliability": curve,
        "cut": cut,
        "precision_at_cut": tp / max(1.0, float(kept.sum())),
        "recall_at_cut_candidates": tp / max(1.0, float(y.sum())),
        "recall_at_cut_all": tp / max(1, pairs.relevant_total),
        "hits_at_cut": int(kept.sum()),
        "queries": int(np.unique(pairs.query).size),
        "queries_with_no_hit_at_cut": int(
            sum(1 for qi in np.unique(pairs.query) if not kept[pairs.query == qi].any())
        ),
    }


def plot_reliability(metrics: dict[str, Any], path: str | Path, *, title: str) -> Path:
    """The reliability diagram (mean predicted relevance vs observed share of relevant pairs per bin)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from memesearch.utils.io import atomic_path

    fig = Figure(figsize=(5, 5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    xs = [b["mean_p"] for b in metrics["reliability"]]
    ys = [b["frac_relevant"] for b in metrics["reliability"]]
    sizes = [max(8.0, 200.0 * b["pairs"] / max(1, metrics["pairs"])) for b in metrics["reliability"]]
    ax.plot(xs, ys, color="tab:blue", marker="o", label=f"relevance (ECE {metrics['ece']:.3f})")
    ax.scatter(xs, ys, s=sizes, color="tab:blue", alpha=0.4)
    ax.set_xlabel("predicted relevance")
    ax.set_ylabel("share of relevant pairs")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(str(tmp), format="png")
    return Path(path)


__all__ = [
    "PairSet",
    "calibration_metrics",
    "collect_pairs",
    "fit_calibration",
    "plot_reliability",
    "relevance_of",
]
