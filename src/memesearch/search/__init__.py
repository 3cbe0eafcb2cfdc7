"""Search an index by text or image; the result types shared with the CLI and the HTTP server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memesearch.utils.lazy import lazy_api

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.search.results import (
        Hit,
        IndexedItem,
        IngestFailure,
        IngestSummary,
        OCRLine,
        SearchResponse,
    )
    from memesearch.search.searcher import MAX_QUERY_CHARS, QueryError, Searcher, check_query

__all__ = [
    "MAX_QUERY_CHARS",
    "Hit",
    "IndexedItem",
    "IngestFailure",
    "IngestSummary",
    "OCRLine",
    "QueryError",
    "SearchResponse",
    "Searcher",
    "check_query",
]

__getattr__, __dir__ = lazy_api(
    __name__,
    {
        **{
            name: "memesearch.search.results"
            for name in ("Hit", "IndexedItem", "IngestFailure", "IngestSummary", "OCRLine", "SearchResponse")
        },
        **{
            name: "memesearch.search.searcher"
            for name in ("MAX_QUERY_CHARS", "QueryError", "Searcher", "check_query")
        },
    },
    globals(),
)
