"""The regions of indexed items in SQLite: boxes, scores, labels, RLE masks, and their unsaved vectors.

An item's regions (found by the regions enricher, :mod:`memesearch.enrich.regions`) are rows of
``regions`` keyed by ``(item_rowid, k)``, ``k`` = 0, 1, ... in the order the enricher kept them (best
first). Each region has one vector in the index's ``region`` vector store under the id
``item_rowid * REGION_SLOTS + k`` (:func:`region_id`), so a region id names its item without a lookup and
removing an item removes the ids of every slot it could hold. Like the item vectors, a region vector waits
in ``pending_region_vectors`` until the vector stores saved it (:mod:`memesearch.index.vector_copies`).

Every function takes an open connection; writes run inside the caller's transaction
(:meth:`memesearch.index.store.Store.transaction`), so an item and its regions commit together.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

import numpy as np

from memesearch.index.config import REGION_SLOTS
from memesearch.objects.regions import Region, Rle

SCHEMA = """
CREATE TABLE IF NOT EXISTS regions (
    item_rowid INTEGER NOT NULL,
    k INTEGER NOT NULL,
    x0 REAL NOT NULL,
    y0 REAL NOT NULL,
    x1 REAL NOT NULL,
    y1 REAL NOT NULL,
    score REAL NOT NULL,
    label TEXT,
    mask TEXT,
    PRIMARY KEY (item_rowid, k)
);
CREATE TABLE IF NOT EXISTS pending_region_vectors (
    region_id INTEGER PRIMARY KEY,
    vec BLOB NOT NULL
);
"""


def region_id(item_rowid: int, k: int) -> int:
    """The vector-store id of region ``k`` of item ``item_rowid``."""
    return int(item_rowid) * REGION_SLOTS + int(k)


def slot_ids(rowids: Iterable[int]) -> np.ndarray:
    """Every region id items ``rowids`` could hold (``(n * REGION_SLOTS,)``): what a removal deletes."""
    rows = np.asarray(list(rowids), dtype=np.int64)
    return np.add.outer(rows * REGION_SLOTS, np.arange(REGION_SLOTS, dtype=np.int64)).ravel()


def owners(region_ids: np.ndarray) -> np.ndarray:
    """The item rowid of each region id."""
    return np.asarray(region_ids, dtype=np.int64) // REGION_SLOTS


def has_tables(conn: sqlite3.Connection) -> bool:
    """Whether the database has the region tables (an index opened read-only from before them has not)."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='regions'").fetchone()
    return row is not None


def insert(
    conn: sqlite3.Connection, item_rowid: int, regions: Sequence[Region], vectors: np.ndarray | None
) -> None:
    """Write an item's regions (and their vectors, pending until saved); at most ``REGION_SLOTS``."""
    if len(regions) > REGION_SLOTS:
        raise ValueError(f"an item holds at most {REGION_SLOTS} regions, got {len(regions)}")
    conn.executemany(
        "INSERT OR REPLACE INTO regions(item_rowid, k, x0, y0, x1, y1, score, label, mask) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                int(item_rowid),
                k,
                *(float(v) for v in r.box),
                float(r.score),
                r.label,
                None if r.mask is None else json.dumps(r.mask.to_dict()),
            )
            for k, r in enumerate(regions)
        ],
    )
    if vectors is not None:
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        conn.executemany(
            "INSERT OR REPLACE INTO pending_region_vectors(region_id, vec) VALUES (?, ?)",
            [(region_id(item_rowid, k), vecs[k].tobytes()) for k in range(len(regions))],
        )


def delete(conn: sqlite3.Connection, rowids: Sequence[int]) -> None:
    """Forget the regions (and unsaved region vectors) of items ``rowids`` (at most 900 per call)."""
    if not rowids or not has_tables(conn):
        return
    marks = ",".join("?" * len(rowids))
    conn.execute(f"DELETE FROM regions WHERE item_rowid IN ({marks})", list(rowids))
    ids = slot_ids(rowids).tolist()
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        conn.execute(
            f"DELETE FROM pending_region_vectors WHERE region_id IN ({','.join('?' * len(chunk))})", chunk
        )


def _region(row: Sequence[object]) -> Region:
    x0, y0, x1, y1, score, label, mask = row
    return Region(
        box=(float(x0), float(y0), float(x1), float(y1)),  # type: ignore[arg-type]
        label=None if label is None else str(label),
        score=float(score),  # type: ignore[arg-type]
        mask=None if mask is None else Rle.from_dict(json.loads(str(mask))),
    )


def regions_of(
    conn: sqlite3.Connection, rowids: Sequence[int], *, masks: bool = True
) -> dict[int, list[Region]]:
    """``item rowid -> its regions`` in slot order (items without regions are left out)."""
    out: dict[int, list[Region]] = {}
    if not rowids or not has_tables(conn):
        return out
    mask_col = "mask" if masks else "NULL"
    ids = [int(r) for r in rowids]
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        for row in conn.execute(
            f"SELECT item_rowid, x0, y0, x1, y1, score, label, {mask_col} FROM regions "
            f"WHERE item_rowid IN ({','.join('?' * len(chunk))}) ORDER BY item_rowid, k",
            chunk,
        ):
            out.setdefault(int(row[0]), []).append(_region(row[1:]))
    return out


def region_ids_of(conn: sqlite3.Connection, rowids: Sequence[int]) -> np.ndarray:
    """The region ids of items ``rowids`` (sorted)."""
    if not rowids or not has_tables(conn):
        return np.zeros(0, np.int64)
    ids = [int(r) for r in rowids]
    found: list[int] = []
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        found.extend(
            int(r[0])
            for r in conn.execute(
                f"SELECT item_rowid * {REGION_SLOTS} + k FROM regions "
                f"WHERE item_rowid IN ({','.join('?' * len(chunk))})",
                chunk,
            )
        )
    return np.sort(np.array(found, dtype=np.int64))


def live_ids(conn: sqlite3.Connection) -> np.ndarray:
    """Every region id of every item, sorted."""
    if not has_tables(conn):
        return np.zeros(0, np.int64)
    rows = conn.execute(f"SELECT item_rowid * {REGION_SLOTS} + k FROM regions ORDER BY 1").fetchall()
    return np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))


def pending_ids(conn: sqlite3.Connection) -> np.ndarray:
    """Region ids whose vectors SQLite still holds, sorted."""
    if not has_tables(conn):
        return np.zeros(0, np.int64)
    rows = conn.execute("SELECT region_id FROM pending_region_vectors ORDER BY 1").fetchall()
    return np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))


def pending_vectors(conn: sqlite3.Connection, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(region ids, vectors)`` SQLite still holds, by ascending id."""
    if not has_tables(conn):
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    rows = conn.execute("SELECT region_id, vec FROM pending_region_vectors ORDER BY region_id").fetchall()
    ids = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
    vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
    return ids, vecs


def drop_pending(conn: sqlite3.Connection) -> int:
    """Delete every unsaved region vector (the stores saved them); returns the rows deleted."""
    if not has_tables(conn):
        return 0
    return int(conn.execute("DELETE FROM pending_region_vectors").rowcount)


__all__ = [
    "SCHEMA",
    "delete",
    "drop_pending",
    "has_tables",
    "insert",
    "live_ids",
    "owners",
    "pending_ids",
    "pending_vectors",
    "region_id",
    "region_ids_of",
    "regions_of",
    "slot_ids",
]
