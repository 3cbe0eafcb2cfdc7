"""Evaluate what ``memesearch search`` really returns from an existing index (SPEC §5 metrics).

Queries come from a queries file (native JSONL lines ``{"id", "text", "qrels": {ref: grade}, "meta"}``)
or from a split of a dataset. A user knows paths, not ids, so a qrels key (``ref``) may name an indexed
item by its id (16 hex digits), by the SHA-256 of its bytes (64 hex digits) or by a file path (absolute,
or relative to the queries file's folder). A dataset split's qrels name the dataset's item ids, which are
matched to indexed items through the items' file paths.

The rankings are :meth:`memesearch.search.Searcher.score_matrix`: the exact score of every query against
every item, per branch and fused with the index's weights — on an exact index, the ranking ``search``
returns (on an HNSW index, ``search`` re-scores approximate candidates; this is its exact ceiling).
The gallery is every indexed item, or (``gallery="split"``) only the items of the dataset split.

Example::

    >>> searcher = Searcher(Index.open("memes.idx", readonly=True))             # doctest: +SKIP
    >>> queries = queries_from_file("my_queries.jsonl", searcher.index)
    >>> print(evaluate_index(searcher, queries).table())
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.data.records import Dataset, Query
from memesearch.errors import DataFormatError
from memesearch.eval.metrics import MetricsReport
from memesearch.eval.report import BRANCH_COLUMNS, branch_rows, branch_table
from memesearch.eval.retrieval import evaluate_scores
from memesearch.search.branches import BRANCHES

COLUMNS = BRANCH_COLUMNS
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class IndexQueries:
    """Queries whose qrels name gallery columns, and the gallery: one column per (index item, label).

    ``columns[j]`` is the rowid of column j's item and ``labels[j]`` the id the qrels use for it (the index
    item id, or a dataset item id: an item found at several dataset paths is one column per dataset id).
    """

    queries: list[Query]
    columns: np.ndarray  # (N,) rowids
    labels: list[str]
    source: str = ""


@dataclass
class IndexEvaluation:
    """Reports per query group (``all``, then each language) and branch (each branch, then ``fused``)."""

    reports: dict[str, dict[str, MetricsReport]]
    weights: dict[str, float]
    n_items: int
    settings: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        return branch_rows(self.reports)

    def table(self) -> str:
        """A Markdown table: one row per (query group, branch)."""
        return branch_table(self.rows())


def _all_items(index: Any) -> dict[int, Any]:
    items: dict[int, Any] = index.items(index.rowids_where())
    return items


def queries_from_file(path: str | os.PathLike[str], index: Any) -> IndexQueries:
    """Queries of a native queries JSONL file, their qrels resolved to indexed items (see the module
    docstring); :class:`DataFormatError` names every reference that matches no indexed item."""
    from memesearch.data.formats.native import read_queries

    path = Path(path)
    queries = read_queries(path)
    if not queries:
        raise DataFormatError("the queries file holds no query", path=path, hint="one JSON object per line")
    items = _all_items(index)
    by_id = {it.id: it.id for it in items.values()}
    by_sha = {it.sha256: it.id for it in items.values()}
    by_path = {os.path.normpath(p): it.id for it in items.values() for p in it.paths}
    base = path.resolve().parent
    unknown: list[str] = []
    resolved: list[Query] = []
    for q in queries:
        qrels: dict[str, int] = {}
        for ref, grade in q.qrels.items():
            item_id = _resolve(ref, by_id, by_sha, by_path, base)
            if item_id is None:
                unknown.append(f"{q.id}: {ref!r}")
                continue
            qrels[item_id] = max(grade, qrels.get(item_id, 0))
        resolved.append(Query(q.id, q.text, qrels, dict(q.meta)))
    if unknown:
        shown = "; ".join(unknown[:5]) + (f"; and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise DataFormatError(
            f"{len(unknown)} relevance judgement(s) name no item of the index ({shown})",
            path=path,
            hint="name items by id (memesearch search --json shows them), by SHA-256, or by an indexed file "
            "path (absolute, or relative to the queries file); index the missing files first",
        )
    rows = sorted(items)
    return IndexQueries(resolved, np.array(rows, dtype=np.int64), [items[r].id for r in rows], str(path))


def _resolve(
    ref: str, by_id: dict[str, str], by_sha: dict[str, str], by_path: dict[str, str], base: Path
) -> str | None:
    key = ref.strip()
    low = key.lower()
    if _HEX16.match(low) and low in by_id:
        return by_id[low]
    if _HEX64.match(low) and low in by_sha:
        return by_sha[low]
    expanded = os.path.expanduser(key)
    candidates = [expanded] if os.path.isabs(expanded) else [str(base / expanded), os.path.abspath(expanded)]
    for c in candidates:
        hit = by_path.get(os.path.normpath(c))
        if hit is not None:
            return hit
    return None


def queries_from_dataset(dataset: Dataset, split: str, index: Any, *, gallery: str = "index") -> IndexQueries:
    """The queries of ``dataset[split]``; dataset items are matched to indexed items by file path.

    ``gallery="index"``: every indexed item is a candidate (what search ranks); ``"split"``: only the
    items of the split. A split item that is not in the index is an error naming how many are missing.
    """
    if gallery not in ("index", "split"):
        raise DataFormatError(f"gallery must be 'index' or 'split', got {gallery!r}")
    sp = dataset[split]
    path_to_ids: dict[str, list[str]] = {}
    for it in sp.items:
        p = it.resolve_path(dataset.root)
        if p is not None:
            path_to_ids.setdefault(os.path.normpath(os.path.abspath(p)), []).append(it.id)
    items = _all_items(index)
    columns: list[int] = []
    labels: list[str] = []
    found: set[str] = set()
    for rid in sorted(items):
        ids = [d for p in items[rid].paths for d in path_to_ids.get(os.path.normpath(p), [])]
        for dataset_id in dict.fromkeys(ids):
            columns.append(rid)
            labels.append(dataset_id)
            found.add(dataset_id)
        if not ids and gallery == "index":
            columns.append(rid)
            labels.append(items[rid].id)
    missing = [it.id for it in sp.items if it.id not in found]
    if missing:
        raise DataFormatError(
            f"{len(missing)} of the {len(sp.items)} items of split {split!r} are not in the index "
            f"(e.g. {', '.join(missing[:3])})",
            hint=f"index them first: memesearch index {dataset.root} --splits {split} --index DIR",
        )
    return IndexQueries(
        list(sp.queries), np.array(columns, dtype=np.int64), labels, f"{dataset.name}/{split}"
    )


def evaluate_index(
    searcher: Any,
    queries: IndexQueries,
    *,
    by_lang: bool = True,
    ties: str = "pessimistic",
    threshold: int = 1,
    precomputed: tuple[np.ndarray, dict[str, np.ndarray]] | None = None,
) -> IndexEvaluation:
    """SPEC §5 metrics of every branch and of the fused ranking, over ``queries``' gallery.

    ``precomputed``: what ``searcher.score_matrix`` returns for these queries' texts, when the caller has it
    already (the queries are then not encoded again)."""
    from memesearch.eval.ranking import check_tie_rule
    from memesearch.models.fusion import NO_SCORE

    rule = check_tie_rule(ties)
    qs = queries.queries
    rowids, scores = precomputed if precomputed is not None else searcher.score_matrix([q.text for q in qs])
    col_of = {int(r): j for j, r in enumerate(rowids.tolist())}
    cols = np.array([col_of[int(r)] for r in queries.columns], dtype=np.int64)
    groups: dict[str, list[int]] = {"all": list(range(len(qs)))}
    if by_lang:
        for i, q in enumerate(qs):
            lang = q.meta.get("lang")
            if isinstance(lang, str) and lang:
                groups.setdefault(lang, []).append(i)
    qrels = {q.id: dict(q.qrels) for q in qs}
    reports: dict[str, dict[str, MetricsReport]] = {}
    for group, rows in groups.items():
        qids = [qs[i].id for i in rows]
        reports[group] = {}
        for name in (*BRANCHES, "fused"):
            if name not in scores:
                continue  # the objects branch of an index without regions
            picked = scores[name][np.ix_(np.asarray(rows, dtype=np.int64), cols)]
            matrix = np.nan_to_num(picked.astype(np.float64), nan=NO_SCORE)
            reports[group][name] = evaluate_scores(
                matrix,
                qrels,
                qids,
                queries.labels,
                ties=rule,
                threshold=threshold,
                curve=False,
            )
    settings = {
        "index": str(searcher.index.root),
        "queries": queries.source,
        "ties": ties,
        "threshold": threshold,
    }
    return IndexEvaluation(reports, dict(searcher.weights), len(set(queries.columns.tolist())), settings)


__all__ = [
    "IndexEvaluation",
    "IndexQueries",
    "evaluate_index",
    "queries_from_dataset",
    "queries_from_file",
]
