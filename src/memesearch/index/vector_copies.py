"""The SQLite copies of vectors: kept only until the vector store has durably saved them (issue 11).

Every vector is stored once at rest. A batch commits its items and their vectors in one SQLite transaction
(vectors in ``pending_vectors``); the vector stores then add them in memory (FAISS) or write them (Milvus).
Once every store has saved at generation ``G`` (FAISS: file + sidecar written atomically and fsynced;
Milvus: upserts flushed, sidecar written), :func:`drop_saved` deletes the pending rows and records
``kv.vectors_dropped = G``: from then on the saved stores are the only copy of those vectors.

Opening (:mod:`memesearch.index.vector_fields`) loads a saved store that records at least generation
``vectors_dropped``, adds what ``pending_vectors`` still holds (written after the last save, or saved but
not yet dropped when a crash came between the two) and removes the ids the database no longer has. A
``kill -9`` at any point therefore loses no committed vector. A saved store that is missing or unreadable
while SQLite no longer holds its vectors is an error (:class:`LostVectorsError`) naming what is lost and how
to rebuild it, never a silent drop.

An index written before this layout keeps its vectors in ``items.image_vec``/``items.text_vec``; its first
writable open saves the stores and then :func:`migrate_legacy` drops the two columns and VACUUMs the file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from memesearch.errors import MemesearchError
from memesearch.index import region_rows
from memesearch.index.store import Store

logger = logging.getLogger(__name__)

#: free pages above this share of the file are given back to the disk after vectors are dropped
RECLAIM_FRACTION = 0.25


class LostVectorsError(MemesearchError):
    """A saved vector store is missing or unreadable and the database no longer holds its vectors."""


def unsaved_vectors(
    store: Store, field: str, dim: int, batch: int = 20_000
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(rowids, vectors)`` chunks of the ``field`` (``image``/``text``/``region``) vectors SQLite still
    holds: the pending rows (or every item's, for an index in the legacy layout), by ascending rowid
    (region ids for ``region``)."""
    if field == "region":
        with store._lock:
            ids, vecs = region_rows.pending_vectors(store.conn, dim)
        if ids.size:
            yield ids, vecs
        return
    column = f"{field}_vec"
    if column not in ("image_vec", "text_vec"):
        raise ValueError(field)
    table, key = ("items", "rowid") if store.legacy else ("pending_vectors", "item_rowid")
    last = -1
    while True:
        with store._lock:
            rows = store.conn.execute(
                f"SELECT {key}, {column} FROM {table} WHERE {key} > ? AND {column} IS NOT NULL "
                f"ORDER BY {key} LIMIT ?",
                (last, batch),
            ).fetchall()
        if not rows:
            return
        ids = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        last = int(ids[-1])
        yield ids, vecs


def unsaved_all(store: Store, field: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`unsaved_vectors` in one pair of arrays."""
    parts = list(unsaved_vectors(store, field, dim))
    if not parts:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def pending_rowids(store: Store, field: str = "image") -> np.ndarray:
    """Rowids whose vectors SQLite holds (every item in the legacy layout), sorted; for ``region``: the
    region ids whose vectors it holds."""
    if field == "region":
        with store._lock:
            return region_rows.pending_ids(store.conn)
    sql = "SELECT rowid FROM items" if store.legacy else "SELECT item_rowid FROM pending_vectors"
    with store._lock:
        rows = store.conn.execute(sql + " ORDER BY 1").fetchall()
    return np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))


def live_rowids(store: Store, field: str = "image") -> np.ndarray:
    """Every item rowid, sorted; for ``region``: every region id."""
    if field == "region":
        with store._lock:
            return region_rows.live_ids(store.conn)
    with store._lock:
        rows = store.conn.execute("SELECT rowid FROM items ORDER BY rowid").fetchall()
    return np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))


def text_rowids(store: Store) -> np.ndarray:
    """Rowids of the items with context text (the ones a ``text`` vector store holds), sorted."""
    with store._lock:
        rows = store.conn.execute(
            "SELECT DISTINCT item_rowid FROM text_log WHERE passage IS NOT NULL ORDER BY 1"
        ).fetchall()
    return np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))


def dropped_generation(store: Store) -> int:
    """The generation up to which SQLite dropped its vector copies (0: it holds every vector)."""
    return int(store.get_kv("vectors_dropped") or 0)


def drop_saved(store: Store, generation: int) -> int:
    """Delete the SQLite copies of vectors now saved in every vector store at ``generation`` (call only
    after every store saved); returns the rows dropped. Does not bump the database generation.

    Nothing is dropped when the database moved past ``generation`` since the save (a write committed
    in between): its vectors may not be in the saved files, and the pending rows cannot tell which
    save they came after. The next save drops them."""
    if store.legacy:
        return 0
    with store._lock:
        conn = store.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = int(Store._kv(conn, "generation") or 0)
            if now != int(generation):
                conn.execute("ROLLBACK")
                logger.debug("vector copies kept: saved at generation %d, now %d", generation, now)
                return 0
            n = int(conn.execute("DELETE FROM pending_vectors").rowcount)
            n += region_rows.drop_pending(conn)
            if dropped_generation(store) < generation:
                Store._set_kv(conn, "vectors_dropped", str(int(generation)))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    if n:
        reclaim(store)
    return n


def reclaim(store: Store) -> None:
    """Give free pages back to the disk (``auto_vacuum=INCREMENTAL`` databases) once they are more than
    :data:`RECLAIM_FRACTION` of the file: dropped vectors would otherwise keep the file at its peak size."""
    with store._lock:
        conn = store.conn
        if int(conn.execute("PRAGMA auto_vacuum").fetchone()[0]) != 2:
            return
        free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        if free and free > RECLAIM_FRACTION * pages:
            conn.executescript("PRAGMA incremental_vacuum;")  # execute() would free one page a call
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def migrate_legacy(store: Store, generation: int) -> None:
    """Move an index in the legacy layout (vectors in ``items``) to one copy per vector: call after every
    vector store saved at ``generation``. Drops the two columns (one transaction: a crash leaves the old
    layout, migrated again next time) and VACUUMs the file (turning on incremental auto-vacuum)."""
    if not store.legacy:
        return
    logger.info("moving the vectors out of %s (they are saved in the vector stores)", store.path)
    with store._lock:
        conn = store.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("ALTER TABLE items DROP COLUMN image_vec")
            conn.execute("ALTER TABLE items DROP COLUMN text_vec")
            Store._set_kv(conn, "vectors_dropped", str(int(generation)))
            Store._set_kv(conn, "schema_version", "2")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        store.legacy = False
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def lost_message(field: str, path: Path, lost: int, problem: str) -> str:
    """What :class:`LostVectorsError` says: what is lost, and how to rebuild it."""
    root = path.parent.parent
    return (
        f"the {field} vectors of {lost} item(s) are lost: {path} {problem}, and {root / 'meta.sqlite'} "
        "keeps vectors only until they are saved there. Restore that file from a backup, or rebuild: "
        f"index the same folders into a new index (memesearch index FOLDER... --index NEW_DIR; uploads "
        f"are kept in {root / 'media'}); nothing was changed"
    )


__all__ = [
    "LostVectorsError",
    "drop_saved",
    "dropped_generation",
    "live_rowids",
    "migrate_legacy",
    "pending_rowids",
    "reclaim",
    "text_rowids",
    "unsaved_all",
    "unsaved_vectors",
]
