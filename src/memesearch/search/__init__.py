"""Search an index by text or image: branches (image, text, lexical), fusion, filters, explanations.

:mod:`memesearch.search.branches` defines each branch once (the :class:`Branch` protocol and its
implementations); :class:`Searcher` checks a query, encodes it and ranks it with
:mod:`memesearch.search.ranker` (candidates, exact scores, fusion, cut-off, reasons);
:mod:`memesearch.search.results` holds what a search returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memesearch.utils.lazy import lazy_api

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.search.branches import BRANCHES, Branch, SearchQuery, build_branches
    from memesearch.search.query_checks import MAX_QUERY_CHARS, QueryError, check_query
    from memesearch.search.results import Hit, SearchResponse
    from memesearch.search.searcher import Searcher

__all__ = [
    "BRANCHES",
    "MAX_QUERY_CHARS",
    "Branch",
    "Hit",
    "QueryError",
    "SearchQuery",
    "SearchResponse",
    "Searcher",
    "build_branches",
    "check_query",
]

__getattr__, __dir__ = lazy_api(
    __name__,
    {
        **{
            name: "memesearch.search.branches"
            for name in ("BRANCHES", "Branch", "SearchQuery", "build_branches")
        },
        **{name: "memesearch.search.results" for name in ("Hit", "SearchResponse")},
        **{
            name: "memesearch.search.query_checks"
            for name in ("MAX_QUERY_CHARS", "QueryError", "check_query")
        },
        "Searcher": "memesearch.search.searcher",
    },
    globals(),
)
