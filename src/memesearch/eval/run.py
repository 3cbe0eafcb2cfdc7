"""Runs (scored query–item rows): the :class:`Run` type, its per-query view, and qrels inversion.

A :class:`Run` is what a retrieval system returned: rows of ``(query_id, item_id, score)``, optionally
with a per-row relevance ``label`` (the CBVS run file carries one). Rows are kept exactly as given —
including exact duplicates, which the published CBVS numbers count — and in input order, which the
``"input"`` tie rule of :mod:`memesearch.eval.ranking` uses.

Qrels (relevance judgements) are ``{query_id: {item_id: grade}}`` with integer grades, 0 = not
relevant. Run and qrels files are read and written by :mod:`memesearch.eval.run_io`.

Example::

    >>> run = Run.from_rows([("q1", "a", 0.9, 2), ("q1", "b", 0.1, 0)])
    >>> run.qrels_from_labels()
    {'q1': {'a': 2, 'b': 0}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class QueryCandidates:
    """The rows of one query, in input order.

    ``rows`` are the indices of these rows in the run (shape ``(n,)``), ``scores`` their scores and
    ``labels`` their labels (``None`` when the run has no label column).
    """

    query_id: str
    item_ids: list[str]
    scores: np.ndarray
    labels: np.ndarray | None
    rows: np.ndarray


@dataclass(frozen=True, eq=False)
class Run:
    """Scored ``(query_id, item_id, score)`` rows with an optional per-row integer ``label``.

    ``scores`` is a float64 array of shape ``(R,)``; ``labels`` an int64 array of shape ``(R,)`` or
    ``None``. Duplicate rows are kept (each row is one candidate).
    """

    query_ids: list[str]
    item_ids: list[str]
    scores: np.ndarray
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.query_ids)
        if len(self.item_ids) != n or self.scores.shape != (n,):
            raise ValueError(
                f"Run columns must have equal length: {n} query ids, {len(self.item_ids)} item ids, "
                f"scores of shape {self.scores.shape}"
            )
        if self.labels is not None and self.labels.shape != (n,):
            raise ValueError(f"Run labels must have shape ({n},), got {self.labels.shape}")
        if n and np.isnan(self.scores).any():
            bad = int(np.flatnonzero(np.isnan(self.scores))[0])
            raise ValueError(
                f"Run row {bad} (query {self.query_ids[bad]!r}) has a NaN score; scores must be numbers"
            )
        if self.labels is not None and n and int(self.labels.min()) < 0:
            bad = int(np.flatnonzero(self.labels < 0)[0])
            raise ValueError(f"Run row {bad} has label {int(self.labels[bad])}; labels must be integers >= 0")

    def __len__(self) -> int:
        return len(self.query_ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Run):
            return NotImplemented
        if (self.labels is None) != (other.labels is None):
            return False
        return (
            self.query_ids == other.query_ids
            and self.item_ids == other.item_ids
            and np.array_equal(self.scores, other.scores)
            and (self.labels is None or other.labels is None or np.array_equal(self.labels, other.labels))
        )

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[Any]]) -> Run:
        """Build a run from ``(query_id, item_id, score)`` or ``(query_id, item_id, score, label)`` tuples.

        All rows must have the same length. Example::

            >>> len(Run.from_rows([("q1", "a", 0.5), ("q1", "b", 0.2)]))
            2
        """
        qids: list[str] = []
        iids: list[str] = []
        scores: list[float] = []
        labels: list[int] = []
        width: int | None = None
        for i, row in enumerate(rows):
            if len(row) not in (3, 4):
                raise ValueError(f"row {i}: expected (query_id, item_id, score[, label]), got {row!r}")
            if width is None:
                width = len(row)
            elif len(row) != width:
                raise ValueError(
                    f"row {i}: has {len(row)} fields but earlier rows have {width}; mix not allowed"
                )
            qids.append(str(row[0]))
            iids.append(str(row[1]))
            scores.append(float(row[2]))
            if width == 4:
                labels.append(as_grade(row[3], f"row {i}"))
        return cls(
            query_ids=qids,
            item_ids=iids,
            scores=np.asarray(scores, dtype=np.float64),
            labels=np.asarray(labels, dtype=np.int64) if width == 4 else None,
        )

    @classmethod
    def from_scores(
        cls,
        scores: np.ndarray,
        query_ids: Sequence[str],
        item_ids: Sequence[str],
        k: int | None = None,
        qrels: dict[str, dict[str, int]] | None = None,
    ) -> Run:
        """The top ``k`` items of each row of a ``(Q, N)`` score matrix as a run (all when ``k`` is None).

        Rows of one query are ordered by descending score, equal scores by column order. With ``qrels``
        each row gets the label ``qrels[query][item]`` (0 when unjudged).
        """
        scores = np.asarray(scores)
        if scores.ndim != 2 or scores.shape != (len(query_ids), len(item_ids)):
            raise ValueError(
                f"scores must have shape (len(query_ids), len(item_ids)) = "
                f"({len(query_ids)}, {len(item_ids)}), got {scores.shape}"
            )
        n_items = scores.shape[1]
        kk = n_items if k is None else max(0, min(int(k), n_items))
        qids: list[str] = []
        iids: list[str] = []
        out_scores: list[np.ndarray] = []
        labels: list[int] = []
        for qi, qid in enumerate(query_ids):
            row = scores[qi]
            if kk < n_items:
                part = np.argpartition(-row, kk - 1)[:kk] if kk else np.empty(0, dtype=np.int64)
                # (kk,) columns; sort them by (-score, column) so ties follow gallery order
                top = part[np.lexsort((part, -row[part]))]
            else:
                top = np.lexsort((np.arange(n_items), -row))
            qids.extend([qid] * len(top))
            iids.extend(item_ids[j] for j in top)
            out_scores.append(row[top].astype(np.float64))
            if qrels is not None:
                judged = qrels.get(qid, {})
                labels.extend(int(judged.get(item_ids[j], 0)) for j in top)
        return cls(
            query_ids=qids,
            item_ids=iids,
            scores=np.concatenate(out_scores) if out_scores else np.empty(0, dtype=np.float64),
            labels=np.asarray(labels, dtype=np.int64) if qrels is not None else None,
        )

    def unique_query_ids(self) -> list[str]:
        """Query ids in order of first appearance."""
        return list(dict.fromkeys(self.query_ids))

    def query_index(self) -> tuple[list[str], np.ndarray]:
        """``(unique query ids in first-appearance order, (R,) int64 index of each row's query)``."""
        index: dict[str, int] = {}
        codes = np.fromiter(
            (index.setdefault(q, len(index)) for q in self.query_ids), dtype=np.int64, count=len(self)
        )
        return list(index), codes

    def by_query(self) -> dict[str, QueryCandidates]:
        """The rows of each query, queries in first-appearance order, rows in input order."""
        uniq, codes = self.query_index()
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(uniq) + 1))
        out: dict[str, QueryCandidates] = {}
        for qi, qid in enumerate(uniq):
            rows = order[bounds[qi] : bounds[qi + 1]]
            out[qid] = QueryCandidates(
                query_id=qid,
                item_ids=[self.item_ids[r] for r in rows],
                scores=self.scores[rows],
                labels=None if self.labels is None else self.labels[rows],
                rows=rows,
            )
        return out

    def duplicate_rows(self) -> int:
        """How many rows repeat an earlier ``(query_id, item_id)`` pair."""
        return len(self) - len(set(zip(self.query_ids, self.item_ids, strict=True)))

    def qrels_from_labels(self) -> dict[str, dict[str, int]]:
        """The run's own label column as qrels (``{query_id: {item_id: label}}``).

        Raises ``ValueError`` when the run has no labels, or when a repeated ``(query, item)`` pair
        carries two different labels (the dict could not hold both).
        """
        if self.labels is None:
            raise ValueError("this run has no label column; read qrels from a file instead")
        out: dict[str, dict[str, int]] = {}
        for q, d, lab in zip(self.query_ids, self.item_ids, self.labels.tolist(), strict=True):
            judged = out.setdefault(q, {})
            if judged.setdefault(d, lab) != lab:
                raise ValueError(f"query {q!r}, item {d!r} appears with labels {judged[d]} and {lab}")
        return out


def as_grade(value: Any, where: str) -> int:
    """``value`` as a relevance grade (an integer >= 0; ``2.0`` is accepted, ``True`` and ``1.5`` are not)."""
    if isinstance(value, bool):
        raise ValueError(f"{where}: label must be an integer >= 0, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int | np.integer) or int(value) < 0:
        raise ValueError(f"{where}: label must be an integer >= 0, got {value!r}")
    return int(value)


def invert_qrels(qrels: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """``{item_id: {query_id: grade}}``: the judgements seen from the items, for image->text evaluation.

    Example (image->text with a text->image score matrix ``s`` of shape (Q, N))::

        evaluate_scores(s.T, invert_qrels(qrels), item_ids, query_ids)
    """
    out: dict[str, dict[str, int]] = {}
    for q, judged in qrels.items():
        for d, g in judged.items():
            out.setdefault(d, {})[q] = int(g)
    return out
