"""The writes to an index's SQLite schema (:mod:`memesearch.index.store`), one function per change.

Each takes the connection of an open write transaction (``with store.transaction() as conn``) and keeps the
change logs (:mod:`memesearch.index.change_logs`) and the region rows in step with the items, so that every
writer (the ingest pipeline through :class:`~memesearch.index.index.Index`, migrations, benchmarks) changes
the tables the same way. Reads stay on :class:`~memesearch.index.store.Store`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable

import numpy as np

from memesearch.index import change_logs, frame_rows, region_rows
from memesearch.index.records import IndexedItem, path_to_db
from memesearch.index.store import vec_to_blob


def put_cache(conn: sqlite3.Connection, sha256: str, stage: str, version: str, value: bytes) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO cache(sha256, stage, version, value) VALUES (?, ?, ?, ?)",
        (sha256, stage, version, value),
    )


def insert_item(
    conn: sqlite3.Connection,
    item: IndexedItem,
    image_vec: np.ndarray,
    text_vec: np.ndarray | None,
    stored_path: str | None = None,
) -> int:
    cur = conn.execute(
        "INSERT INTO items(id, sha256, media, width, height, frames, phash, duplicate_of, ocr, captions, "
        "source, meta, added_at, stored_path) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            item.id,
            item.sha256,
            item.media,
            item.width,
            item.height,
            item.frames,
            item.phash,
            item.duplicate_of,
            None if item.ocr is None else json.dumps([o.to_dict() for o in item.ocr], ensure_ascii=False),
            json.dumps(item.captions, ensure_ascii=False),
            item.source,
            json.dumps(item.meta, ensure_ascii=False, default=str),
            item.added_at or time.time(),
            stored_path,
        ),
    )
    rowid = int(cur.lastrowid or 0)
    conn.execute(
        "INSERT OR REPLACE INTO pending_vectors(item_rowid, image_vec, text_vec) VALUES (?, ?, ?)",
        (rowid, vec_to_blob(image_vec), vec_to_blob(text_vec)),
    )
    change_logs.log_written(conn, [rowid], [item.passage])
    conn.executemany(
        "INSERT OR REPLACE INTO emotions(item_rowid, emotion, score, rank) VALUES (?, ?, ?, ?)",
        [(rowid, e, float(s), r) for r, (e, s) in enumerate(item.emotions)],
    )
    return rowid


def put_path(conn: sqlite3.Connection, path: str, rowid: int, size: int, mtime_ns: int) -> None:
    conn.execute(
        "INSERT INTO paths(path, item_rowid, size, mtime_ns, seen_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(path) DO UPDATE SET item_rowid=excluded.item_rowid, size=excluded.size, "
        "mtime_ns=excluded.mtime_ns, seen_at=excluded.seen_at",
        (path_to_db(path), rowid, size, mtime_ns, time.time()),
    )


def delete_items(conn: sqlite3.Connection, rowids: Iterable[int]) -> list[int]:
    ids = [int(r) for r in rowids]
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        marks = ",".join("?" * len(chunk))
        conn.execute(f"DELETE FROM paths WHERE item_rowid IN ({marks})", chunk)
        conn.execute(f"DELETE FROM emotions WHERE item_rowid IN ({marks})", chunk)
        conn.execute(
            f"UPDATE items SET duplicate_of=NULL WHERE duplicate_of IN "
            f"(SELECT id FROM items WHERE rowid IN ({marks}))",
            chunk,
        )
        conn.execute(f"DELETE FROM items WHERE rowid IN ({marks})", chunk)
        conn.execute(f"DELETE FROM pending_vectors WHERE item_rowid IN ({marks})", chunk)
        region_rows.delete(conn, chunk)
        frame_rows.delete(conn, chunk)
        change_logs.log_removed(conn, chunk)  # one tombstone per removed item (rowids can be reused)
    return ids


def delete_path(conn: sqlite3.Connection, path: str) -> int | None:
    """Forget ``path``; returns the item rowid it pointed to."""
    path = path_to_db(path)
    row = conn.execute("SELECT item_rowid FROM paths WHERE path=?", (path,)).fetchone()
    if row is None:
        return None
    conn.execute("DELETE FROM paths WHERE path=?", (path,))
    return int(row[0])


def orphan(conn: sqlite3.Connection, rowid: int) -> bool:
    """True when no path points at item ``rowid`` and it holds no stored (uploaded) copy."""
    n = conn.execute("SELECT COUNT(*) FROM paths WHERE item_rowid=?", (rowid,)).fetchone()[0]
    stored = conn.execute("SELECT stored_path FROM items WHERE rowid=?", (rowid,)).fetchone()
    return int(n) == 0 and (stored is None or stored[0] is None)


def stored_path_in(conn: sqlite3.Connection, rowid: int) -> str | None:
    """The uploaded copy (relative to the index folder) item ``rowid`` holds, if any."""
    row = conn.execute("SELECT stored_path FROM items WHERE rowid=?", (rowid,)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def insert_vector_rows(
    conn: sqlite3.Connection, vectors: np.ndarray, *, media: str, source: str | None, added_at: float
) -> tuple[list[int], list[str]]:
    """Items that are only an image vector (benchmarks, migrations): ``(rowids, ids)``; the id is the
    SHA-256 of the vector's bytes. Explicit rowids (the caller holds the write transaction) let one
    ``executemany`` insert the whole chunk."""
    first = int(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM items").fetchone()[0]) + 1
    rows = list(range(first, first + len(vectors)))
    shas = [hashlib.sha256(v.tobytes()).hexdigest() for v in vectors]
    conn.executemany(
        "INSERT INTO items(rowid, id, sha256, media, added_at, source) VALUES (?, ?, ?, ?, ?, ?)",
        [(r, h[:16], h, media, added_at, source) for r, h in zip(rows, shas, strict=True)],
    )
    conn.executemany(
        "INSERT OR REPLACE INTO pending_vectors(item_rowid, image_vec) VALUES (?, ?)",
        [(r, v.tobytes()) for r, v in zip(rows, vectors, strict=True)],
    )
    change_logs.log_written(conn, rows, [None] * len(rows))
    return rows, [h[:16] for h in shas]
