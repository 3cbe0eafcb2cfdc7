"""The index's change logs: what readers follow instead of re-reading every item after each write.

Two append-only tables in the index's SQLite database, written in the same transaction as the items
they describe (so a crash leaves the log and the items consistent):

* ``text_log`` — ``(seq, item_rowid, passage)``: every live item's passage (captions, then OCR) and one
  tombstone (``passage`` NULL) per removed item. The lexical branch follows it.
* ``item_log`` — ``(seq, item_rowid, live)``: one row per live item (``live`` 1) and one tombstone per
  removed item (``live`` 0). Per-item tables built over the index (calibration features, emotion tags)
  follow it: after a write of ten items at 1,000,000 they read ten rows, not a million.

A removed item's earlier entries are deleted with it (rowids can be reused by later items), so each log
holds about one row per live item plus one per removed rowid. An index written before a log existed gets
it filled in one pass on its first writable open; a read-only view of such an index reads every item
instead (``changes`` with ``after == 0``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from memesearch.index.records import item_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS text_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_rowid INTEGER NOT NULL,
    passage TEXT
);
CREATE INDEX IF NOT EXISTS text_log_item ON text_log(item_rowid);
CREATE TABLE IF NOT EXISTS item_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_rowid INTEGER NOT NULL,
    live INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS item_log_item ON item_log(item_rowid);
"""

#: kv keys marking that a log is complete for this database
TEXT_LOG_KEY = "text_log"
ITEM_LOG_KEY = "item_log"


def passages(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """``(rowid, passage)`` of every item with context text (captions, then OCR), in rowid order."""
    rows = conn.execute(
        "SELECT rowid, captions, ocr FROM items "
        "WHERE captions != '[]' OR (ocr IS NOT NULL AND ocr != '[]') ORDER BY rowid"
    ).fetchall()
    out: list[tuple[int, str]] = []
    for rid, caps, ocr in rows:
        text = item_text(json.loads(caps), None if ocr is None else json.loads(ocr))
        if text:
            out.append((int(rid), text))
    return out


def fill_text_log(conn: sqlite3.Connection) -> None:
    """Start the passage log of an index written before it existed (inside the caller's transaction)."""
    conn.executemany("INSERT INTO text_log(item_rowid, passage) VALUES (?, ?)", passages(conn))


def fill_item_log(conn: sqlite3.Connection) -> None:
    """Start the item log of an index written before it existed (inside the caller's transaction)."""
    conn.execute("INSERT INTO item_log(item_rowid, live) SELECT rowid, 1 FROM items ORDER BY rowid")


def log_written(conn: sqlite3.Connection, rowids: Sequence[int], passages: Sequence[str | None]) -> None:
    """Record newly written items (``passages[i]``: the item's passage, or None/'' without text)."""
    conn.executemany("INSERT INTO item_log(item_rowid, live) VALUES (?, 1)", [(int(r),) for r in rowids])
    conn.executemany(
        "INSERT INTO text_log(item_rowid, passage) VALUES (?, ?)",
        [(int(r), p) for r, p in zip(rowids, passages, strict=True) if p],
    )


def log_removed(conn: sqlite3.Connection, rowids: Sequence[int]) -> None:
    """Replace the removed items' entries by one tombstone each, in both logs."""
    marks = ",".join("?" * len(rowids))
    ids = [int(r) for r in rowids]
    conn.execute(f"DELETE FROM text_log WHERE item_rowid IN ({marks})", ids)
    conn.execute(f"DELETE FROM item_log WHERE item_rowid IN ({marks})", ids)
    conn.executemany("INSERT INTO text_log(item_rowid, passage) VALUES (?, NULL)", [(r,) for r in ids])
    conn.executemany("INSERT INTO item_log(item_rowid, live) VALUES (?, 0)", [(r,) for r in ids])


def text_changes(conn: sqlite3.Connection, after: int) -> tuple[int, list[tuple[int, str | None]]]:
    """Passages after position ``after``: ``(last position, [(rowid, passage or None = removed)])``."""
    found = conn.execute(
        "SELECT seq, item_rowid, passage FROM text_log WHERE seq > ? ORDER BY seq", (int(after),)
    ).fetchall()
    last = int(found[-1][0]) if found else int(after)
    return last, [(int(r), None if t is None else str(t)) for _, r, t in found]


def item_changes(conn: sqlite3.Connection, after: int) -> tuple[int, list[tuple[int, bool]]]:
    """Items after position ``after``: ``(last position, [(rowid, live), ...])`` in write order."""
    found = conn.execute(
        "SELECT seq, item_rowid, live FROM item_log WHERE seq > ? ORDER BY seq", (int(after),)
    ).fetchall()
    last = int(found[-1][0]) if found else int(after)
    return last, [(int(r), bool(live)) for _, r, live in found]


def item_log_position(conn: sqlite3.Connection) -> int:
    """The item log's last position (0 when empty)."""
    return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM item_log").fetchone()[0])
