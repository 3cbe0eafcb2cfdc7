"""Retrieval metrics exactly as SPEC §5, from runs, dense score matrices and embeddings.

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

Example::

    >>> from memesearch.eval.run import Run
    >>> run = Run.from_rows([("q", "a", 0.9, 0), ("q", "b", 0.5, 1)])
    >>> evaluate_run(run, ks=(1,), ndcg_ks=(1,))["R@1"]
    0.0
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memesearch.eval.ranking import (
    CandidateStats,
    TieRule,
    check_tie_rule,
    pair_counts,
    positive_ranks,
    stats_from_blocks,
    stats_from_rows,
)
from memesearch.eval.run import Run
from memesearch.utils.io import progress_bar

__all__ = [
    "MetricsReport",
    "TieRule",
    "compute_metrics",
    "evaluate_embeddings",
    "evaluate_run",
    "evaluate_scores",
]

log = logging.getLogger(__name__)

Qrels = Mapping[str, Mapping[str, int]]
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


def evaluate_run(
    run: Run,
    qrels: Qrels | None = None,
    *,
    ks: Sequence[int] = (1, 5, 10),
    ndcg_ks: Sequence[int] = (1, 3, 5, 10),
    threshold: int = 1,
    ties: TieRule = "pessimistic",
    skip_missing_queries: bool = False,
    curve: bool = True,
) -> MetricsReport:
    """Metrics of a run; each query's candidates are its own rows (see the module docstring).

    With ``qrels=None`` the run's own label column gives each row's grade (the CBVS way). With qrels,
    a row's grade is ``qrels[query][item]`` (0 when unjudged); judged relevant items that the query's
    rows lack are counted as not found, and queries of ``qrels`` that have no row at all count as
    queries that found nothing — unless ``skip_missing_queries`` (trec_eval's default behaviour).

    Example::

        >>> run = Run.from_rows([("q", "a", 0.9, 2), ("q", "b", 0.9, 0), ("q", "c", 0.1, 1)])
        >>> evaluate_run(run, ties="pessimistic")["R@1"], evaluate_run(run, ties="optimistic")["R@1"]
        (0.0, 1.0)
    """
    ties = check_tie_rule(ties)
    query_ids, codes = run.query_index()
    unscored: list[tuple[int, int]] = []
    if qrels is None:
        if run.labels is None:
            raise ValueError("the run has no label column: pass qrels (e.g. read_qrels(path))")
        grades = run.labels
        source = "run labels"
    else:
        grades = np.fromiter(
            (
                int(qrels.get(qid, {}).get(iid, 0))
                for qid, iid in zip(run.query_ids, run.item_ids, strict=True)
            ),
            dtype=np.int64,
            count=len(run),
        )
        if len(grades) and grades.min() < 0:
            raise ValueError("qrels grades must be integers >= 0")
        source = "qrels"
        present: dict[str, set[str]] = {}
        for qid, iid in zip(run.query_ids, run.item_ids, strict=True):
            present.setdefault(qid, set()).add(iid)
        qpos = {qid: i for i, qid in enumerate(query_ids)}
        n_missing_q = 0
        for qid, judged in qrels.items():
            positives = [(iid, int(gr)) for iid, gr in judged.items() if gr > 0]
            if not positives:
                continue
            qi = qpos.get(qid)
            if qi is None:
                if skip_missing_queries:
                    continue
                qi = qpos[qid] = len(query_ids)
                query_ids.append(qid)
                n_missing_q += 1
            have = present.get(qid, set())
            unscored.extend((qi, gr) for iid, gr in positives if iid not in have)
        if n_missing_q:
            log.warning(
                "%d queries of the qrels have relevant items but no row in the run; they count as finding "
                "nothing (pass skip_missing_queries=True to ignore them, as trec_eval does)",
                n_missing_q,
            )
    stats = stats_from_rows(codes, query_ids, run.scores, grades, unscored)
    return compute_metrics(
        stats,
        ks=ks,
        ndcg_ks=ndcg_ks,
        threshold=threshold,
        ties=ties,
        curve=curve,
        settings={"candidates": "run rows", "grades": source, "duplicate_rows": run.duplicate_rows()},
    )


def _gallery_positives(
    qrels: Qrels, query_ids: Sequence[str], item_ids: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """(pos_query, pos_col, pos_grade, unscored) of a gallery evaluation."""
    if len(set(item_ids)) != len(item_ids):
        raise ValueError("item_ids must be unique: the gallery holds each item once")
    if len(set(query_ids)) != len(query_ids):
        raise ValueError("query_ids must be unique: qrels are looked up by query id")
    col_of = {iid: j for j, iid in enumerate(item_ids)}
    pq: list[int] = []
    pc: list[int] = []
    pg: list[int] = []
    unscored: list[tuple[int, int]] = []
    for qi, qid in enumerate(query_ids):
        for iid, grade in qrels.get(qid, {}).items():
            if grade < 0:
                raise ValueError(f"query {qid!r}, item {iid!r}: grade {grade} < 0; grades must be >= 0")
            if grade == 0:
                continue
            col = col_of.get(iid)
            if col is None:
                unscored.append((qi, int(grade)))
            else:
                pq.append(qi)
                pc.append(col)
                pg.append(int(grade))
    if unscored:
        log.warning(
            "%d relevant (query, item) judgements name items that are not in the gallery; "
            "they count as never found",
            len(unscored),
        )
    return (
        np.asarray(pq, dtype=np.int64),
        np.asarray(pc, dtype=np.int64),
        np.asarray(pg, dtype=np.int64),
        unscored,
    )


def evaluate_scores(
    scores: np.ndarray,
    qrels: Qrels,
    query_ids: Sequence[str],
    item_ids: Sequence[str],
    *,
    ks: Sequence[int] = (1, 5, 10),
    ndcg_ks: Sequence[int] = (1, 3, 5, 10),
    threshold: int = 1,
    ties: TieRule = "pessimistic",
    chunk_size: int = 65536,
    query_chunk_size: int = 1024,
    curve: bool = True,
) -> MetricsReport:
    """Metrics of a dense ``(Q, N)`` score matrix; every query ranks the whole gallery ``item_ids``.

    ``scores[i, j]`` is query ``query_ids[i]`` vs item ``item_ids[j]``; the ``input`` tie rule uses
    column order. Work is done in blocks of ``query_chunk_size x chunk_size``.

    Example::

        >>> s = np.array([[0.9, 0.1, 0.5]])
        >>> evaluate_scores(s, {"q": {"b": 1}}, ["q"], ["a", "b", "c"])["MdR"]
        3.0
    """
    ties = check_tie_rule(ties)
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape != (len(query_ids), len(item_ids)):
        raise ValueError(
            f"scores must have shape (len(query_ids), len(item_ids)) = ({len(query_ids)}, {len(item_ids)}), "
            f"got {scores.shape}"
        )
    if np.issubdtype(scores.dtype, np.floating) and np.isnan(scores).any():
        raise ValueError("scores contain NaN; every (query, item) pair needs a score")
    pq, pc, pg, unscored = _gallery_positives(qrels, query_ids, item_ids)
    pos_score = scores[pq, pc].astype(np.float64)

    def block(q0: int, q1: int, i0: int, i1: int) -> np.ndarray:
        return scores[q0:q1, i0:i1]

    stats = stats_from_blocks(
        block,
        len(query_ids),
        len(item_ids),
        list(query_ids),
        pq,
        pc,
        pg,
        pos_score,
        unscored=unscored,
        need_eq_before=ties == "input",
        query_chunk=query_chunk_size,
        item_chunk=chunk_size,
    )
    return compute_metrics(
        stats,
        ks=ks,
        ndcg_ks=ndcg_ks,
        threshold=threshold,
        ties=ties,
        curve=curve,
        settings={"candidates": "gallery", "gallery_size": len(item_ids)},
    )


def evaluate_embeddings(
    query_emb: np.ndarray,
    item_emb: np.ndarray,
    qrels: Qrels,
    query_ids: Sequence[str],
    item_ids: Sequence[str],
    *,
    ks: Sequence[int] = (1, 5, 10),
    ndcg_ks: Sequence[int] = (1, 3, 5, 10),
    threshold: int = 1,
    ties: TieRule = "pessimistic",
    chunk_size: int = 65536,
    query_chunk_size: int = 1024,
    progress: bool = False,
    curve: bool = True,
) -> MetricsReport:
    """Metrics of dot-product retrieval with ``(Q, D)`` query and ``(N, D)`` item embeddings.

    Scores are dot products (pass L2-normalised embeddings for cosine). The ``(Q, N)`` matrix is never
    built: it is computed ``query_chunk_size x chunk_size`` at a time and each block only updates
    per-relevant-item counters, so memory stays at the embeddings plus about one block (256 MiB with
    the defaults in float32). A positive's own score is computed once, in float64 then cast to the
    block dtype, and used for every comparison, so ranks are consistent whatever BLAS does.

    Example::

        >>> qe = np.array([[1.0, 0.0]]); ie = np.array([[0.2, 1.0], [0.9, 0.0]])
        >>> evaluate_embeddings(qe, ie, {"q": {"y": 1}}, ["q"], ["x", "y"])["R@1"]
        1.0
    """
    ties = check_tie_rule(ties)
    qe = np.asarray(query_emb)
    ie = np.asarray(item_emb)
    if not np.issubdtype(qe.dtype, np.floating):
        qe = qe.astype(np.float32)
    if not np.issubdtype(ie.dtype, np.floating):
        ie = ie.astype(np.float32)
    if qe.ndim != 2 or ie.ndim != 2 or qe.shape[1] != ie.shape[1]:
        raise ValueError(f"expected (Q, D) query and (N, D) item embeddings, got {qe.shape} and {ie.shape}")
    if qe.shape[0] != len(query_ids) or ie.shape[0] != len(item_ids):
        raise ValueError(
            f"{qe.shape[0]} query embeddings for {len(query_ids)} query ids, "
            f"{ie.shape[0]} item embeddings for {len(item_ids)} item ids"
        )
    dtype = np.result_type(qe.dtype, ie.dtype)
    qe, ie = qe.astype(dtype, copy=False), ie.astype(dtype, copy=False)
    if not (np.isfinite(qe).all() and np.isfinite(ie).all()):
        raise ValueError("embeddings contain NaN or inf")
    pq, pc, pg, unscored = _gallery_positives(qrels, query_ids, item_ids)
    # each positive's score, in float64 then rounded to the block dtype, in slices to bound memory
    pos_score = np.empty(len(pq), dtype=np.float64)
    step = 65536
    for a in range(0, len(pq), step):
        b = min(a + step, len(pq))
        exact = np.einsum("pd,pd->p", qe[pq[a:b]].astype(np.float64), ie[pc[a:b]].astype(np.float64))
        pos_score[a:b] = exact.astype(dtype)

    def block(q0: int, q1: int, i0: int, i1: int) -> np.ndarray:
        return qe[q0:q1] @ ie[i0:i1].T  # (q1 - q0, i1 - i0)

    with progress_bar("scoring gallery", len(item_ids), enabled=progress) as advance:
        stats = stats_from_blocks(
            block,
            len(query_ids),
            len(item_ids),
            list(query_ids),
            pq,
            pc,
            pg,
            pos_score,
            unscored=unscored,
            need_eq_before=ties == "input",
            query_chunk=query_chunk_size,
            item_chunk=chunk_size,
            copy_blocks=False,  # each block is a fresh matmul result
            progress=advance,
        )
    return compute_metrics(
        stats,
        ks=ks,
        ndcg_ks=ndcg_ks,
        threshold=threshold,
        ties=ties,
        curve=curve,
        settings={"candidates": "gallery", "gallery_size": len(item_ids), "score": "dot product"},
    )
