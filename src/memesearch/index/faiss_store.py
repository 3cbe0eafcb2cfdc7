"""The FAISS :class:`~memesearch.index.vector_store.VectorStore` (the embedded default): exact below a size
threshold, HNSW above.

The saved FAISS file is the only copy at rest of the vectors it holds: SQLite keeps a batch's vectors
only until the file is saved (:mod:`memesearch.index.vector_copies`). Both index kinds store the vectors
uncompressed, so they can be reconstructed exactly. Each saved file records the database *generation* it
reflects; an index opened after a crash (file older than the database) adds the vectors SQLite still holds
and removes what it no longer has, instead of silently serving stale vectors.

Vectors are unit length and compared by inner product (= cosine). Ids are SQLite rowids (int64).

* ``exact`` (``IndexIDMap2(IndexFlatIP)``): exact search, supports removal.
* ``hnsw`` (``IndexIDMap2(IndexHNSWFlat(d, M, METRIC_INNER_PRODUCT))``): approximate; HNSW graphs do not
  support removal, so removed ids are kept in a tombstone set, filtered out of results, and the graph is
  rebuilt from its own live vectors when more than ``rebuild_fraction`` of it is dead.

Parameters (``exact_below``, ``hnsw_m``, ``ef_construction``, ``ef_search``) are recorded in index.json.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.errors import ConfigError
from memesearch.index.vector_store import VectorConfig
from memesearch.utils.io import atomic_path, atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.index.vector_store import RowFields, RowFilter

logger = logging.getLogger(__name__)

#: how often :meth:`FaissVectorStore.load` reads again after a torn read (50 ms apart)
TORN_READ_RETRIES = 40


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss-cpu is a dependency
        raise ConfigError("the index needs the PyPI package faiss-cpu: pip install faiss-cpu") from None
    return faiss


class FaissVectorStore:
    """One FAISS index over unit vectors with int64 ids (see the module docstring).

    Example::

        >>> vi = FaissVectorStore(dim=4)
        >>> vi.add(np.array([1, 2]), np.eye(4, dtype=np.float32)[:2])
        >>> vi.search(np.eye(4, dtype=np.float32)[:1], 1)[1].tolist()
        [[1]]
    """

    backend = "faiss"
    suffix = ".faiss"

    def __init__(
        self,
        dim: int,
        config: VectorConfig | None = None,
        *,
        path: str | Path | None = None,
        location: str | None = None,
    ) -> None:
        # ``path``/``location``: the store protocol's constructor; a FAISS store lives in memory until save()
        self.dim = int(dim)
        self.config = config or VectorConfig()
        self.kind = "exact"
        self.dead: set[int] = set()
        self._index = self._new("exact")
        self._ids: np.ndarray | None = None  # sorted live ids, cached for contains()
        self.saved_generation: int | None = None  # the generation recorded by the file it was loaded from

    # ---- construction ----------------------------------------------------------------------
    def _new(self, kind: str) -> Any:
        faiss = _faiss()
        if kind == "exact":
            inner = faiss.IndexFlatIP(self.dim)
        else:
            inner = faiss.IndexHNSWFlat(self.dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = self.config.ef_construction
            inner.hnsw.efSearch = self.config.ef_search
        return faiss.IndexIDMap2(inner)

    def _set_ef(self, ef: int) -> None:
        inner = _faiss().downcast_index(self._index.index)
        if inner.hnsw.efSearch != ef:
            inner.hnsw.efSearch = ef

    @property
    def ntotal(self) -> int:
        """Live vectors (tombstoned ones excluded)."""
        return int(self._index.ntotal) - len(self.dead)

    def __len__(self) -> int:
        return self.ntotal

    def _check(self, ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or vectors.shape[0] != ids.shape[0]:
            raise ConfigError(
                f"expected {ids.shape[0]} vectors of dimension {self.dim}, "
                f"got an array of shape {vectors.shape}"
            )
        return ids, vectors

    def add(self, ids: np.ndarray, vectors: np.ndarray, fields: Sequence[RowFields] | None = None) -> None:
        """Add ``vectors`` ``(n, dim)`` under ``ids`` ``(n,)``; switches to HNSW past ``exact_below``.
        (``fields`` are ignored: this store does not filter.)"""
        ids, vectors = self._check(ids, vectors)
        if ids.size == 0:
            return
        self._ids = None
        if self.dead:
            self.dead.difference_update(ids.tolist())
        if self.kind == "exact" and int(self._index.ntotal) + ids.size > self.config.exact_below > 0:
            self._convert_to_hnsw(extra=(ids, vectors))
            return
        self._index.add_with_ids(vectors, ids)

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """Every live (id, vector) currently held, in insertion order."""
        faiss = _faiss()
        n = int(self._index.ntotal)
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64) if n else np.zeros(0, np.int64)
        # the inner index holds the vectors in insertion order, matching id_map position by position
        vecs = self._index.index.reconstruct_n(0, n) if n else np.zeros((0, self.dim), np.float32)
        if self.dead:
            keep = ~np.isin(ids, np.fromiter(self.dead, dtype=np.int64))
            ids, vecs = ids[keep], vecs[keep]
        return ids, np.ascontiguousarray(vecs, dtype=np.float32)

    def _convert_to_hnsw(self, extra: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        ids, vecs = self.items()
        if extra is not None:
            ids, vecs = np.concatenate([ids, extra[0]]), np.concatenate([vecs, extra[1]])
        logger.info("building an HNSW graph over %d vectors (M=%d)", ids.size, self.config.hnsw_m)
        self._index = self._new("hnsw")
        self.kind = "hnsw"
        self.dead.clear()
        if ids.size:
            self._index.add_with_ids(vecs, ids)

    def rebuild(
        self, ids: np.ndarray, vectors: np.ndarray, fields: Sequence[RowFields] | None = None
    ) -> None:
        """Replace the whole content (kind chosen from the size; ``fields`` are ignored)."""
        ids, vectors = self._check(ids, vectors)
        self._ids = None
        self.dead.clear()
        self.kind = "hnsw" if 0 < self.config.exact_below < ids.size else "exact"
        self._index = self._new(self.kind)
        if ids.size:
            self._index.add_with_ids(vectors, ids)

    def remove(self, ids: Iterable[int]) -> None:
        """Remove ids (unknown ids are ignored)."""
        arr = np.fromiter((int(i) for i in ids), dtype=np.int64)
        if arr.size == 0:
            return
        if self.kind == "exact":
            self._index.remove_ids(arr)
        else:  # tombstones only for live ids: an unknown id must not lower the count
            self.dead.update(arr[self.contains(arr)].tolist())
        self._ids = None

    def needs_compaction(self) -> bool:
        total = int(self._index.ntotal)
        return bool(self.dead) and len(self.dead) > self.config.rebuild_fraction * max(total, 1)

    def compact(self) -> None:
        """Rebuild the graph without tombstoned vectors."""
        ids, vecs = self.items()
        self.rebuild(ids, vecs)

    def ids(self) -> np.ndarray:
        """Every live id, sorted ``(n,)`` int64."""
        if self._ids is None:
            faiss = _faiss()
            n = int(self._index.ntotal)
            all_ids = (
                faiss.vector_to_array(self._index.id_map).astype(np.int64) if n else np.zeros(0, np.int64)
            )
            if self.dead:
                all_ids = all_ids[~np.isin(all_ids, np.fromiter(self.dead, dtype=np.int64))]
            self._ids = np.sort(all_ids)
        return self._ids

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``ids`` hold a live vector here."""
        return np.isin(np.asarray(ids, dtype=np.int64), self.ids(), assume_unique=False)

    def describe(self) -> dict[str, Any]:
        """What index.json and ``stats()`` report about this store."""
        return {"backend": self.backend, "kind": self.kind, "count": len(self)}

    # ---- queries -------------------------------------------------------------------------------
    def search(
        self, queries: np.ndarray, k: int, where: RowFilter | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(scores, ids)`` per query, each ``(q, k)``; missing slots have id -1, score -inf.
        (This store does not filter: ``where`` must be empty.)"""
        if where:
            raise ConfigError("the faiss store does not filter (can_filter is False): filter in the database")
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        n = int(self._index.ntotal)
        if n == 0 or k < 1:
            return np.full((q.shape[0], max(k, 0)), -np.inf, np.float32), np.full(
                (q.shape[0], max(k, 0)), -1, np.int64
            )
        fetch = min(n, k + len(self.dead))
        if self.kind == "hnsw":
            self._set_ef(max(self.config.ef_search, fetch))
        scores, ids = self._index.search(q, fetch)
        if self.dead:
            dead = np.isin(ids, np.fromiter(self.dead, dtype=np.int64))
            ids = np.where(dead, -1, ids)
            scores = np.where(dead, -np.inf, scores)
            order = np.argsort(-scores, axis=1, kind="stable")
            ids = np.take_along_axis(ids, order, 1)
            scores = np.take_along_axis(scores, order, 1)
        ids, scores = ids[:, :k], scores[:, :k]
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        if ids.shape[1] < k:
            pad = k - ids.shape[1]
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        return scores, ids

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """Stored vectors ``(n, dim)`` of ``ids`` (all must be present)."""
        arr = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        if arr.size == 0:
            return np.zeros((0, self.dim), np.float32)
        return np.asarray(self._index.reconstruct_batch(arr), dtype=np.float32).reshape(arr.size, self.dim)

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path, generation: int) -> None:
        """Write atomically to ``path`` plus ``path.json`` (kind, dead ids, generation, size); an HNSW graph
        with too many tombstones is rebuilt first.

        The two files are two renames, so a process killed between them would leave the new index file
        beside the old sidecar: a pair that never matches, which :meth:`load` could only refuse — while
        SQLite no longer holds the vectors of the old save. So the sidecar is written ahead: before the
        index file is renamed, the sidecar of the file on disk is rewritten with the new file's entry
        added under ``next``; :meth:`load` takes whichever entry describes the file it finds."""
        if self.needs_compaction():
            self.compact()
        faiss = _faiss()
        path = Path(path)
        side_path = sidecar_path(path)
        meta: dict[str, Any] = {
            "generation": int(generation),
            "kind": self.kind,
            "dim": self.dim,
            "ntotal": int(self._index.ntotal),
            "dead": sorted(self.dead),
        }
        with atomic_path(path) as tmp:
            faiss.write_index(self._index, str(tmp))
            meta["bytes"] = os.path.getsize(tmp)
            before = _read_sidecar(side_path)
            if before is not None:  # the file on disk, or the one about to replace it
                ahead = {**before, "next": [*before.get("next", []), meta]}
                atomic_write_text(side_path, json.dumps(ahead))
        atomic_write_text(side_path, json.dumps(meta))
        self.saved_generation = int(generation)

    def can_filter(self, where: RowFilter) -> bool:
        """Never: filters are resolved in SQLite (``Index.rowids_where``), not here."""
        return False

    def close(self) -> None:
        """Nothing to let go of (the index lives in memory)."""

    @classmethod
    def load(
        cls, path: str | Path, dim: int, config: VectorConfig, generation: int, *, location: str | None = None
    ) -> FaissVectorStore | None:
        """The saved index when it records ``generation`` or a later one; None when absent, older or
        unreadable."""
        faiss = _faiss()
        path = Path(path)
        side_path = sidecar_path(path)
        # A writer in another process saves the index file, then its sidecar (two renames): a reader
        # between the two would pair one save's file with the other's sidecar. Such a torn read shows as
        # a sidecar that changed while the file was read, a file replaced while it was read, or a file
        # no entry of the sidecar describes: read again.
        for attempt in range(TORN_READ_RETRIES + 1):
            try:
                text = side_path.read_text(encoding="utf-8")
                side = json.loads(text)
                entries = [side, *side.get("next", [])]
                if max(int(e["generation"]) for e in entries) < int(generation) or int(side["dim"]) != int(
                    dim
                ):
                    return None
                before = os.stat(path)
                index = faiss.read_index(str(path))
                after = os.stat(path)
                match = [e for e in entries if _describes(e, int(index.ntotal), after.st_size)]
                torn = (
                    side_path.read_text(encoding="utf-8") != text
                    or (before.st_ino, before.st_size) != (after.st_ino, after.st_size)
                    or not match
                )
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                logger.info("vector file %s not usable (%s); rebuilding from the database", path, exc)
                return None
            if not torn:
                break
            if attempt == TORN_READ_RETRIES:
                return None
            time.sleep(0.05)
        # Two entries can describe the same file (same count and size): take the older generation (the
        # database then adds what it still holds) and every tombstone either records.
        saved = min(int(e["generation"]) for e in match)
        if saved < int(generation):
            return None
        out = cls(dim, config)
        out._index = index
        kinds = {str(e["kind"]) for e in match}
        out.kind = kinds.pop() if len(kinds) == 1 else _kind_of(index)
        out.dead = {int(i) for e in match for i in e.get("dead", [])}
        out.saved_generation = saved
        if out.kind == "hnsw":
            out._set_ef(config.ef_search)
        return out


def sidecar_path(path: Path) -> Path:
    """The sidecar of the index file ``path``: ``<name>.faiss.json``."""
    return path.with_suffix(path.suffix + ".json")


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    try:
        side = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return side if isinstance(side, dict) else None


def _describes(entry: dict[str, Any], ntotal: int, size: int) -> bool:
    """Whether a sidecar entry describes an index file of ``ntotal`` vectors and ``size`` bytes (entries
    written before sizes were recorded: by the count alone)."""
    return int(entry["ntotal"]) == ntotal and int(entry.get("bytes", size)) == size


def _kind_of(index: Any) -> str:
    inner = _faiss().downcast_index(index.index)
    return "hnsw" if isinstance(inner, _faiss().IndexHNSWFlat) else "exact"
