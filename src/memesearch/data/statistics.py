"""Counts that the dataset cards of the built benchmarks share (animated, collages): items per value of a
``meta`` field, and the queries of a split per language with their mean number of relevant items."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from memesearch.data.records import Item, Split


def count_meta(items: Iterable[Item], key: str) -> dict[str, int]:
    """How many ``items`` have each value of ``meta[key]``, sorted by value."""
    return dict(sorted(Counter(str(it.meta[key]) for it in items).items()))


def query_statistics(split: Split) -> dict[str, Any]:
    """``queries``, ``queries_per_language`` and ``mean_relevant_per_query`` (2 decimals) of ``split``."""
    langs = Counter(str(q.meta.get("lang")) for q in split.queries)
    relevant = [len(q.qrels) for q in split.queries]
    return {
        "queries": len(split.queries),
        "queries_per_language": dict(sorted(langs.items())),
        "mean_relevant_per_query": round(sum(relevant) / len(relevant), 2) if relevant else 0.0,
    }
