"""Index directories: ingest media into SQLite + FAISS, incrementally and crash-safely.

See :mod:`memesearch.index.index` for the layout and :class:`Index` for the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memesearch.utils.lazy import lazy_api

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.index.config import DEFAULT_WEIGHTS, IndexConfig, parse_weights
    from memesearch.index.index import (
        EncoderMismatchError,
        Index,
        IndexLockedError,
        IndexNotFoundError,
        read_index_info,
    )
    from memesearch.index.media import MediaError

__all__ = [
    "DEFAULT_WEIGHTS",
    "EncoderMismatchError",
    "Index",
    "IndexConfig",
    "IndexLockedError",
    "IndexNotFoundError",
    "MediaError",
    "parse_weights",
    "read_index_info",
]

__getattr__, __dir__ = lazy_api(
    __name__,
    {
        "DEFAULT_WEIGHTS": "memesearch.index.config",
        "IndexConfig": "memesearch.index.config",
        "parse_weights": "memesearch.index.config",
        "EncoderMismatchError": "memesearch.index.index",
        "Index": "memesearch.index.index",
        "IndexLockedError": "memesearch.index.index",
        "IndexNotFoundError": "memesearch.index.index",
        "read_index_info": "memesearch.index.index",
        "MediaError": "memesearch.index.media",
    },
    globals(),
)
