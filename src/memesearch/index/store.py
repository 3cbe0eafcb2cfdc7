"""SQLite metadata store of an index (WAL mode): items, the paths they were found at, enrichment cache.

The database is the source of truth for everything except saved vectors: each vector lives in SQLite
only until the vector store has durably saved it (:mod:`memesearch.index.vector_copies`), so a vector is
stored once at rest, not twice. Every ingest batch is one transaction that also bumps ``generation`` and
writes the batch's vectors into ``pending_vectors``; a crash (even ``kill -9``) therefore leaves either the
whole batch or none of it, and the vectors of every committed item are either in the saved vector store
or still in ``pending_vectors``.

Tables:

* ``items`` — one row per distinct content (``rowid`` is the vector-store id; ``id`` = sha256[:16]);
  an index written before issue 11 also has ``image_vec``/``text_vec`` columns here, moved out on its
  first writable open (:func:`memesearch.index.vector_copies.migrate_legacy`);
* ``pending_vectors`` — the vectors of items written since the vector stores last saved (emptied after
  each save);
* ``paths`` — every file path seen, with size and mtime (unchanged files are skipped on re-runs);
* ``emotions`` — (item, emotion, score), indexed for filters;
* ``cache`` — enrichment results per (sha256, stage, version): a re-run or a re-add never recomputes OCR
  or emotions for content it has seen before, even after the item was removed;
* ``regions``, ``pending_region_vectors`` — each item's regions (boxes, scores, labels, RLE masks) and
  their vectors until saved (:mod:`memesearch.index.region_rows`);
* ``kv`` — generation counter and other small values (``vectors_dropped``: the generation up to which
  SQLite dropped its vector copies).
* ``text_log``, ``item_log`` — the change logs (:mod:`memesearch.index.change_logs`): every live item's
  passage / rowid and one tombstone per removed item, in write order; the lexical branch and the per-item
  tables of search follow them instead of re-reading every item after each write.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.index import change_logs, frame_rows, region_rows
from memesearch.index.records import IndexedItem, item_from_row, path_from_db, path_to_db

SCHEMA_VERSION = 2  # 2: vectors in pending_vectors until saved, not in items

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL UNIQUE,
    media TEXT NOT NULL,
    width INTEGER NOT NULL DEFAULT 0,
    height INTEGER NOT NULL DEFAULT 0,
    frames INTEGER NOT NULL DEFAULT 1,
    phash TEXT NOT NULL DEFAULT '',
    duplicate_of TEXT,
    ocr TEXT,
    captions TEXT NOT NULL DEFAULT '[]',
    source TEXT,
    meta TEXT NOT NULL DEFAULT '{}',
    added_at REAL NOT NULL,
    stored_path TEXT
);
CREATE TABLE IF NOT EXISTS pending_vectors (
    item_rowid INTEGER PRIMARY KEY,
    image_vec BLOB,
    text_vec BLOB
);
CREATE INDEX IF NOT EXISTS items_media ON items(media);
CREATE INDEX IF NOT EXISTS items_source ON items(source);
CREATE TABLE IF NOT EXISTS paths (
    path TEXT PRIMARY KEY,
    item_rowid INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS paths_item ON paths(item_rowid);
CREATE TABLE IF NOT EXISTS emotions (
    item_rowid INTEGER NOT NULL,
    emotion TEXT NOT NULL,
    score REAL NOT NULL,
    rank INTEGER NOT NULL,
    PRIMARY KEY (item_rowid, emotion)
);
CREATE INDEX IF NOT EXISTS emotions_emotion ON emotions(emotion);
CREATE TABLE IF NOT EXISTS cache (
    sha256 TEXT NOT NULL,
    stage TEXT NOT NULL,
    version TEXT NOT NULL,
    value BLOB,
    PRIMARY KEY (sha256, stage, version)
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


_ITEM_COLUMNS = (
    "rowid, id, sha256, media, width, height, frames, phash, duplicate_of, ocr, captions, source, meta, "
    "added_at, stored_path"
)


def vec_to_blob(vec: np.ndarray | None) -> bytes | None:
    return None if vec is None else np.ascontiguousarray(vec, dtype=np.float32).tobytes()


def blob_to_vec(blob: bytes | None, dim: int) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32).reshape(dim)


class Store:
    """Thread-safe access to ``meta.sqlite`` (one connection, one lock; WAL lets readers in other
    processes read while a writer writes)."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        if readonly:
            uri = f"file:{self.path}?mode=ro"
            self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        else:
            self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            if not self.conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall():
                # a new database: free pages (vectors dropped after a save) can be given back to the disk
                self.conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA + change_logs.SCHEMA + region_rows.SCHEMA + frame_rows.SCHEMA)
            if self.get_kv("schema_version") is None:
                self.set_kv("schema_version", str(SCHEMA_VERSION))
            for key, fill in (
                (change_logs.TEXT_LOG_KEY, change_logs.fill_text_log),
                (change_logs.ITEM_LOG_KEY, change_logs.fill_item_log),
            ):
                if self.get_kv(key) is None:  # an index from before the log: one pass over its items
                    self.conn.execute("BEGIN IMMEDIATE")
                    try:
                        fill(self.conn)
                        self._set_kv(self.conn, key, "1")
                        self.conn.execute("COMMIT")
                    except BaseException:
                        self.conn.execute("ROLLBACK")
                        raise
        self.conn.execute("PRAGMA busy_timeout=10000")
        #: an index from before issue 11: its vectors are columns of ``items`` (until migrated)
        self.legacy = any(r[1] == "image_vec" for r in self.conn.execute("PRAGMA table_info(items)"))

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rollback on error); bumps the generation on commit."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                gen = int(self._kv(self.conn, "generation") or 0) + 1
                self.conn.execute(
                    "INSERT INTO kv(key, value) VALUES('generation', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (str(gen),),
                )
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every read inside sees the same committed state (WAL snapshot), taken
        when the block starts; writes of other processes committed meanwhile stay invisible to it."""
        with self._lock:
            self.conn.execute("BEGIN")
            try:
                self.conn.execute("SELECT value FROM kv WHERE key='generation'").fetchall()
                yield self.conn
            finally:
                self.conn.execute("COMMIT")

    # ---- the change logs (what readers follow; memesearch.index.change_logs) ----------------------
    def text_changes(self, after: int) -> tuple[int, list[tuple[int, str | None]]]:
        """Passages written and removed after log position ``after``: ``(last position, [(rowid, passage
        or None = removed), ...])`` in order. ``after=0`` gives every live passage."""
        with self._lock:
            if self._kv(self.conn, change_logs.TEXT_LOG_KEY) is None:  # read-only, from before the log
                rows: list[tuple[int, str | None]] = list(self.text_rows()) if after == 0 else []
                return after, rows
            return change_logs.text_changes(self.conn, after)

    def item_changes(self, after: int) -> tuple[int, list[tuple[int, bool]]]:
        """Items written (``(rowid, True)``) and removed (``(rowid, False)``) after log position ``after``,
        in order. ``after=0`` gives every live item."""
        with self._lock:
            if self._kv(self.conn, change_logs.ITEM_LOG_KEY) is None:  # read-only, from before the log
                if after != 0:
                    return after, []
                rows = self.conn.execute("SELECT rowid FROM items ORDER BY rowid").fetchall()
                return 0, [(int(r[0]), True) for r in rows]
            return change_logs.item_changes(self.conn, after)

    def item_log_position(self) -> int:
        """The item log's last position: follow from here after reading every item."""
        with self._lock:
            if self._kv(self.conn, change_logs.ITEM_LOG_KEY) is None:
                return 0
            return change_logs.item_log_position(self.conn)

    # ---- kv ------------------------------------------------------------------------------------
    @staticmethod
    def _kv(conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _set_kv(conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute(
            "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def get_kv(self, key: str) -> str | None:
        with self._lock:
            return self._kv(self.conn, key)

    def set_kv(self, key: str, value: str) -> None:
        with self._lock:
            self.conn.execute(
                "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, value),
            )

    @property
    def generation(self) -> int:
        return int(self.get_kv("generation") or 0)

    # ---- reads ---------------------------------------------------------------------------------
    def count(self) -> int:
        with self._lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def rowid_of(self, item_id: str) -> int | None:
        with self._lock:
            row = self.conn.execute("SELECT rowid FROM items WHERE id=?", (item_id,)).fetchone()
        return None if row is None else int(row[0])

    def rowid_by_sha(self, sha256: str) -> int | None:
        with self._lock:
            row = self.conn.execute("SELECT rowid FROM items WHERE sha256=?", (sha256,)).fetchone()
        return None if row is None else int(row[0])

    def path_entry(self, path: str) -> tuple[int, int, int] | None:
        """``(item_rowid, size, mtime_ns)`` recorded for ``path``."""
        with self._lock:
            row = self.conn.execute(
                "SELECT item_rowid, size, mtime_ns FROM paths WHERE path=?", (path_to_db(path),)
            ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]), int(row[2]))

    def items_by_rowid(self, rowids: Sequence[int]) -> dict[int, IndexedItem]:
        """Items for ``rowids`` (missing rowids are left out)."""
        out: dict[int, IndexedItem] = {}
        ids = [int(r) for r in rowids]
        with self._lock:
            for start in range(0, len(ids), 900):
                chunk = ids[start : start + 900]
                marks = ",".join("?" * len(chunk))
                rows = self.conn.execute(
                    f"SELECT {_ITEM_COLUMNS} FROM items WHERE rowid IN ({marks})", chunk
                ).fetchall()
                paths = self._paths_for(chunk)
                emos = self._emotions_for(chunk)
                regions = region_rows.regions_of(self.conn, chunk, masks=False)
                for row in rows:
                    item = item_from_row(row, paths.get(int(row[0]), []), emos.get(int(row[0]), []))
                    item.objects = regions.get(int(row[0]), [])
                    out[int(row[0])] = item
        return out

    def _paths_for(self, rowids: list[int]) -> dict[int, list[str]]:
        marks = ",".join("?" * len(rowids))
        out: dict[int, list[str]] = {}
        for rid, path in self.conn.execute(
            f"SELECT item_rowid, path FROM paths WHERE item_rowid IN ({marks}) ORDER BY path", rowids
        ):
            out.setdefault(int(rid), []).append(path_from_db(str(path)))
        return out

    def _emotions_for(self, rowids: list[int]) -> dict[int, list[tuple[str, float]]]:
        marks = ",".join("?" * len(rowids))
        out: dict[int, list[tuple[str, float]]] = {}
        for rid, emo, score in self.conn.execute(
            f"SELECT item_rowid, emotion, score FROM emotions WHERE item_rowid IN ({marks}) ORDER BY rank",
            rowids,
        ):
            out.setdefault(int(rid), []).append((str(emo), float(score)))
        return out

    def stored_path(self, rowid: int) -> str | None:
        with self._lock:
            row = self.conn.execute("SELECT stored_path FROM items WHERE rowid=?", (rowid,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def filter_fields(self, rowids: Sequence[int]) -> dict[int, tuple[str, str | None, tuple[str, ...]]]:
        """``rowid -> (media, source, emotion words)`` of the items ``rowids`` (what a vector store that
        filters keeps beside each vector)."""
        ids = [int(r) for r in rowids]
        out: dict[int, tuple[str, str | None, tuple[str, ...]]] = {}
        emos: dict[int, list[str]] = {}
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = self.conn.execute(
                    f"SELECT rowid, media, source FROM items WHERE rowid IN ({marks})", chunk
                ).fetchall()
                tags = self.conn.execute(
                    f"SELECT item_rowid, emotion FROM emotions WHERE item_rowid IN ({marks}) ORDER BY rank",
                    chunk,
                ).fetchall()
            for rid, emotion in tags:
                emos.setdefault(int(rid), []).append(str(emotion))
            for rid, media, source in rows:
                out[int(rid)] = (str(media), None if source is None else str(source), ())
        return {rid: (m, src, tuple(emos.get(rid, ()))) for rid, (m, src, _) in out.items()}

    def all_phashes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rowids, phashes as uint64)`` of every item with a perceptual hash."""
        with self._lock:
            rows = self.conn.execute("SELECT rowid, phash FROM items WHERE phash != ''").fetchall()
        ids = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        hashes = np.fromiter((int(r[1], 16) for r in rows), dtype=np.uint64, count=len(rows))
        return ids, hashes

    def text_rows(self) -> list[tuple[int, str]]:
        """``(rowid, caption + OCR text)`` of every item that has any text (for the lexical branch)."""
        with self._lock:
            return change_logs.passages(self.conn)

    def _rows_of(self, sql: str, rowids: Sequence[int] | None, column: str = "rowid") -> list[Any]:
        """``sql`` (a SELECT without WHERE) over every row, or over the rows whose ``column`` is in
        ``rowids`` (in chunks of 900 bound parameters)."""
        with self._lock:
            if rowids is None:
                return self.conn.execute(sql).fetchall()
            ids = [int(r) for r in rowids]
            out: list[Any] = []
            for start in range(0, len(ids), 900):
                chunk = ids[start : start + 900]
                marks = ",".join("?" * len(chunk))
                out.extend(self.conn.execute(f"{sql} WHERE {column} IN ({marks})", chunk).fetchall())
            return out

    def emotion_rows(self, rowids: Sequence[int] | None = None) -> list[tuple[int, str, float]]:
        """``(rowid, emotion, score)`` of every emotion tag of every item (or of the items ``rowids``)."""
        rows = self._rows_of("SELECT item_rowid, emotion, score FROM emotions", rowids, "item_rowid")
        return [(int(r), str(e), float(s)) for r, e, s in rows]

    def count_untagged(self) -> int:
        """Items with no emotion tag at all."""
        with self._lock:
            row = self.conn.execute(
                "SELECT COUNT(*) FROM items WHERE NOT EXISTS "
                "(SELECT 1 FROM emotions WHERE emotions.item_rowid = items.rowid)"
            ).fetchone()
        return int(row[0])

    def context_rows(
        self, rowids: Sequence[int] | None = None
    ) -> list[tuple[int, str, int, list[tuple[str, float]], int]]:
        """``(rowid, media, captions, [(OCR line, confidence), ...], generated captions)`` of every item (or
        of the items ``rowids``; calibration features, a few bytes per item: captions and the captions a
        captioner generated are counted in SQL, not read)."""
        out: list[tuple[int, str, int, list[tuple[str, float]], int]] = []
        rows = self._rows_of(
            "SELECT rowid, media, json_array_length(captions), ocr, "
            "coalesce(json_array_length(meta, '$.generated_captions'), 0) FROM items",
            rowids,
        )
        for rid, media, n_captions, ocr, n_generated in rows:
            lines = [(str(o["text"]), float(o["score"])) for o in json.loads(ocr)] if ocr else []
            out.append((int(rid), str(media), int(n_captions or 0), lines, int(n_generated or 0)))
        return out

    def rowids_where(
        self, *, emotions: Sequence[str] = (), media: Sequence[str] = (), source: str | None = None
    ) -> np.ndarray:
        """Rowids of items matching every given filter (emotion: any of; media: any of)."""
        clauses: list[str] = []
        params: list[Any] = []
        if emotions:
            marks = ",".join("?" * len(emotions))
            clauses.append(f"rowid IN (SELECT item_rowid FROM emotions WHERE emotion IN ({marks}))")
            params.extend(emotions)
        if media:
            clauses.append(f"media IN ({','.join('?' * len(media))})")
            params.extend(media)
        if source is not None:
            clauses.append("source = ?")
            params.append(source)
        where = " AND ".join(clauses) if clauses else "1"
        with self._lock:
            rows = self.conn.execute(f"SELECT rowid FROM items WHERE {where}", params).fetchall()
        return np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            media = dict(self.conn.execute("SELECT media, COUNT(*) FROM items GROUP BY media").fetchall())
            emos = dict(
                self.conn.execute(
                    "SELECT emotion, COUNT(*) FROM emotions GROUP BY emotion ORDER BY COUNT(*) DESC"
                ).fetchall()
            )
            n_paths = int(self.conn.execute("SELECT COUNT(*) FROM paths").fetchone()[0])
            near = int(
                self.conn.execute("SELECT COUNT(*) FROM items WHERE duplicate_of IS NOT NULL").fetchone()[0]
            )
            with_ocr = int(
                self.conn.execute(
                    "SELECT COUNT(*) FROM items WHERE ocr IS NOT NULL AND ocr != '[]'"
                ).fetchone()[0]
            )
        return {
            "items": sum(media.values()),
            "paths": n_paths,
            "media": media,
            "emotions": emos,
            "near_duplicates": near,
            "items_with_ocr_text": with_ocr,
        }

    # ---- cache ---------------------------------------------------------------------------------
    def cache_get(self, sha256: str, stage: str, version: str) -> bytes | None:
        with self._lock:
            row = self.conn.execute(
                "SELECT value FROM cache WHERE sha256=? AND stage=? AND version=?", (sha256, stage, version)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def cache_get_many(self, sha256s: Sequence[str], stage: str, version: str) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        shas = list(sha256s)
        with self._lock:
            for start in range(0, len(shas), 900):
                chunk = shas[start : start + 900]
                marks = ",".join("?" * len(chunk))
                for sha, value in self.conn.execute(
                    f"SELECT sha256, value FROM cache WHERE stage=? AND version=? AND sha256 IN ({marks})",
                    [stage, version, *chunk],
                ):
                    out[str(sha)] = bytes(value)
        return out

    def paths_under(self, prefix: str) -> list[str]:
        prefix = path_to_db(prefix)
        with self._lock:
            rows = self.conn.execute(
                "SELECT path FROM paths WHERE path = ? OR substr(path, 1, ?) = ?",
                (prefix, len(prefix) + 1, prefix.rstrip("/") + "/"),
            ).fetchall()
        return [path_from_db(str(r[0])) for r in rows]

    def all_paths(self) -> list[str]:
        with self._lock:
            return [path_from_db(str(r[0])) for r in self.conn.execute("SELECT path FROM paths").fetchall()]
