"""Index directories: SQLite metadata + a vector store per embedded field, incremental and crash-safe.

:class:`Index` is the storage facade (see :mod:`memesearch.index.index` for the layout); the
:class:`~memesearch.index.vector_store.VectorStore` protocol is the seam for vector back ends (FAISS,
Milvus); :mod:`memesearch.index.store` holds all the SQL. Files get in through :mod:`memesearch.ingest`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memesearch.utils.lazy import lazy_api

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.index.config import DEFAULT_WEIGHTS, IndexConfig, parse_weights
    from memesearch.index.index import Index
    from memesearch.index.info import (
        EncoderMismatchError,
        IndexLockedError,
        IndexNotFoundError,
        read_index_info,
    )
    from memesearch.index.records import IndexedItem, NewItem, PathStamp
    from memesearch.index.vector_copies import LostVectorsError
    from memesearch.index.vector_store import VectorStore

__all__ = [
    "DEFAULT_WEIGHTS",
    "EncoderMismatchError",
    "Index",
    "IndexConfig",
    "IndexLockedError",
    "IndexNotFoundError",
    "IndexedItem",
    "LostVectorsError",
    "NewItem",
    "PathStamp",
    "VectorStore",
    "parse_weights",
    "read_index_info",
]

__getattr__, __dir__ = lazy_api(
    __name__,
    {
        "DEFAULT_WEIGHTS": "memesearch.index.config",
        "IndexConfig": "memesearch.index.config",
        "parse_weights": "memesearch.index.config",
        "EncoderMismatchError": "memesearch.index.info",
        "Index": "memesearch.index.index",
        "IndexLockedError": "memesearch.index.info",
        "IndexNotFoundError": "memesearch.index.info",
        "read_index_info": "memesearch.index.info",
        "IndexedItem": "memesearch.index.records",
        "NewItem": "memesearch.index.records",
        "PathStamp": "memesearch.index.records",
        "LostVectorsError": "memesearch.index.vector_copies",
        "VectorStore": "memesearch.index.vector_store",
    },
    globals(),
)
