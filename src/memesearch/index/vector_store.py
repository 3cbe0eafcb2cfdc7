"""The vector-store seam of an index: what every back end (FAISS today, Milvus next) must do.

An index keeps one vector store per embedded field (``image``: the item embeddings, ``text``: the
caption/OCR passage embeddings). The SQLite database stays the source of truth — every vector is also
stored there — so a store only has to be a fast, rebuildable copy:

* ids are SQLite rowids (int64); vectors are unit length and compared by inner product (= cosine);
* ``save(path, generation)`` records the database generation it reflects; ``load`` returns ``None`` when the
  saved copy is absent, stale or unreadable, and the index then rebuilds it from SQLite with ``rebuild``.

Which back end an index uses is a recorded setting (``IndexConfig.vector_store``, in ``index.json``);
:func:`vector_store_class` maps that name to its class. A new back end is one new module plus one line in
:data:`VECTOR_STORES`, and must pass ``tests/unit/test_vector_store_conformance.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from memesearch.errors import UnknownNameError
from memesearch.index.faiss_store import VectorConfig

#: back end name -> "module:Class"
VECTOR_STORES: dict[str, str] = {
    "faiss": "memesearch.index.faiss_store:FaissVectorStore",
}


@runtime_checkable
class VectorStore(Protocol):
    """Unit vectors under int64 ids, searched by inner product (see the module docstring)."""

    backend: str  # the name recorded in index.json
    suffix: str  # file suffix of the saved store inside the index folder
    dim: int

    def __len__(self) -> int:
        """Live vectors."""
        ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` ``(n, dim)`` under ``ids`` ``(n,)`` (ids not present yet)."""
        ...

    def remove(self, ids: Iterable[int]) -> None:
        """Remove ids; unknown ids are ignored."""
        ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, ids)``, each ``(q, k)``, best first; missing slots: id -1, score -inf."""
        ...

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors ``(n, dim)`` of ``ids`` (all must be present: check with :meth:`contains`)."""
        ...

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask ``(n,)``: which of ``ids`` hold a live vector."""
        ...

    def ids(self) -> np.ndarray:
        """Every live id, sorted."""
        ...

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the whole content."""
        ...

    def describe(self) -> dict[str, Any]:
        """``{"backend": ..., "kind": ..., "count": ...}`` for stats and index.json."""
        ...

    def save(self, path: str | Path, generation: int) -> None:
        """Persist atomically, recording the database ``generation`` this content reflects."""
        ...


def vector_store_class(backend: str) -> Any:
    """The class of back end ``backend`` (it has ``load(path, dim, config, generation)`` and
    ``__init__(dim, config)``); :class:`UnknownNameError` lists the valid names."""
    target = VECTOR_STORES.get(backend)
    if target is None:
        raise UnknownNameError(f"unknown vector store {backend!r}; valid: {', '.join(sorted(VECTOR_STORES))}")
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def open_vector_store(
    backend: str, path: Path, dim: int, config: VectorConfig, generation: int
) -> VectorStore | None:
    """The saved store at ``path`` when it reflects ``generation``, else None (the caller rebuilds)."""
    cls = vector_store_class(backend)
    loaded: VectorStore | None = cls.load(path, dim, config, generation)
    return loaded


def new_vector_store(backend: str, dim: int, config: VectorConfig) -> VectorStore:
    """An empty store of back end ``backend``."""
    store: VectorStore = vector_store_class(backend)(dim, config)
    return store


__all__ = ["VECTOR_STORES", "VectorStore", "new_vector_store", "open_vector_store", "vector_store_class"]
