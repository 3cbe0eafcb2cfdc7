"""The vector-store seam of an index: what every back end (FAISS, Milvus) must do.

An index keeps one vector store per embedded field (``image``: the item embeddings, ``text``: the
caption/OCR passage embeddings). Each vector is stored once at rest: SQLite holds a batch's vectors only
until the stores saved them (:mod:`memesearch.index.vector_copies`), so a saved store is the source of
truth for the vectors it holds and must persist them durably:

* ids are SQLite rowids (int64); vectors are unit length and compared by inner product (= cosine), and
  :meth:`VectorStore.reconstruct` returns them exactly as added;
* ``save(path, generation)`` records the database generation it reflects, durably (fsynced) before it
  returns; ``load(path, dim, config, generation)`` returns the saved copy when it records ``generation`` or
  a later one (setting ``saved_generation``), ``None`` when it is absent, older or unreadable; the index
  then brings it in step with SQLite (:mod:`memesearch.index.vector_fields`);
* a store may also keep each row's filter fields (:class:`RowFields`: media, source, emotions) and answer
  :meth:`VectorStore.search` with a :class:`RowFilter` pushed down (when ``can_filter(where)``: Milvus); one
  that cannot (FAISS) ignores the fields it is given and leaves filtering to the database.

Which back end an index uses is a recorded setting (``IndexConfig.vector_store``, in ``index.json``): a
*store spec*, ``NAME`` or ``NAME:LOCATION`` (``faiss``, ``milvus``, ``milvus:http://host:19530``);
:func:`parse_store_spec` splits it and :func:`vector_store_class` maps the name to its class. A new back end
is one new module plus one line in :data:`VECTOR_STORES`, and must pass
``tests/unit/test_vector_store_conformance.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import numpy as np

from memesearch.errors import ConfigError, MemesearchError, UnknownNameError


@dataclass(frozen=True)
class VectorConfig:
    """How a branch's vectors are indexed (recorded in index.json)."""

    exact_below: int = 50_000
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    rebuild_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.exact_below < 0:
            raise ConfigError(f"exact_below must be >= 0, got {self.exact_below}")
        for key in ("hnsw_m", "ef_construction", "ef_search"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not 0 < self.rebuild_fraction <= 1:
            raise ConfigError(f"rebuild_fraction must be in (0, 1], got {self.rebuild_fraction}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VectorConfig:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


#: back end name -> "module:Class"
VECTOR_STORES: dict[str, str] = {
    "faiss": "memesearch.index.faiss_store:FaissVectorStore",
    "milvus": "memesearch.index.milvus_store:MilvusVectorStore",
}

#: the spec forms ``--store`` accepts, for error messages
STORE_SPEC_FORMS = "faiss, milvus (a milvus-lite file in the index folder) or milvus:URI (a Milvus server)"


class VectorStoreError(MemesearchError):
    """A vector store could not be reached or refused a call (the message names the store and the call)."""


@dataclass(frozen=True)
class RowFields:
    """The filter fields of one row, copied from the database into stores that filter (``filters = True``)."""

    media: str = "image"
    source: str | None = None
    emotions: tuple[str, ...] = ()


@dataclass(frozen=True)
class RowFilter:
    """What search filters on (every given part must hold): media any of, source equal, emotion any of."""

    media: tuple[str, ...] = ()
    source: str | None = None
    emotions: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.media or self.emotions) or self.source is not None


def parse_store_spec(spec: str) -> tuple[str, str | None]:
    """``"milvus:http://h:19530"`` -> ``("milvus", "http://h:19530")``; ``"faiss"`` -> ``("faiss", None)``.

    Raises :class:`UnknownNameError` naming the valid forms for an unknown back end,
    :class:`ConfigError` for a location given to a back end that takes none.
    """
    text = str(spec).strip()
    name, sep, location = text.partition(":")
    name = name.strip().lower()
    if name not in VECTOR_STORES:
        raise UnknownNameError(f"unknown vector store {spec!r}; valid: {STORE_SPEC_FORMS}")
    if not sep:
        return name, None
    location = location.strip()
    if not location:
        raise ConfigError(f"vector store {spec!r} names no location; valid: {STORE_SPEC_FORMS}")
    if name == "faiss":
        raise ConfigError(f"the faiss store lives in the index folder and takes no location, got {spec!r}")
    if "@" in urlsplit(location).netloc:  # the spec is recorded in index.json: no secrets in it
        raise ConfigError(
            "the store address holds a user or password; give the address alone and the credentials in "
            "MEMESEARCH_MILVUS_TOKEN (user:password or an API key)"
        )
    return name, location


@runtime_checkable
class VectorStore(Protocol):
    """Unit vectors under int64 ids, searched by inner product (see the module docstring)."""

    backend: str  # the back end's name (the spec recorded in index.json starts with it)
    suffix: str  # file suffix of the saved store (or its sidecar) inside the index folder
    dim: int

    def __len__(self) -> int:
        """Live vectors."""
        ...

    def add(self, ids: np.ndarray, vectors: np.ndarray, fields: Sequence[RowFields] | None = None) -> None:
        """Add ``vectors`` ``(n, dim)`` under ``ids`` ``(n,)`` (ids not present yet), with each row's filter
        ``fields`` (kept only by stores that filter)."""
        ...

    def remove(self, ids: Iterable[int]) -> None:
        """Remove ids; unknown ids are ignored."""
        ...

    def search(
        self, queries: np.ndarray, k: int, where: RowFilter | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, ids)``, each ``(q, k)``, best first; missing slots: id -1, score -inf.
        ``where`` (only when :meth:`can_filter` says so): rank only the rows whose fields match it."""
        ...

    def can_filter(self, where: RowFilter) -> bool:
        """Whether :meth:`search` applies ``where`` exactly as SQLite would (else the caller filters)."""
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

    def rebuild(
        self, ids: np.ndarray, vectors: np.ndarray, fields: Sequence[RowFields] | None = None
    ) -> None:
        """Replace the whole content."""
        ...

    def describe(self) -> dict[str, Any]:
        """``{"backend": ..., "kind": ..., "count": ...}`` for stats and index.json."""
        ...

    def save(self, path: str | Path, generation: int) -> None:
        """Persist atomically and durably, recording the database ``generation`` this content reflects
        (and setting ``saved_generation``): the index then drops its SQLite copies of these vectors."""
        ...

    def close(self) -> None:
        """Let go of connections (the store is not used afterwards)."""
        ...


def vector_store_class(spec: str) -> Any:
    """The class of the back end a store spec names (it has ``load(path, dim, config, generation, *,
    location)`` and ``__init__(dim, config, *, path, location)``); :class:`UnknownNameError` lists the
    valid forms."""
    name, _ = parse_store_spec(spec)
    module, _, cls = VECTOR_STORES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def open_vector_store(
    spec: str, path: Path, dim: int, config: VectorConfig, generation: int
) -> VectorStore | None:
    """The saved store at ``path`` when it records ``generation`` or a later one, else None."""
    _, location = parse_store_spec(spec)
    loaded: VectorStore | None = vector_store_class(spec).load(
        path, dim, config, generation, location=location
    )
    return loaded


def new_vector_store(spec: str, dim: int, config: VectorConfig, path: Path | None = None) -> VectorStore:
    """A store of the back end ``spec`` names, for the saved copy at ``path``: empty, except that a
    store living outside the process (Milvus) reattaches to its collection, so that a following
    :meth:`~VectorStore.rebuild` only writes what differs."""
    _, location = parse_store_spec(spec)
    store: VectorStore = vector_store_class(spec)(dim, config, path=path, location=location)
    return store


__all__ = [
    "STORE_SPEC_FORMS",
    "VECTOR_STORES",
    "RowFields",
    "RowFilter",
    "VectorStore",
    "VectorStoreError",
    "new_vector_store",
    "open_vector_store",
    "parse_store_spec",
    "vector_store_class",
]
