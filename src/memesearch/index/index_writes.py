"""The write side of an index: :class:`IndexWrites`, the mixin :class:`~memesearch.index.index.Index` takes
its writes from.

Everything that changes an index directory lives here: finished items in one transaction
(:meth:`~IndexWrites.write_batch`), paths attached to indexed content, uploads kept under ``media/``,
removals (by id, by path, of missing files), settings recorded in ``index.json``, and vector-only items
(benchmarks, migrations). Opening, saving the vector stores (``flush``, ``save_if_due``: when a save is
due), reading and the questions search asks stay in :mod:`memesearch.index.index`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.errors import ConfigError
from memesearch.index import frame_rows, region_rows, store_writes
from memesearch.index.config import REGION_SLOTS, IndexConfig
from memesearch.index.info import IndexLockedError
from memesearch.index.records import NewItem, PathStamp
from memesearch.index.store import Store
from memesearch.index.vector_fields import FRAME_FIELD, REGION_FIELD, keeps_fields, new_item_fields
from memesearch.index.vector_store import RowFields, VectorStore
from memesearch.utils.io import atomic_write_bytes, atomic_write_json, progress_bar


class IndexWrites:
    """The writes of an :class:`~memesearch.index.index.Index` (see the module docstring). Each takes the
    index's lock, raises :class:`IndexLockedError` on a read-only index, and marks the vector stores
    unsaved; the new vectors wait in SQLite until :class:`~memesearch.index.index.Index` saves them."""

    # set by Index.__init__
    root: Path
    info: dict[str, Any]
    config: IndexConfig
    readonly: bool
    dim: int
    store: Store
    _lock: threading.RLock
    _vectors: dict[str, VectorStore]
    _dirty: bool
    _unsaved: int

    if TYPE_CHECKING:  # defined by Index

        def rowid_of(self, item_id: str) -> int | None: ...

        def flush(self, *, force: bool = False) -> None: ...

        def save_if_due(self) -> bool: ...

    # ---- writing -------------------------------------------------------------------------------
    def check_writable(self) -> None:
        """Raise :class:`IndexLockedError` when the index was opened read-only."""
        if self.readonly:
            raise IndexLockedError(f"the index {self.root} was opened read-only; open it for writing")

    def write_batch(self, batch: Sequence[NewItem]) -> list[int]:
        """Write finished items in one transaction (items, paths, emotions, cache rows), then add their
        vectors to the vector stores. A path that pointed at another item moves to the new one (the old
        item goes when no path or upload is left). Returns the new rowids, in order."""
        self.check_writable()
        rowids: list[int] = []
        orphans: list[int] = []
        with self._lock:
            with self.store.transaction() as conn:
                for new in batch:
                    rowid = store_writes.insert_item(
                        conn, new.item, new.vectors["image"], new.vectors.get("text"), new.stored_path
                    )
                    if new.item.objects:
                        region_rows.insert(conn, rowid, new.item.objects, new.vectors.get(REGION_FIELD))
                    if new.vectors.get(FRAME_FIELD) is not None:
                        frame_rows.insert(
                            conn, rowid, new.vectors[FRAME_FIELD], new.frame_times, new.frame_text
                        )
                    rowids.append(rowid)
                    for stamp in new.paths:
                        orphans.extend(self._put_path(conn, stamp, rowid))
                    for key, stage, version, value in new.cache:
                        store_writes.put_cache(conn, key, stage, version, value)
            self._drop_vectors(orphans)
            rows = np.array(rowids, dtype=np.int64)
            fields = new_item_fields(batch)
            for name, vs in self._vectors.items():
                have = [i for i, new in enumerate(batch) if new.vectors.get(name) is not None]
                if name == REGION_FIELD:
                    self._add_regions(vs, rows, batch, fields)
                    continue
                if have:
                    vs.add(
                        rows[have],
                        np.stack([batch[i].vectors[name] for i in have]),
                        [fields[i] for i in have] if keeps_fields(vs) else None,
                    )
            self._dirty = True
            self._unsaved += len(batch) + len(orphans)
        return rowids

    @staticmethod
    def _add_regions(
        vs: VectorStore, rows: np.ndarray, batch: Sequence[NewItem], fields: list[RowFields]
    ) -> None:
        ids: list[np.ndarray] = []
        vecs: list[np.ndarray] = []
        per: list[RowFields] = []
        for i, new in enumerate(batch):
            v = new.vectors.get(REGION_FIELD)
            if v is None or not new.item.objects:
                continue
            n = len(new.item.objects)
            ids.append(int(rows[i]) * REGION_SLOTS + np.arange(n, dtype=np.int64))
            vecs.append(np.asarray(v, np.float32)[:n])
            per.extend([fields[i]] * n)
        if ids:
            vs.add(np.concatenate(ids), np.concatenate(vecs), per if keeps_fields(vs) else None)

    def attach_path(self, stamp: PathStamp, rowid: int) -> None:
        """Record that file ``stamp.path`` holds the content of item ``rowid`` (an exact duplicate, or a
        file whose content is indexed already)."""
        self.check_writable()
        with self._lock:
            with self.store.transaction() as conn:
                orphans = self._put_path(conn, stamp, rowid)
            self._drop_vectors(orphans)
            self._dirty = True

    @staticmethod
    def _put_path(conn: sqlite3.Connection, stamp: PathStamp, rowid: int) -> list[int]:
        old = store_writes.delete_path(conn, stamp.path)
        store_writes.put_path(conn, stamp.path, rowid, stamp.size, stamp.mtime_ns)
        if old is not None and old != rowid and store_writes.orphan(conn, old):
            return store_writes.delete_items(conn, [old])
        return []

    def _drop_vectors(self, rowids: Sequence[int]) -> None:
        if rowids:
            for name, vs in self._vectors.items():
                vs.remove(region_rows.slot_ids(rowids).tolist() if name == REGION_FIELD else rowids)

    def store_upload(self, sha256: str, extension: str, data: bytes) -> str:
        """Keep an uploaded file as ``media/<sha256>.<extension>``; returns that path (relative)."""
        self.check_writable()
        rel = f"media/{sha256}.{extension}"
        atomic_write_bytes(self.root / rel, data)
        return rel

    def remove(self, targets: Sequence[str]) -> int:
        """Remove items by id, by file path, or every indexed file under a folder. Returns items removed.

        Unknown ids/paths raise :class:`ConfigError` naming them (nothing is removed then).
        """
        self.check_writable()
        with self._lock:
            rowids: set[int] = set()
            paths: list[str] = []
            unknown: list[str] = []
            for t in targets:
                if (rid := self.rowid_of(t)) is not None:
                    rowids.add(rid)
                    continue
                key = os.path.normpath(os.path.abspath(os.path.expanduser(t)))
                under = self.store.paths_under(key)
                if under:
                    paths.extend(under)
                else:
                    unknown.append(t)
            if unknown:
                raise ConfigError(
                    f"not in the index: {', '.join(repr(u) for u in unknown[:5])}"
                    + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
                    + "; give item ids (memesearch search --json shows them) or indexed file paths"
                )
            return self._remove(rowids, paths)

    def remove_missing(self) -> int:
        """Remove every indexed path whose file no longer exists (items left without a file go)."""
        self.check_writable()
        with self._lock:
            gone = [p for p in self.store.all_paths() if not os.path.exists(p)]
            return self._remove(set(), gone)

    def prune(self, folders: Sequence[Path]) -> int:
        """Remove indexed paths under ``folders`` whose files no longer exist."""
        self.check_writable()
        with self._lock:
            gone: list[str] = []
            for folder in folders:
                gone.extend(p for p in self.store.paths_under(str(folder)) if not os.path.exists(p))
            return self._remove(set(), gone) if gone else 0

    def _remove(self, rowids: set[int], paths: Sequence[str]) -> int:
        with self.store.transaction() as conn:
            for p in paths:
                rid = store_writes.delete_path(conn, p)
                if rid is not None and store_writes.orphan(conn, rid):
                    rowids.add(rid)
            stored = [store_writes.stored_path_in(conn, r) for r in rowids]
            removed = store_writes.delete_items(conn, sorted(rowids))
        self._drop_vectors(removed)
        for rel in stored:
            if rel:
                (self.root / rel).unlink(missing_ok=True)
        self._dirty = True
        self._unsaved += len(removed)
        self.save_if_due()
        return len(removed)

    def update_config(self, **changes: Any) -> None:
        """Change recorded settings (e.g. ``weights=``) and rewrite index.json."""
        self.check_writable()
        with self._lock:
            self.config = IndexConfig.from_dict({**self.config.to_dict(), **changes})
            self.info["config"] = self.config.to_dict()
            atomic_write_json(self.root / "index.json", self.info)

    def set_weights(self, weights: dict[str, float]) -> None:
        """Change the default fusion weights recorded in index.json."""
        self.update_config(weights=weights)

    def insert_vectors(
        self,
        image_vecs: np.ndarray,
        *,
        media: str = "image",
        source: str | None = "synthetic",
        chunk: int = 10_000,
        progress: bool = False,
        save_now: bool = True,
    ) -> list[str]:
        """Add items that are only vectors (benchmarks, migrations): one row each, no file, no text.

        Goes through the same database transactions and vector-store path as files do. ``save_now=False``
        saves the vector stores only when due (:meth:`save_if_due`), as an upload does.
        """
        self.check_writable()
        vecs = np.ascontiguousarray(image_vecs, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[1] != self.dim:
            raise ConfigError(f"expected vectors of shape (n, {self.dim}), got {vecs.shape}")
        ids: list[str] = []
        now = time.time()
        with self._lock, progress_bar("indexing", len(vecs), enabled=progress, transient=False) as advance:
            for start in range(0, len(vecs), chunk):
                part = vecs[start : start + chunk]
                with self.store.transaction() as conn:
                    rows, part_ids = store_writes.insert_vector_rows(
                        conn, part, media=media, source=source, added_at=now
                    )
                ids.extend(part_ids)
                vs = self._vectors["image"]
                row_fields = [RowFields(media=media, source=source)] * len(rows) if keeps_fields(vs) else None
                vs.add(np.array(rows, np.int64), part, row_fields)
                advance(len(part))
            self._dirty = True
            self._unsaved += len(vecs)
            if save_now:
                self.flush()
            else:
                self.save_if_due()
        return ids
