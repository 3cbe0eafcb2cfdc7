"""The Milvus :class:`~memesearch.index.vector_store.VectorStore`: a milvus-lite file inside the index folder
(``--store milvus``) or a Milvus server or cluster (``--store milvus:http://host:19530``, token from
``MEMESEARCH_MILVUS_TOKEN``).

What lives where
----------------
SQLite (``meta.sqlite``) holds items, paths, OCR, captions, emotions, the enrichment cache, and the
vectors of a batch until the stores saved them. Milvus holds what search reads fast, and once saved the
only copy of the vectors: per vector field (``image``, ``text``) one collection of rows ``(id = SQLite
rowid, vec, media, source, emotion_<word> flags)``. Lexical search, explanations and results are read
from SQLite.

The consistency rule
--------------------
Every write goes to SQLite first (one transaction, which bumps the database *generation* and keeps the
batch's vectors), then to Milvus (upsert / delete, durable as soon as the call returns).
:meth:`MilvusVectorStore.save` flushes and writes a sidecar ``vectors/<field>.milvus`` (JSON: generation,
collection, URI, kind, dim, schema, count) the way the FAISS store writes ``<field>.faiss.json``; then the
index drops its SQLite copies of the vectors. When the index opens, a sidecar at the database's generation
with no vectors pending in SQLite means the collection is the database's copy. Otherwise — ``kill -9``
between the SQLite commit and the Milvus write, a process killed before it saved the sidecar or before it
dropped the copies — the index adds the pending vectors the collection lacks (or holds differently) and
deletes the rows SQLite no longer has (:func:`memesearch.index.vector_fields.reconcile`); a sidecar that
does not match the collection (another row count, generation -1 after a failed call) reattaches to the
collection and does the same. A read-only open of a *server* collection does not repair (a writer may be
mid-batch): it searches the collection as it is and logs why; milvus-lite allows one process per file, so
there a read-only open repairs too (in memory of the collection, without saving or dropping anything).

Index and filters
-----------------
``VectorConfig`` as for FAISS: ``FLAT`` (exact) up to ``exact_below`` rows, ``HNSW`` above (search
``ef = max(ef_search, k)``); metric ``IP``. The row layout, the filter expressions, the collection's
schema and index parameters and the sidecar checks live in :mod:`memesearch.index.milvus_schema`;
connections in :mod:`memesearch.index.milvus_connect`.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from memesearch.errors import ConfigError
from memesearch.index.milvus_connect import (
    LITE_FILE,
    TOKEN_ENV,
    connect,
    disconnect,
    is_remote,
    reason,
)
from memesearch.index.milvus_schema import (
    EMOTION_FIELDS,
    SCALAR_FIELDS,
    collection_schema,
    filter_expression,
    index_params,
    read_sidecar,
    row_scalars,
    schema_key,
    schema_matches,
    sidecar_fits,
)
from memesearch.index.vector_store import RowFields, RowFilter, VectorConfig, VectorStoreError
from memesearch.utils.io import atomic_write_text

logger = logging.getLogger(__name__)

MAX_TOPK = 16_384  # Milvus' largest ``limit``
CHUNK = 2_000  # rows per insert / upsert / query call
#: milvus-lite searches rows not yet flushed by scanning them in Python on every query (30,000 rows: 1.6 s
#: a query, 0.15 s once flushed), so a lite store flushes once this many rows are pending, and on save
LITE_FLUSH_ROWS = 4_096

T = TypeVar("T")


class MilvusVectorStore:
    """One Milvus collection of unit vectors with int64 ids and filter fields (see the module docstring).

    Example::

        >>> vs = MilvusVectorStore(4, path=Path("idx/vectors/image.milvus"))    # doctest: +SKIP
        >>> vs.add(np.array([1, 2]), np.eye(4, dtype=np.float32)[:2])         # doctest: +SKIP
        >>> vs.search(np.eye(4, dtype=np.float32)[:1], 1)[1].tolist()         # doctest: +SKIP
        [[1]]
    """

    backend = "milvus"
    suffix = ".milvus"

    def __init__(
        self,
        dim: int,
        config: VectorConfig | None = None,
        *,
        path: str | Path | None = None,
        location: str | None = None,
        sidecar: dict[str, Any] | None = None,
    ) -> None:
        if path is None:
            raise ConfigError("a milvus store needs the path of its sidecar file (vectors/<field>.milvus)")
        self.dim = int(dim)
        self.config = config or VectorConfig()
        self.path = Path(path)
        self.location = location
        self.uri = location or str(self.path.parent / LITE_FILE)
        side = sidecar if sidecar is not None else read_sidecar(self.path)
        field = self.path.name.split(".")[0]
        if side and side.get("location") == location and side.get("collection"):
            self.collection = str(side["collection"])
        elif location is None:  # the lite file belongs to this index alone
            self.collection = field
        else:  # a server is shared: a name no other index uses
            self.collection = f"memesearch_{uuid.uuid4().hex[:12]}_{field}"
        self.broken = False  # a write failed: the next save marks the sidecar stale
        self.saved_generation: int | None = None  # what the sidecar it was loaded from records
        self.lite = not is_remote(self.uri)
        self._pending = 0  # rows written since the last flush (milvus-lite only)
        self._client = connect(location, self.path.parent / LITE_FILE)
        self.kind = "exact"
        self._id_set: set[int] = set()
        self._ids: np.ndarray | None = None
        try:
            self._exists = self._attach()
            if self._exists:
                self._id_set = self._scan_ids()
                self._pending = 1  # rows a crash left unflushed are replayed from milvus-lite's log
        except BaseException:
            self.close()
            raise

    # ---- Milvus calls ------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if what in ("insert", "upsert", "delete", "index"):
                self.broken = True
            raise VectorStoreError(
                f"Milvus at {self.uri}: {what} on collection {self.collection!r} failed ({reason(exc)})"
            ) from None

    def _attach(self) -> bool:
        """Use the existing collection when its schema fits (True), else start empty (False)."""
        c = self._client
        if not self._call("describe", c.has_collection, self.collection):
            return False
        desc = self._call("describe", c.describe_collection, self.collection)
        if not schema_matches(desc, self.dim):
            logger.info("Milvus collection %s has another schema; it is rebuilt", self.collection)
            self._call("drop", c.drop_collection, self.collection)
            return False
        index = self._call("describe", c.describe_index, self.collection, "vec") or {}
        self.kind = "hnsw" if str(index.get("index_type", "")).upper() == "HNSW" else "exact"
        self._call("load", c.load_collection, self.collection)
        return True

    def _index_params(self, kind: str) -> Any:
        return index_params(self._client, kind, self.config)

    def _create(self, kind: str) -> None:
        schema = collection_schema(self.dim)
        c = self._client
        if self._call("describe", c.has_collection, self.collection):
            self._call("drop", c.drop_collection, self.collection)
        self._call(
            "create",
            c.create_collection,
            self.collection,
            schema=schema,
            index_params=self._index_params(kind),
            consistency_level="Strong",
        )
        self.kind = kind
        self._exists = True
        self._id_set = set()
        self._ids = None

    def _set_kind(self, kind: str) -> None:
        """Rebuild the collection's vector index as ``kind`` (Milvus indexes the rows already there)."""
        c = self._client
        logger.info(
            "Milvus collection %s: %s index -> %s (%d rows)", self.collection, self.kind, kind, len(self)
        )
        self._call("index", c.release_collection, self.collection)
        self._call("index", c.drop_index, self.collection, "vec")
        self._call("index", c.create_index, self.collection, self._index_params(kind))
        self._call("index", c.load_collection, self.collection)
        self.kind = kind

    def _want_kind(self, n: int) -> str:
        return "hnsw" if 0 < self.config.exact_below < n else "exact"

    def _count(self) -> int:
        rows = self._call("query", self._client.query, self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def _scan(self, fields: list[str]) -> Iterator[list[dict[str, Any]]]:
        """Every row of the collection (``id`` and ``fields``), in batches of ascending ids: each query asks
        for the ``CHUNK`` smallest ids above the last one (the ``iterator`` mode pymilvus' own query
        iterator uses, without its timestamp call that milvus-lite lacks). The caller checks the total
        against :meth:`_count`."""
        last: int | None = None
        while True:
            rows = self._call(
                "query",
                self._client.query,
                self.collection,
                filter="" if last is None else f"id > {last}",
                limit=CHUNK,
                output_fields=fields,
                iterator="True",
                reduce_stop_for_best="True",
            )
            if not rows:
                return
            yield rows
            last = max(int(r["id"]) for r in rows)
            if len(rows) < CHUNK:
                return

    def _scan_ids(self) -> set[int]:
        ids = {int(r["id"]) for rows in self._scan(["id"]) for r in rows}
        if len(ids) != self._count():
            raise VectorStoreError(
                f"Milvus at {self.uri}: listing the ids of collection {self.collection!r} returned "
                f"{len(ids)} of {self._count()} rows; this server does not order query results by id"
            )
        return ids

    # ---- the VectorStore protocol ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._id_set)

    def _check(self, ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or vectors.shape[0] != ids.shape[0]:
            raise ConfigError(
                f"expected {ids.shape[0]} vectors of dimension {self.dim}, "
                f"got an array of shape {vectors.shape}"
            )
        return ids, vectors

    @staticmethod
    def _rows(
        ids: np.ndarray, vectors: np.ndarray, fields: Sequence[RowFields] | None
    ) -> list[dict[str, Any]]:
        return [
            {
                "id": rowid,
                "vec": vectors[i].tolist(),
                **row_scalars(fields[i] if fields is not None else RowFields()),
            }
            for i, rowid in enumerate(ids.tolist())
        ]

    def _write(
        self, what: str, ids: np.ndarray, vectors: np.ndarray, fields: Sequence[RowFields] | None
    ) -> None:
        """Insert or upsert, ``CHUNK`` rows a call (rows are built per call: a row is a few kB of Python)."""
        if fields is not None and len(fields) != ids.size:
            raise ConfigError(f"expected {ids.size} RowFields, got {len(fields)}")
        fn = self._client.upsert if what == "upsert" else self._client.insert
        for start in range(0, ids.size, CHUNK):
            sl = slice(start, start + CHUNK)
            rows = self._rows(ids[sl], vectors[sl], None if fields is None else fields[sl])
            self._call(what, fn, self.collection, rows)
            self._pending += len(rows)
        if self._pending >= LITE_FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        """Seal milvus-lite's pending rows into an indexed segment (a server seals segments itself)."""
        if self.lite and self._pending and self._exists:
            self._call("flush", self._client.flush, self.collection)
        self._pending = 0

    def add(self, ids: np.ndarray, vectors: np.ndarray, fields: Sequence[RowFields] | None = None) -> None:
        """Upsert ``vectors`` ``(n, dim)`` under ``ids`` with their filter ``fields`` (upsert: a rowid SQLite
        reuses replaces what a failed delete left behind); the index turns HNSW past ``exact_below``."""
        ids, vectors = self._check(ids, vectors)
        if ids.size == 0:
            return
        if not self._exists:
            self._create(self._want_kind(ids.size))
        elif self.kind == "exact" and self._want_kind(len(self._id_set | set(ids.tolist()))) == "hnsw":
            self._set_kind("hnsw")
        self._write("upsert", ids, vectors, fields)
        self._id_set.update(ids.tolist())
        self._ids = None

    def remove(self, ids: Iterable[int]) -> None:
        """Delete ids (unknown ids are ignored)."""
        arr = [int(i) for i in ids]
        if not arr or not self._exists:
            return
        for start in range(0, len(arr), CHUNK):
            self._call("delete", self._client.delete, self.collection, ids=arr[start : start + CHUNK])
        self._id_set.difference_update(arr)
        self._ids = None

    def ids(self) -> np.ndarray:
        """Every live id, sorted ``(n,)`` int64 (kept in memory: this process is the index's one writer)."""
        if self._ids is None:
            self._ids = np.sort(np.fromiter(self._id_set, dtype=np.int64, count=len(self._id_set)))
        return self._ids

    def contains(self, ids: np.ndarray) -> np.ndarray:
        return np.isin(np.asarray(ids, dtype=np.int64), self.ids())

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "kind": self.kind,
            "count": len(self),
            "index_type": "HNSW" if self.kind == "hnsw" else "FLAT",
            "collection": self.collection,
            "uri": self.uri if self.location else LITE_FILE,
        }

    def can_filter(self, where: RowFilter) -> bool:
        """Every filter whose emotions are words of the vocabulary (each has its BOOL field)."""
        return all(e in EMOTION_FIELDS for e in where.emotions)

    def search(
        self, queries: np.ndarray, k: int, where: RowFilter | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, ids)`` per query, each ``(q, k)`` (``k`` served up to 16,384); missing slots
        have id -1, score -inf. ``where``: only rows whose fields match."""
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        kk = max(int(k), 0)
        scores = np.full((q.shape[0], kk), -np.inf, np.float32)
        out = np.full((q.shape[0], kk), -1, np.int64)
        limit = min(kk, len(self), MAX_TOPK)
        expr = filter_expression(where) if where else ""
        if limit < 1 or q.shape[0] == 0 or expr is None:
            return scores, out
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.kind == "hnsw":
            params["params"] = {"ef": max(self.config.ef_search, limit)}
        hits = self._call(
            "search",
            self._client.search,
            self.collection,
            data=q.tolist(),
            limit=limit,
            filter=expr,
            search_params=params,
            output_fields=[],
        )
        for i, row in enumerate(hits):
            for j, hit in enumerate(row[:limit]):
                out[i, j] = int(hit["id"])
                scores[i, j] = float(hit["distance"])
        return scores, out

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """Stored vectors ``(n, dim)`` of ``ids`` (all must be present)."""
        arr = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        out = np.zeros((arr.size, self.dim), np.float32)
        if arr.size == 0:
            return out
        uniq = np.unique(arr)
        found: dict[int, list[float]] = {}
        for start in range(0, uniq.size, CHUNK):
            part = uniq[start : start + CHUNK].tolist()
            rows = self._call("query", self._client.query, self.collection, ids=part, output_fields=["vec"])
            found.update((int(r["id"]), r["vec"]) for r in rows)
        missing = [int(i) for i in uniq if int(i) not in found]
        if missing:
            raise ConfigError(f"no vector stored for ids {missing[:5]} (check with contains() first)")
        for j, rowid in enumerate(arr.tolist()):
            out[j] = found[rowid]
        return out

    def rebuild(
        self, ids: np.ndarray, vectors: np.ndarray, fields: Sequence[RowFields] | None = None
    ) -> None:
        """Make the collection hold exactly these rows: rows that already hold the same vector and fields
        stay, the rest is upserted, rows not given are deleted (a fresh collection when there is none)."""
        ids, vectors = self._check(ids, vectors)
        if fields is not None and len(fields) != ids.size:
            raise ConfigError(f"expected {ids.size} RowFields, got {len(fields)}")
        want = self._want_kind(ids.size)
        if self._exists and self._id_set:
            kept = self._diff(ids, vectors, fields)
            if kept is not None:
                stale = np.flatnonzero(~kept)
                if self.kind != want:
                    self._set_kind(want)
                sel = None if fields is None else [fields[i] for i in stale.tolist()]
                self._write("upsert", ids[stale], vectors[stale], sel)
                self._id_set = set(ids.tolist())
                self._ids = None
                return
        self._create(want)
        self._write("insert", ids, vectors, fields)
        self._id_set = set(ids.tolist())
        self._ids = None

    def _diff(
        self, ids: np.ndarray, vectors: np.ndarray, fields: Sequence[RowFields] | None
    ) -> np.ndarray | None:
        """Read the collection back: delete the rows not in ``ids``; return which of ``ids`` already hold
        the same vector and fields (None when the read-back missed rows: the caller recreates)."""
        where = {int(r): i for i, r in enumerate(ids.tolist())}
        kept = np.zeros(ids.size, dtype=bool)
        extra: list[int] = []
        seen = 0
        for batch in self._scan(["vec", *SCALAR_FIELDS]):
            seen += len(batch)
            for have in batch:
                i = where.get(int(have["id"]))
                if i is None:
                    extra.append(int(have["id"]))
                    continue
                want = row_scalars(fields[i] if fields is not None else RowFields())
                kept[i] = all(have.get(n) == v for n, v in want.items()) and bool(
                    np.array_equal(np.asarray(have["vec"], np.float32), vectors[i])
                )
        if seen != self._count():
            logger.info("Milvus collection %s: the read-back missed rows; recreating it", self.collection)
            return None
        logger.info(
            "Milvus collection %s: %d rows kept, %d written, %d deleted",
            self.collection,
            int(kept.sum()),
            int((~kept).sum()),
            len(extra),
        )
        self._id_set = set(where) | set(extra)
        self.remove(extra)
        return kept

    def save(self, path: str | Path, generation: int) -> None:
        """Write the sidecar (the data is in Milvus already; milvus-lite's pending rows are flushed); a store
        whose writes failed records -1."""
        self._flush()
        side = {
            "generation": -1 if self.broken else int(generation),
            "dim": self.dim,
            "location": self.location,  # None: the milvus-lite file beside the sidecar (the folder may move)
            "collection": self.collection,
            "kind": self.kind,
            "count": len(self),
            "schema": schema_key(),
        }
        atomic_write_text(Path(path), json.dumps(side))
        self.saved_generation = -1 if self.broken else int(generation)

    def close(self) -> None:
        if self._client is not None:
            disconnect(self._client, self.uri)
            self._client = None

    @classmethod
    def load(
        cls, path: str | Path, dim: int, config: VectorConfig, generation: int, *, location: str | None = None
    ) -> MilvusVectorStore | None:
        """The collection when the sidecar at ``path`` records ``generation`` or a later one (and the
        collection holds the recorded row count); None when absent, older, unreadable or of another schema."""
        path = Path(path)
        side = read_sidecar(path)
        if not side or not sidecar_fits(side, generation, dim, location):
            return None
        store = cls(dim, config, path=path, location=location, sidecar=side)
        store.saved_generation = int(side["generation"])
        if len(store) != int(side.get("count", -1)):
            logger.info(
                "Milvus collection %s holds %d rows, not %s", store.collection, len(store), side.get("count")
            )
            store.close()
            return None  # the caller repairs it through a store of its own (see the module docstring)
        return store


__all__ = ["EMOTION_FIELDS", "TOKEN_ENV", "MilvusVectorStore", "connect", "filter_expression"]
