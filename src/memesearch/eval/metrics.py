"""Retrieval metrics exactly as SPEC §5: definitions, computation from candidate statistics, report.

Definitions (``threshold`` = relevance threshold; an item is *relevant* when its grade >= threshold;
grade 0 = unjudged or not relevant; ranks are 1-based):

- **R@K**: fraction of queries with at least one relevant item in the top K (any hit — not hits
  divided by the number of positives, as IEF did).
- **MdR / MnR**: median / mean rank of the first relevant item.
- **MR**: mean recall, (R@1 + R@5 + R@10) / 3 (reported when 1, 5 and 10 are all in ``ks``).
- **P@K**: relevant items in the top K divided by K.
- **recall@K**: relevant items in the top K divided by the query's number of relevant items.
- **NDCG@K**: gain 2^grade − 1, discount log2(rank + 1), (DCG@K + 1e-6) / (IDCG@K + 1e-6), mean over
  the queries whose candidates do not all have the same grade.
- **MAP**: AP over the query's whole candidate list, mean over queries with >= 1 relevant item.
- **PNR**: over every pair of a query's candidates with different grades, ``pos`` when the higher
  grade scores higher, ``neg`` when lower, ``tie`` when equal; pooled over queries:
  (pos + tie/2) / max(1, neg + tie/2). Ties count as ties whatever the tie rule.

Candidates: for a run, a query's candidates are its own rows (every row, duplicates included; a row
without a judgement has grade 0). For a score matrix or embeddings, every query's candidates are the
whole gallery (unjudged items have grade 0). A judged positive that is not among the candidates (not
in the run, or not in the gallery) still counts in the query's number of relevant items and in the
ideal DCG, is never found (rank infinity), and takes part in no PNR pair.

Queries without a relevant item are excluded from R@K, MR, MdR, MnR, P@K, recall@K and MAP; queries
whose grades are all equal are excluded from NDCG; queries with no pair of different grades add no
PNR pair. :attr:`MetricsReport.n_queries` says how many queries each metric averaged over (MdR / MnR
also exclude queries whose relevant items are all missing from the candidates), and
``n_queries["without_relevant"]`` how many had none.

Ties: equal scores are ordered by a deterministic rule, see :mod:`memesearch.eval.ranking`. The
library default is ``"pessimistic"`` (relevant items after equal-scored less relevant ones). The CLI's
``--ties auto`` uses ``"input"`` for CBVS runs, because the CBVS reference evaluator ranks a run's rows
by sorting them in file order; its published numbers (PNR 3.0708, NDCG@1/3/5/10 0.7844 / 0.8026 /
0.8464 / 0.8927, MAP 0.7788) are reproduced that way.

:func:`compute_metrics` computes every metric from :class:`~memesearch.eval.ranking.CandidateStats`;
:mod:`memesearch.eval.retrieval` builds those statistics from a run, a dense score matrix or embeddings
(``evaluate_run``, ``evaluate_scores``, ``evaluate_embeddings``). The result is a :class:`MetricsReport`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memesearch.eval.ranking import CandidateStats, TieRule, check_tie_rule, pair_counts, positive_ranks

__all__ = ["MetricsReport", "TieRule", "compute_metrics"]

NDCG_EPS = 1e-6


@dataclass
class MetricsReport:
    """Metric values, how many queries each one averaged over, and the settings that produced them.

    ``metrics`` maps names (``R@1``, ``MR``, ``MdR``, ``MnR``, ``P@5``, ``recall@10``, ``NDCG@3``,
    ``MAP``, ``PNR``) to values (NaN when no query qualified). ``n_queries`` has the same keys plus
    ``total``, ``with_relevant`` and ``without_relevant``. ``counts`` holds raw counts (PNR pairs,
    candidates, relevant items missing from the candidates). ``curves`` holds ``k``, ``R@K`` and
    ``recall@K`` lists for the recall curve.
    """

    metrics: dict[str, float]
    n_queries: dict[str, int]
    settings: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(f"no metric {name!r}; this report has: {', '.join(self.metrics)}") from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes ``None``)."""

        def clean(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return None if math.isnan(v) else v
            return v

        return {
            "metrics": {k: clean(v) for k, v in self.metrics.items()},
            "n_queries": dict(self.n_queries),
            "counts": dict(self.counts),
            "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in self.settings.items()},
            "curves": {k: [clean(x) for x in v] for k, v in self.curves.items()},
        }

    def to_markdown(self, digits: int = 4) -> str:
        """A Markdown table of the metrics (value and number of queries), then the settings."""
        lines = ["| metric | value | queries |", "|---|---:|---:|"]
        for name, value in self.metrics.items():
            shown = "n/a" if math.isnan(value) else f"{value:.{digits}f}"
            lines.append(f"| {name} | {shown} | {self.n_queries.get(name, '')} |")
        lines.append("")
        lines.append(
            f"Queries: {self.n_queries.get('total', 0)} "
            f"({self.n_queries.get('with_relevant', 0)} with a relevant item, "
            f"{self.n_queries.get('without_relevant', 0)} without)."
        )
        if self.counts:
            lines.append("Counts: " + ", ".join(f"{k} {v}" for k, v in self.counts.items()) + ".")
        settings = ", ".join(f"{k} = {_fmt_setting(v)}" for k, v in self.settings.items())
        lines.append(f"Settings: {settings}.")
        return "\n".join(lines) + "\n"


def _fmt_setting(v: Any) -> str:
    if isinstance(v, list | tuple):
        return ",".join(str(x) for x in v)
    return str(v)


def _check_ks(ks: Sequence[int], name: str) -> tuple[int, ...]:
    out = tuple(int(k) for k in ks)
    if any(k < 1 for k in out):
        raise ValueError(f"{name} must be positive integers, got {list(ks)}")
    return tuple(dict.fromkeys(out))


def _check_threshold(threshold: int) -> int:
    if isinstance(threshold, bool) or int(threshold) != threshold or threshold < 1:
        raise ValueError(f"threshold must be an integer >= 1 (grade 0 means not relevant), got {threshold!r}")
    return int(threshold)


def _curve_grid(k_max: int) -> list[int]:
    """Every K up to 50, then a 1-2-3-5 grid up to ``k_max``."""
    if k_max <= 50:
        return list(range(1, k_max + 1))
    grid = list(range(1, 11))
    base = 10
    while True:
        for m in (1.5, 2, 3, 5, 7.5, 10):
            k = int(base * m)
            if k > k_max:
                return sorted({*grid, k_max})
            grid.append(k)
        base *= 10


def compute_metrics(
    stats: CandidateStats,
    *,
    ks: Sequence[int] = (1, 5, 10),
    ndcg_ks: Sequence[int] = (1, 3, 5, 10),
    threshold: int = 1,
    ties: TieRule = "pessimistic",
    curve: bool = True,
    settings: Mapping[str, Any] | None = None,
) -> MetricsReport:
    """Every SPEC §5 metric from :class:`~memesearch.eval.ranking.CandidateStats` (see the module doc)."""
    ks = _check_ks(ks, "ks")
    ndcg_ks = _check_ks(ndcg_ks, "ndcg_ks")
    threshold = _check_threshold(threshold)
    check_tie_rule(ties)
    n_q = stats.n_queries
    q = stats.pos_query
    g = stats.pos_grade
    ranks = positive_ranks(stats, ties)  # (P,) float, inf when not among the candidates
    scored = stats.scored

    rel = g >= threshold
    n_rel = np.bincount(q[rel], minlength=n_q)
    has_rel = n_rel > 0
    n_has_rel = int(has_rel.sum())
    first = np.full(n_q, np.inf)
    np.minimum.at(first, q[rel], ranks[rel])

    metrics: dict[str, float] = {}
    n_used: dict[str, int] = {}

    def mean_over(values: np.ndarray, mask: np.ndarray) -> float:
        return float(values[mask].mean()) if mask.any() else math.nan

    for k in ks:
        metrics[f"R@{k}"] = mean_over((first <= k).astype(np.float64), has_rel)
        n_used[f"R@{k}"] = n_has_rel
    if {1, 5, 10} <= set(ks):
        metrics["MR"] = (metrics["R@1"] + metrics["R@5"] + metrics["R@10"]) / 3
        n_used["MR"] = n_has_rel
    found = has_rel & np.isfinite(first)
    metrics["MdR"] = float(np.median(first[found])) if found.any() else math.nan
    metrics["MnR"] = float(first[found].mean()) if found.any() else math.nan
    n_used["MdR"] = n_used["MnR"] = int(found.sum())

    for k in ks:
        hits = np.bincount(q[rel & (ranks <= k)], minlength=n_q).astype(np.float64)
        metrics[f"P@{k}"] = mean_over(hits / k, has_rel)
        n_used[f"P@{k}"] = n_has_rel
    for k in ks:
        hits = np.bincount(q[rel & (ranks <= k)], minlength=n_q).astype(np.float64)
        metrics[f"recall@{k}"] = mean_over(hits / np.maximum(n_rel, 1), has_rel)
        n_used[f"recall@{k}"] = n_has_rel

    # NDCG: ideal ranks = positives of each query sorted by grade, descending
    gains = np.exp2(g.astype(np.float64)) - 1.0
    ideal_order = np.lexsort((-g, q))
    q_ideal = q[ideal_order]
    ideal_rank = np.empty(len(q), dtype=np.float64)
    ideal_rank[ideal_order] = np.arange(len(q)) - np.searchsorted(q_ideal, q_ideal, side="left") + 1
    n_pos_scored = np.bincount(q[scored], minlength=n_q)
    n_pos_all = np.bincount(q, minlength=n_q)
    n_zero = stats.n_candidates - n_pos_scored
    if len(q):
        qg = np.unique(q.astype(np.int64) * (int(g.max()) + 1) + g)
        n_distinct = np.bincount(qg // (int(g.max()) + 1), minlength=n_q)
    else:
        n_distinct = np.zeros(n_q, dtype=np.int64)
    graded = ((n_pos_all > 0) & (n_zero > 0)) | (n_distinct >= 2)
    with np.errstate(divide="ignore"):
        discount = np.where(np.isfinite(ranks), 1.0 / np.log2(ranks + 1.0), 0.0)
    ideal_discount = 1.0 / np.log2(ideal_rank + 1.0)
    for k in ndcg_ks:
        dcg = np.bincount(q, weights=np.where(ranks <= k, gains * discount, 0.0), minlength=n_q)
        idcg = np.bincount(q, weights=np.where(ideal_rank <= k, gains * ideal_discount, 0.0), minlength=n_q)
        metrics[f"NDCG@{k}"] = mean_over((dcg + NDCG_EPS) / (idcg + NDCG_EPS), graded)
        n_used[f"NDCG@{k}"] = int(graded.sum())

    # MAP: relevant items found, ordered by rank inside each query; precision at each = position / rank
    found_rel = np.flatnonzero(rel & np.isfinite(ranks))
    fr_q, fr_rank = q[found_rel], ranks[found_rel]
    o = np.lexsort((fr_rank, fr_q))
    fr_q, fr_rank = fr_q[o], fr_rank[o]
    position = np.arange(len(fr_q)) - np.searchsorted(fr_q, fr_q, side="left") + 1
    ap = np.bincount(fr_q, weights=position / fr_rank, minlength=n_q) / np.maximum(n_rel, 1)
    metrics["MAP"] = mean_over(ap, has_rel)
    n_used["MAP"] = n_has_rel

    pos, neg, tie, has_pair = pair_counts(stats)
    metrics["PNR"] = (pos + tie / 2) / max(1.0, neg + tie / 2)
    n_used["PNR"] = int(has_pair.sum())

    n_used["total"] = n_q
    n_used["with_relevant"] = n_has_rel
    n_used["without_relevant"] = n_q - n_has_rel
    counts = {
        "pnr_pos": pos,
        "pnr_neg": neg,
        "pnr_tie": tie,
        "candidates": int(stats.n_candidates.sum()),
        "relevant": int(n_rel.sum()),
        "relevant_not_candidates": int((rel & ~scored).sum()),
    }
    curves: dict[str, list[float]] = {}
    if curve and n_has_rel:
        k_max = int((stats.n_candidates + n_pos_all - n_pos_scored).max())
        grid = _curve_grid(max(k_max, 1))
        curves["k"] = [float(k) for k in grid]
        curves["R@K"] = [float((first[has_rel] <= k).mean()) for k in grid]
        rel_ranks_q, rel_ranks = q[rel], ranks[rel]
        curves["recall@K"] = [
            float((np.bincount(rel_ranks_q[rel_ranks <= k], minlength=n_q)[has_rel] / n_rel[has_rel]).mean())
            for k in grid
        ]
    all_settings: dict[str, Any] = {
        "ks": list(ks),
        "ndcg_ks": list(ndcg_ks),
        "threshold": threshold,
        "ties": ties,
    }
    all_settings.update(settings or {})
    return MetricsReport(
        metrics=metrics, n_queries=n_used, settings=all_settings, counts=counts, curves=curves
    )
