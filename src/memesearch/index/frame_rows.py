"""The per-frame vectors of animated items (GIF, animated WebP/APNG, video) in SQLite.

An item's image vector (the one the vector stores search, FAISS or Milvus) is the renormalised mean of its
sampled frames' vectors. An item with more than one sampled frame also keeps each frame's unit vector and
time here, in ``frame_vectors`` keyed by ``(item_rowid, k)`` (``k``: the frame's index among the sampled
frames, 0 = the cover). The image branch finds candidates by the mean vector and then scores an animated
candidate by its best frame (:mod:`memesearch.search.frames`); the frames are read for the candidates
only. Frame vectors live in SQLite alone — the vector stores hold one vector per item, whichever store the
index uses — so a FAISS index and a Milvus index of the same files hold the same frames, and they commit
with their item in one transaction. Still images have no rows (their one frame *is* the item vector).

Every function takes an open connection; writes run inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS frame_vectors (
    item_rowid INTEGER NOT NULL,
    k INTEGER NOT NULL,
    time_ms INTEGER,
    vec BLOB NOT NULL,
    PRIMARY KEY (item_rowid, k)
);
"""


@dataclass
class ItemFrames:
    """One item's sampled frames: ``vectors`` ``(F, dim)`` unit vectors, ``times_ms`` each frame's time
    (None entries when the file gave none)."""

    vectors: np.ndarray
    times_ms: list[int | None]


def has_table(conn: sqlite3.Connection) -> bool:
    """Whether the database has the frame table (an index opened read-only from before it has not)."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='frame_vectors'").fetchone()
    return row is not None


def insert(
    conn: sqlite3.Connection, item_rowid: int, vectors: np.ndarray, times_s: Sequence[float] | None
) -> None:
    """Write an item's frame vectors ``(F, dim)`` and times (seconds, or None); nothing for one frame."""
    vecs = np.ascontiguousarray(vectors, dtype=np.float32)
    if vecs.ndim != 2 or len(vecs) < 2:
        return
    if times_s is not None and len(times_s) != len(vecs):
        raise ValueError(f"{len(vecs)} frame vectors but {len(times_s)} frame times")
    conn.executemany(
        "INSERT OR REPLACE INTO frame_vectors(item_rowid, k, time_ms, vec) VALUES (?, ?, ?, ?)",
        [
            (
                int(item_rowid),
                k,
                None if times_s is None else round(float(times_s[k]) * 1000),
                vecs[k].tobytes(),
            )
            for k in range(len(vecs))
        ],
    )


def delete(conn: sqlite3.Connection, rowids: Sequence[int]) -> None:
    """Forget the frames of items ``rowids`` (at most 900 per call)."""
    if not rowids or not has_table(conn):
        return
    marks = ",".join("?" * len(rowids))
    conn.execute(f"DELETE FROM frame_vectors WHERE item_rowid IN ({marks})", [int(r) for r in rowids])


def frames_of(conn: sqlite3.Connection, rowids: Sequence[int], dim: int) -> dict[int, ItemFrames]:
    """``item rowid -> its frames`` in frame order (items without frame rows are left out)."""
    out: dict[int, ItemFrames] = {}
    if not len(rowids) or not has_table(conn):
        return out
    ids = [int(r) for r in rowids]
    rows: dict[int, list[tuple[int | None, bytes]]] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        for rowid, time_ms, blob in conn.execute(
            f"SELECT item_rowid, time_ms, vec FROM frame_vectors "
            f"WHERE item_rowid IN ({','.join('?' * len(chunk))}) ORDER BY item_rowid, k",
            chunk,
        ):
            rows.setdefault(int(rowid), []).append((None if time_ms is None else int(time_ms), blob))
    for rowid, frames in rows.items():
        vecs = np.frombuffer(b"".join(b for _, b in frames), dtype=np.float32).reshape(len(frames), dim)
        out[rowid] = ItemFrames(vectors=vecs, times_ms=[t for t, _ in frames])
    return out


def count(conn: sqlite3.Connection) -> int:
    """Items that keep frame vectors."""
    if not has_table(conn):
        return 0
    return int(conn.execute("SELECT COUNT(DISTINCT item_rowid) FROM frame_vectors").fetchone()[0])


__all__ = ["SCHEMA", "ItemFrames", "count", "delete", "frames_of", "has_table", "insert"]
