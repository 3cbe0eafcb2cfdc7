"""Evaluate retrieval given as a run, a dense score matrix or embeddings (SPEC §5 metrics).

Each entry point turns its input into per-query candidate statistics
(:class:`~memesearch.eval.ranking.CandidateStats`) and hands them to
:func:`memesearch.eval.metrics.compute_metrics`; the metric definitions, which candidates each input
gives a query, and the tie rules are documented in :mod:`memesearch.eval.metrics`.

- :func:`evaluate_run`: a query's candidates are its own rows of the run;
- :func:`evaluate_scores`: a ``(Q, N)`` score matrix, every query ranks the whole gallery;
- :func:`evaluate_embeddings`: dot products of query and item embeddings, computed in blocks so the
  ``(Q, N)`` matrix is never built.

Example::

    >>> from memesearch.eval.run import Run
    >>> run = Run.from_rows([("q", "a", 0.9, 0), ("q", "b", 0.5, 1)])
    >>> evaluate_run(run, ks=(1,), ndcg_ks=(1,))["R@1"]
    0.0
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from memesearch.eval.metrics import MetricsReport, compute_metrics
from memesearch.eval.ranking import TieRule, check_tie_rule, stats_from_blocks, stats_from_rows
from memesearch.eval.run import Run
from memesearch.utils.io import progress_bar

__all__ = ["evaluate_embeddings", "evaluate_run", "evaluate_scores"]

log = logging.getLogger(__name__)

Qrels = Mapping[str, Mapping[str, int]]


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
