"""Where each relevant item lands in a ranking, without materialising the ranking.

Every SPEC §5 metric depends only on the grades found at each rank. Items with grade 0 ("zero items":
unjudged or judged not relevant) add nothing to any gain, so a query is fully described by its
*positives* (grade > 0) and, for each positive, how many zero items of the same query score above it
(``zero_gt``), equal to it (``zero_eq``), and equal to it but earlier in input order
(``zero_eq_before``). :class:`CandidateStats` holds exactly that; :func:`positive_ranks` turns it into
1-based ranks under a tie rule, and :mod:`memesearch.eval.metrics` computes every metric from it.

This is what lets a 10,000 x 1,000,000 evaluation run in a few GiB: the score matrix is produced one
block at a time and each block only updates per-positive counters (:func:`stats_from_blocks`).

Tie rules (ties = equal scores; the rule decides the order inside a group of equal scores):

- ``pessimistic`` (default): higher grades after lower grades, so a relevant item is placed after
  every item it ties with that is less relevant (CLIP4Clip #80 shows optimistic ties inflate recall);
- ``optimistic``: higher grades first;
- ``input``: input order (row order of a run, column order of a score matrix) — this is what the CBVS
  reference evaluator gets from sorting a run's rows in file order.

Items with equal score and equal grade are ordered by input order under every rule (it does not
change any metric).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

TieRule = Literal["pessimistic", "optimistic", "input"]
TIE_RULES: tuple[str, ...] = ("pessimistic", "optimistic", "input")


@dataclass(frozen=True, eq=False)
class CandidateStats:
    """Per-query candidate counts and per-positive tie counts (CSR layout over queries).

    Shapes: ``Q`` queries, ``P`` positives (items with grade > 0), positives grouped by query in
    ascending ``pos_query``.

    - ``query_ids``: ``(Q,)`` ids;
    - ``n_candidates``: ``(Q,)`` number of *scored* candidates of each query (run rows or gallery size);
    - ``pos_query``: ``(P,)`` query index of each positive;
    - ``pos_grade``: ``(P,)`` grade (> 0);
    - ``pos_score``: ``(P,)`` float64 score; NaN for a judged positive that was not scored at all
      (missing from the run or the gallery): it ranks after every candidate and never counts as found;
    - ``pos_order``: ``(P,)`` input position (run row or gallery column), -1 when not scored;
    - ``zero_gt`` / ``zero_eq`` / ``zero_eq_before``: ``(P,)`` zero items of the same query with a
      higher score / an equal score / an equal score and an earlier input position.
    """

    query_ids: list[str]
    n_candidates: np.ndarray
    pos_query: np.ndarray
    pos_grade: np.ndarray
    pos_score: np.ndarray
    pos_order: np.ndarray
    zero_gt: np.ndarray
    zero_eq: np.ndarray
    zero_eq_before: np.ndarray

    @property
    def n_queries(self) -> int:
        return len(self.query_ids)

    @property
    def scored(self) -> np.ndarray:
        """``(P,)`` bool: the positive has a score (it is among the query's candidates)."""
        return ~np.isnan(self.pos_score)


def check_tie_rule(ties: str) -> TieRule:
    if ties not in TIE_RULES:
        raise ValueError(f"unknown tie rule {ties!r}; use one of {', '.join(TIE_RULES)}")
    return ties  # type: ignore[return-value]


def positive_ranks(stats: CandidateStats, ties: TieRule) -> np.ndarray:
    """1-based rank of every positive among its query's candidates: ``(P,)`` float64, inf when not scored.

    rank = 1 + (zero items placed before it) + (positives placed before it). Zero items have grade 0,
    below every positive: under ``pessimistic`` the equal-scored ones go first, under ``optimistic``
    after, under ``input`` by input position.
    """
    check_tie_rule(ties)
    n_pos = len(stats.pos_query)
    ranks = np.full(n_pos, np.inf)
    scored = stats.scored
    idx = np.flatnonzero(scored)
    if idx.size == 0:
        return ranks
    if ties == "pessimistic":
        zero_before = stats.zero_gt + stats.zero_eq
        tie_key = stats.pos_grade
    elif ties == "optimistic":
        zero_before = stats.zero_gt
        tie_key = -stats.pos_grade
    else:
        zero_before = stats.zero_gt + stats.zero_eq_before
        tie_key = np.zeros_like(stats.pos_grade)
    q = stats.pos_query[idx]
    # order the scored positives of each query by (-score, tie key, input position); the last key is primary
    order = np.lexsort((stats.pos_order[idx], tie_key[idx], -stats.pos_score[idx], q))
    q_sorted = q[order]
    group_start = np.searchsorted(q_sorted, q_sorted, side="left")
    pos_before = np.empty(idx.size, dtype=np.int64)
    pos_before[order] = np.arange(idx.size) - group_start
    ranks[idx] = 1 + zero_before[idx] + pos_before
    return ranks


def pair_counts(stats: CandidateStats) -> tuple[int, int, int, np.ndarray]:
    """PNR pair counts pooled over queries: ``(pos, neg, tie, has_pair)``.

    Every pair of *scored* candidates of one query with different grades is one pair: ``pos`` when the
    higher grade has the higher score, ``neg`` when it has the lower score, ``tie`` when the scores are
    equal. ``has_pair`` is a ``(Q,)`` bool array: the query contributed at least one pair.
    """
    scored = stats.scored
    q = stats.pos_query[scored]
    g = stats.pos_grade[scored]
    s = stats.pos_score[scored]
    n_q = stats.n_queries
    n_pos_scored = np.bincount(q, minlength=n_q)
    n_zero = stats.n_candidates - n_pos_scored
    # positive vs zero item
    gt = stats.zero_gt[scored]
    eq = stats.zero_eq[scored]
    below = n_zero[q] - gt - eq
    pos, neg, tie = int(below.sum()), int(gt.sum()), int(eq.sum())
    has_pair = (n_pos_scored > 0) & (n_zero > 0)
    # positive vs positive of a lower grade: for each grade v, search the grade-v positives of the same
    # query (sorted by the key query * U + dense score rank) for each higher-graded positive
    if q.size:
        _, s_rank = np.unique(s, return_inverse=True)
        n_u = int(s_rank.max()) + 1
        key = q.astype(np.int64) * n_u + s_rank
        grades = np.unique(g)
        for v in grades[:-1]:
            lower = np.sort(key[g == v])
            above = g > v
            a_key, a_q = key[above], q[above].astype(np.int64)
            q_lo = np.searchsorted(lower, a_q * n_u, side="left")
            q_hi = np.searchsorted(lower, (a_q + 1) * n_u, side="left")
            lo = np.searchsorted(lower, a_key, side="left")
            hi = np.searchsorted(lower, a_key, side="right")
            pos += int((lo - q_lo).sum())
            tie += int((hi - lo).sum())
            neg += int((q_hi - hi).sum())
            has_pair[np.unique(a_q[q_hi > q_lo])] = True
    return pos, neg, tie, has_pair


# ---------------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------------


def _assemble(
    query_ids: Sequence[str],
    n_candidates: np.ndarray,
    pos_query: np.ndarray,
    pos_grade: np.ndarray,
    pos_score: np.ndarray,
    pos_order: np.ndarray,
    zero_counts: tuple[np.ndarray, np.ndarray, np.ndarray],
    unscored: Sequence[tuple[int, int]],
) -> CandidateStats:
    """Append the unscored positives (score NaN, order -1, no counts) and group positives by query."""
    columns = [
        np.asarray(pos_query, dtype=np.int64),
        np.asarray(pos_grade, dtype=np.int64),
        np.asarray(pos_score, dtype=np.float64),
        np.asarray(pos_order, dtype=np.int64),
        *(np.asarray(c, dtype=np.int64) for c in zero_counts),
    ]
    if len(unscored):
        extra = np.asarray(unscored, dtype=np.int64).reshape(-1, 2)
        k = len(extra)
        fill = [extra[:, 0], extra[:, 1], np.full(k, np.nan), np.full(k, -1, dtype=np.int64)]
        fill += [np.zeros(k, dtype=np.int64)] * 3
        columns = [np.concatenate([c, f]) for c, f in zip(columns, fill, strict=True)]
    o = np.argsort(columns[0], kind="stable")
    pq, pg, ps, po, zgt, zeq, zeb = (c[o] for c in columns)
    return CandidateStats(
        query_ids=list(query_ids),
        n_candidates=np.asarray(n_candidates, dtype=np.int64),
        pos_query=pq,
        pos_grade=pg,
        pos_score=ps,
        pos_order=po,
        zero_gt=zgt,
        zero_eq=zeq,
        zero_eq_before=zeb,
    )


def stats_from_rows(
    query_codes: np.ndarray,
    query_ids: list[str],
    scores: np.ndarray,
    grades: np.ndarray,
    unscored: Sequence[tuple[int, int]] = (),
) -> CandidateStats:
    """Stats of a run: row ``r`` belongs to query ``query_codes[r]``, has ``scores[r]`` and ``grades[r]``.

    ``unscored`` lists ``(query index, grade)`` for judged positives that no row of their query holds.
    Input position = row index. Vectorised over the whole run (no per-query Python loop).
    """
    n_q = len(query_ids)
    n_rows = len(scores)
    codes = np.asarray(query_codes, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    grades = np.asarray(grades, dtype=np.int64)
    rows = np.arange(n_rows, dtype=np.int64)
    is_pos = grades > 0
    n_candidates = np.bincount(codes, minlength=n_q).astype(np.int64)
    if n_rows > 3_000_000_000:  # the int64 keys below hold up to n_rows**2
        raise ValueError(f"a run of {n_rows} rows is too large; evaluate it in parts (by query)")

    # dense score rank: equal floats share a rank, so (query, score) fits one int64 key
    if n_rows:
        _, s_rank = np.unique(scores, return_inverse=True)
        n_u = int(s_rank.max()) + 1
    else:
        s_rank, n_u = np.zeros(0, dtype=np.int64), 1
    key = codes * n_u + s_rank
    zero_key = np.sort(key[~is_pos])
    p_key = key[is_pos]
    p_q = codes[is_pos]
    lo = np.searchsorted(zero_key, p_key, side="left")
    hi = np.searchsorted(zero_key, p_key, side="right")
    q_hi = np.searchsorted(zero_key, (p_q + 1) * n_u, side="left")
    zero_gt = q_hi - hi
    zero_eq = hi - lo
    # equal score and earlier row: zero rows sorted by (key, row); count rows < the positive's row
    # inside the equal-key range, via a second key (key, row) -> start of the key's block * n_rows + row
    zero_rows = rows[~is_pos]
    zo = np.lexsort((zero_rows, key[~is_pos]))
    z_sorted_key = key[~is_pos][zo]
    z_sorted_row = zero_rows[zo]
    if z_sorted_key.size:
        # compose (key, row) as one int64 through the position of the key block
        block = np.searchsorted(z_sorted_key, z_sorted_key, side="left")  # start of each equal-key block
        composite = block * max(n_rows, 1) + z_sorted_row
        p_composite = lo * max(n_rows, 1) + rows[is_pos]
        # only meaningful where equal-key zeros exist (else lo points at the next key's block)
        zero_eq_before = np.where(zero_eq > 0, np.searchsorted(composite, p_composite, side="left") - lo, 0)
    else:
        zero_eq_before = np.zeros(p_key.size, dtype=np.int64)

    return _assemble(
        query_ids,
        n_candidates,
        p_q,
        grades[is_pos],
        scores[is_pos],
        rows[is_pos],
        (zero_gt, zero_eq, zero_eq_before),
        unscored,
    )


def _count_against(
    rows: np.ndarray, thr: np.ndarray, limit: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per row of ``rows`` (R, W): cells above ``thr`` (R,), equal to it, and equal in columns < ``limit``."""
    t = thr.astype(rows.dtype)[:, None]
    gt = np.count_nonzero(rows > t, axis=1)
    equal = rows == t  # (R, W) bool
    eq = np.count_nonzero(equal, axis=1)
    if limit is None:
        return gt, eq, None
    eq_before = np.zeros(len(rows), dtype=np.int64)
    tied = np.flatnonzero(eq)  # exact ties are rare with float scores: only look at those rows
    if tied.size:
        earlier = np.arange(rows.shape[1])[None, :] < limit[tied, None]
        eq_before[tied] = np.count_nonzero(equal[tied] & earlier, axis=1)
    return gt, eq, eq_before


BlockFn = Callable[[int, int, int, int], np.ndarray]
"""``block(q0, q1, i0, i1) -> (q1 - q0, i1 - i0)`` scores; may be a view (it is not modified)."""


def stats_from_blocks(
    block: BlockFn,
    n_queries: int,
    n_items: int,
    query_ids: list[str],
    pos_query: np.ndarray,
    pos_col: np.ndarray,
    pos_grade: np.ndarray,
    pos_score: np.ndarray,
    *,
    unscored: Sequence[tuple[int, int]] = (),
    need_eq_before: bool = True,
    query_chunk: int = 1024,
    item_chunk: int = 65536,
    max_pos_elements: int = 1 << 25,
    copy_blocks: bool = True,
    progress: Callable[[int], None] | None = None,
) -> CandidateStats:
    """Stats of a gallery evaluation where the ``(Q, N)`` score matrix is only seen block by block.

    ``pos_*`` describe the positives (grade > 0) of every query with their column and their score
    (``pos_score`` must equal what ``block`` gives for that cell; it is compared in the block's dtype).
    Peak extra memory is about one block plus ``max_pos_elements`` scores (plus a copy of the block
    when ``copy_blocks``: needed when ``block`` returns a view of the caller's matrix, which is never
    modified). ``progress(n)`` is called with the number of item columns finished per block column.
    """
    pos_query = np.asarray(pos_query, dtype=np.int64)
    pos_col = np.asarray(pos_col, dtype=np.int64)
    order = np.lexsort((pos_col, pos_query))
    pos_query, pos_col = pos_query[order], pos_col[order]
    pos_grade = np.asarray(pos_grade, dtype=np.int64)[order]
    pos_score = np.asarray(pos_score, dtype=np.float64)[order]
    n_pos = len(pos_query)
    zero_gt = np.zeros(n_pos, dtype=np.int64)
    zero_eq = np.zeros(n_pos, dtype=np.int64)
    zero_eq_before = np.zeros(n_pos, dtype=np.int64)
    q_bounds = np.searchsorted(pos_query, np.arange(n_queries + 1))

    for i0 in range(0, n_items, item_chunk):
        i1 = min(i0 + item_chunk, n_items)
        width = i1 - i0
        for q0 in range(0, n_queries, query_chunk):
            q1 = min(q0 + query_chunk, n_queries)
            p0, p1 = int(q_bounds[q0]), int(q_bounds[q1])
            if p0 == p1:
                continue  # no positive in these queries: nothing to count
            sblock = block(q0, q1, i0, i1)  # (q1 - q0, width)
            if not np.issubdtype(sblock.dtype, np.floating):
                sblock = sblock.astype(np.float64)
            # positives must not be counted as zero items: blank their cells (NaN compares false)
            in_block = (pos_col[p0:p1] >= i0) & (pos_col[p0:p1] < i1)
            if in_block.any():
                if copy_blocks:
                    sblock = np.array(sblock, copy=True)
                sel = np.flatnonzero(in_block) + p0
                sblock[pos_query[sel] - q0, pos_col[sel] - i0] = np.nan
            n_rows = q1 - q0
            # the j-th positive of every query: at most one per block row. When most rows have one,
            # compare the whole block against a per-row threshold (no copy); otherwise gather the rows.
            within = np.arange(p0, p1) - q_bounds[pos_query[p0:p1]]
            for j in range(int(within.max()) + 1):
                sel = np.flatnonzero(within == j) + p0
                if 2 * len(sel) >= n_rows:
                    local = pos_query[sel] - q0
                    thr = np.full(n_rows, np.nan, dtype=sblock.dtype)  # rows without a positive count nothing
                    thr[local] = pos_score[sel]
                    limit = np.zeros(n_rows, dtype=np.int64)
                    limit[local] = np.clip(pos_col[sel] - i0, 0, width)
                    gt, eq, eqb = _count_against(sblock, thr, limit if need_eq_before else None)
                    zero_gt[sel] += gt[local]
                    zero_eq[sel] += eq[local]
                    if eqb is not None:
                        zero_eq_before[sel] += eqb[local]
                    continue
                p_step = max(1, max_pos_elements // max(width, 1))
                for a in range(0, len(sel), p_step):
                    part = sel[a : a + p_step]
                    rows = sblock[pos_query[part] - q0]  # (len(part), width) copy of those rows
                    limit = np.clip(pos_col[part] - i0, 0, width)
                    thr = pos_score[part].astype(sblock.dtype)
                    gt, eq, eqb = _count_against(rows, thr, limit if need_eq_before else None)
                    zero_gt[part] += gt
                    zero_eq[part] += eq
                    if eqb is not None:
                        zero_eq_before[part] += eqb
        if progress is not None:
            progress(width)

    return _assemble(
        query_ids,
        np.full(n_queries, n_items, dtype=np.int64),
        pos_query,
        pos_grade,
        pos_score,
        pos_col,
        (zero_gt, zero_eq, zero_eq_before),
        unscored,
    )
