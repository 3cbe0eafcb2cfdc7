"""``memesearch index check DIR [--repair]``: is an index folder whole, and what can be fixed safely.

What is checked (without loading the encoder):

* ``index.json`` reads (else the folder is not an index: a usage/input error, not a finding);
* ``meta.sqlite``: ``PRAGMA integrity_check``, and paths that point at no item;
* per vector field (``image``, ``text``, ``region``) and store (FAISS files, milvus-lite, a Milvus server):
  the saved store reads; every row that needs a vector has one, in the store or still in SQLite
  (``pending_vectors``, which an open adds); a store that records the database's current generation holds
  no vector of a row that is gone (one saved earlier may: vectors of rows removed since the last save, like
  new vectors waiting in SQLite, are normal between saves — a note, not a problem);
* ``media/`` (uploads): files no item names (orphans: an upload killed before its commit, a temporary file
  of an interrupted write; younger than :data:`ORPHAN_MIN_AGE_S` they are a note: an upload may be in
  flight) and items whose uploaded file is missing.

It may run while a writer works: each store is read before the database snapshot it is compared with, and
read again when a save came in between (the order a backup uses, :mod:`memesearch.index.backup`).

``--repair`` fixes what can be fixed without guessing, and says what it did: vectors of gone rows are
removed and vectors still in SQLite are written to the store (an unreadable vector file is rebuilt from its
SQLite copies); rows whose vectors are lost everywhere are dropped (re-run ``memesearch index`` on their
folders to embed them again: their paths are forgotten with them, so they are not skipped as unchanged);
paths pointing at no item are deleted; an item whose uploaded file is missing keeps its indexed paths, or is
dropped when it has none; orphan media files older than :data:`ORPHAN_MIN_AGE_S` are deleted. The uploads
of rows it drops are moved to ``lost+found/``, never deleted. A corrupt database is not repaired (restore a
backup: ``memesearch index backup``). ``--repair`` writes the index: run it with no other writer (server,
``memesearch index``) on it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.errors import ConfigError
from memesearch.index import region_rows, store_writes
from memesearch.index import vector_fields as vf
from memesearch.index.config import IndexConfig
from memesearch.index.info import read_index_info
from memesearch.index.store import Store
from memesearch.index.vector_copies import (
    dropped_generation,
    live_rowids,
    pending_rowids,
    text_rowids,
    unsaved_all,
)
from memesearch.index.vector_store import (
    VectorStore,
    VectorStoreError,
    new_vector_store,
    parse_store_spec,
    vector_store_class,
)
from memesearch.index.writer_lock import WriterLock

#: orphan media files younger than this are left alone by ``--repair`` (an upload may be mid-write)
ORPHAN_MIN_AGE_S = 300.0
#: reads of a field's store and the database when a writer saved in between
READ_ATTEMPTS = 4
#: examples named per finding
EXAMPLES = 5


@dataclass
class Finding:
    """One kind of problem: ``code`` (stable), how many, a sentence, whether ``--repair`` fixes it."""

    code: str
    count: int
    message: str
    fixable: bool
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "count": self.count,
            "message": self.message,
            "fixable": self.fixable,
            "examples": self.examples,
        }


@dataclass
class CheckReport:
    """What :func:`check_index` found (and, with ``repair``, did)."""

    root: Path
    items: int = 0
    vectors: dict[str, int] = field(default_factory=dict)
    media_files: int = 0
    findings: list[Finding] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth knowing, not problems

    @property
    def ok(self) -> bool:
        return not self.findings

    def verdict(self) -> str:
        """One line: ``ok: ...`` or ``PROBLEMS: ...``."""
        sizes = ", ".join(f"{k} {v}" for k, v in self.vectors.items())
        what = f"{self.items} items, vectors: {sizes or 'none'}, {self.media_files} media files"
        if self.ok:
            return f"ok: {self.root}: {what}; no problems found"
        fixable = all(f.fixable for f in self.findings)
        listed = "; ".join(f"{f.count} {f.code}" for f in self.findings)
        hint = (
            f"run 'memesearch index check {self.root} --repair'"
            if fixable
            else "some cannot be repaired: restore a backup (memesearch index backup) or rebuild"
        )
        return f"PROBLEMS: {self.root}: {what}; {listed} — {hint}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": str(self.root),
            "ok": self.ok,
            "items": self.items,
            "vectors": self.vectors,
            "media_files": self.media_files,
            "findings": [f.to_dict() for f in self.findings],
            "repaired": self.repaired,
            "notes": self.notes,
            "verdict": self.verdict(),
        }


def _examples(values: Any) -> list[str]:
    return [str(v) for v in list(values)[:EXAMPLES]]


def integrity_errors(db: Path) -> list[str]:
    """``PRAGMA integrity_check`` of ``db`` (read-only): its messages, ``[]`` when it says ok."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        conn.close()
    return [] if rows == ["ok"] else rows


def _field_ids(store: Store, name: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(ids that need a vector, ids whose vector SQLite still holds)`` of field ``name``."""
    if name == "text":
        need = text_rowids(store)
        pending = unsaved_all(store, "text", dim)[0]
    else:
        need = live_rowids(store, name)
        pending = pending_rowids(store, name)
    return need, pending


@contextlib.contextmanager
def _saved_store(
    root: Path, spec: str, name: str, dim: int, config: IndexConfig
) -> Iterator[tuple[VectorStore, str | None]]:
    """The saved store of field ``name`` as it is on disk (any generation), and why it is unusable (None:
    it reads). A milvus store whose sidecar does not match reattaches to its collection."""
    path = vf.vector_path(root, spec, name)
    _, location = parse_store_spec(spec)
    try:
        loaded = vector_store_class(spec).load(path, dim, config.vectors, -1, location=location)
    except VectorStoreError as exc:
        raise ConfigError(f"cannot check the {name} vectors: {exc}") from None
    problem = None
    if loaded is None:
        problem = f"{path.name} is missing" if not path.exists() else f"{path.name} is unreadable or damaged"
        loaded = new_vector_store(spec, dim, config.vectors, path)
    try:
        yield loaded, problem
    finally:
        loaded.close()


def _read_field(
    root: Path, spec: str, name: str, dim: int, config: IndexConfig, store: Store
) -> dict[str, Any]:
    """One field's saved store, then (in that order, as a backup does) one database snapshot; read again
    when a writer saved in between (a store replaced while read, or one older than the copies SQLite
    dropped), up to :data:`READ_ATTEMPTS` times."""
    path = vf.vector_path(root, spec, name)
    for attempt in range(READ_ATTEMPTS):
        with _saved_store(root, spec, name, dim, config) as (vs, problem):
            have = vs.ids()
            saved_gen = getattr(vs, "saved_generation", None)
        with store.snapshot():
            need, pending = _field_ids(store, name, dim)
            live = live_rowids(store, name) if name != "text" else need
            gen, dropped = store.generation, dropped_generation(store)
        racy = (problem is not None and path.exists()) or (saved_gen is not None and saved_gen < dropped)
        if not racy or attempt == READ_ATTEMPTS - 1:
            break
        time.sleep(0.2 * (attempt + 1))
    return {
        "have": have,
        "saved_gen": saved_gen,
        "problem": problem,
        "need": need,
        "pending": pending,
        "live": live,
        "gen": gen,
        "dropped": dropped,
    }


def _check_vectors(
    report: CheckReport, root: Path, info: dict[str, Any], config: IndexConfig, store: Store
) -> dict[str, np.ndarray]:
    """Vector findings; returns ``field -> item rowids`` whose vectors are lost everywhere."""
    from memesearch.index.index import vector_fields_of

    dim = int(info["encoder"]["dim"])
    lost: dict[str, np.ndarray] = {}
    for name in vector_fields_of(config):
        f = _read_field(root, config.vector_store, name, dim, config, store)
        have, saved_gen, problem, dropped = f["have"], f["saved_gen"], f["problem"], f["dropped"]
        report.vectors[name] = int(have.size)
        if problem is not None and (dropped > 0 or have.size):
            report.findings.append(
                Finding(
                    f"{name}-store-unreadable",
                    1,
                    f"the {name} vector store: {problem}; --repair rebuilds it from the copies SQLite holds",
                    True,
                )
            )
        elif problem is None and saved_gen is not None and saved_gen < dropped:
            report.findings.append(
                Finding(
                    f"{name}-store-stale",
                    1,
                    f"the {name} vector store records generation {saved_gen}, older than the save after "
                    f"which SQLite dropped its copies ({dropped})",
                    True,
                )
            )
        need, pending = f["need"], f["pending"]
        missing = need[~np.isin(need, have) & ~np.isin(need, pending)]
        if missing.size:
            owners = np.unique(region_rows.owners(missing)) if name == "region" else missing
            lost[name] = owners
            report.findings.append(
                Finding(
                    f"{name}-vectors-lost",
                    int(owners.size),
                    f"{owners.size} item(s) have no {name} vector in the store nor in SQLite; --repair drops "
                    "them (index their folders again to embed them anew)",
                    True,
                    _examples(owners),
                )
            )
        extra = have[~np.isin(have, f["live"])]
        if extra.size and saved_gen is not None and saved_gen >= f["gen"]:
            # the store says it is in step with the database, yet holds vectors of rows it does not have
            report.findings.append(
                Finding(
                    f"{name}-vectors-stale",
                    int(extra.size),
                    f"{extra.size} {name} vector(s) belong to rows that are gone; --repair removes them",
                    True,
                    _examples(extra),
                )
            )
        elif extra.size or pending.size:
            report.notes.append(
                f"{name}: {extra.size} vector(s) of removed rows and {pending.size} new vector(s) in SQLite "
                "wait for the next save (normal between saves; the next writable open or save settles them)"
            )
    return lost


def _media_state(root: Path, store: Store) -> tuple[dict[str, int], list[Path], list[tuple[int, str]]]:
    """``(stored path -> rowid, orphan files, [(rowid, stored path) whose file is missing])``."""
    with store._lock:
        rows = store.conn.execute(
            "SELECT rowid, stored_path FROM items WHERE stored_path IS NOT NULL"
        ).fetchall()
    named = {str(r[1]): int(r[0]) for r in rows}
    media = root / "media"
    files = sorted(p for p in media.rglob("*") if p.is_file() or p.is_symlink()) if media.is_dir() else []
    orphans = [p for p in files if p.relative_to(root).as_posix() not in named]
    missing = [(rid, rel) for rel, rid in named.items() if not (root / rel).is_file()]
    return named, orphans, missing


def _check_media(report: CheckReport, root: Path, store: Store) -> tuple[list[Path], list[tuple[int, str]]]:
    named, found, missing = _media_state(root, store)
    report.media_files = len(named) - len(missing)
    now = time.time()
    orphans = [p for p in found if now - _mtime(p) >= ORPHAN_MIN_AGE_S]
    if len(found) > len(orphans):
        report.notes.append(
            f"{len(found) - len(orphans)} file(s) in media/ younger than {ORPHAN_MIN_AGE_S:.0f} s belong to "
            "no item yet (an upload may be in flight); left alone"
        )
    if orphans:
        report.findings.append(
            Finding(
                "orphan-media",
                len(orphans),
                f"{len(orphans)} file(s) in media/ belong to no item (older than {ORPHAN_MIN_AGE_S:.0f} s); "
                "--repair deletes them",
                True,
                _examples(p.name for p in orphans),
            )
        )
    if missing:
        report.findings.append(
            Finding(
                "missing-media",
                len(missing),
                f"{len(missing)} uploaded item(s) lost their file in media/; --repair keeps their indexed "
                "paths or drops the items that have none",
                True,
                _examples(rel for _, rel in missing),
            )
        )
    return orphans, missing


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except FileNotFoundError:
        return time.time()


def _dangling_paths(store: Store) -> int:
    with store._lock:
        row = store.conn.execute(
            "SELECT COUNT(*) FROM paths WHERE item_rowid NOT IN (SELECT rowid FROM items)"
        ).fetchone()
    return int(row[0])


def check_index(root: str | os.PathLike[str], *, repair: bool = False) -> CheckReport:
    """Check the index at ``root`` (see the module docstring); with ``repair``, fix what can be fixed and
    check again: the report returned is the second check's, with ``repaired`` saying what was done.

    Raises :class:`~memesearch.errors.ConfigError` (or ``IndexNotFoundError``) when ``root`` is not an index
    or a store cannot be opened (a milvus-lite file held by another process).
    """
    path = Path(root).expanduser()
    info = read_index_info(path)
    config = IndexConfig.from_dict(dict(info["config"]))
    report = CheckReport(path)
    db = path / "meta.sqlite"
    if not db.is_file():
        report.findings.append(Finding("database-missing", 1, f"{db} is missing", False))
        return report
    errors = integrity_errors(db)
    if errors:
        report.findings.append(
            Finding(
                "database-corrupt",
                len(errors),
                "PRAGMA integrity_check failed; restore a backup (memesearch index backup) or rebuild",
                False,
                errors[:EXAMPLES],
            )
        )
        return report  # the rest reads the same damaged file
    # a repair writes: it takes the writer lock (refused at once while a server or an ingest writes)
    lock = WriterLock(path)
    if repair:
        lock.acquire()
    try:
        store = Store(db, readonly=not repair)
    except BaseException:
        lock.release()
        raise
    try:
        report.items = store.count()
        dangling = _dangling_paths(store)
        if dangling:
            report.findings.append(
                Finding("dangling-paths", dangling, f"{dangling} indexed path(s) point at no item", True)
            )
        lost = _check_vectors(report, path, info, config, store)
        orphans, missing = _check_media(report, path, store)
        if not repair or report.ok:
            return report
        if any(not f.fixable for f in report.findings):
            report.repaired.append("nothing repaired: a problem that --repair cannot fix was found")
            return report
        done = _repair(path, info, config, store, lost, orphans, missing)
    finally:
        store.close()
        lock.release()
    again = check_index(path)
    again.repaired = done
    return again


def _repair(
    root: Path,
    info: dict[str, Any],
    config: IndexConfig,
    store: Store,
    lost: dict[str, np.ndarray],
    orphans: list[Path],
    missing: list[tuple[int, str]],
) -> list[str]:
    from memesearch.index.index import vector_fields_of

    done: list[str] = []
    drop = set(int(r) for ids in lost.values() for r in ids.tolist())
    keep_paths: list[int] = []
    for rowid, _rel in missing:
        with store._lock:
            n = store.conn.execute("SELECT COUNT(*) FROM paths WHERE item_rowid=?", (rowid,)).fetchone()[0]
        (keep_paths if int(n) else []).append(rowid)
        if not int(n):
            drop.add(rowid)
    moved: list[str] = []
    with store.transaction() as conn:
        gone = conn.execute("DELETE FROM paths WHERE item_rowid NOT IN (SELECT rowid FROM items)").rowcount
        if gone:
            done.append(f"deleted {gone} path(s) pointing at no item")
        for rowid in keep_paths:
            conn.execute("UPDATE items SET stored_path=NULL WHERE rowid=?", (rowid,))
        if keep_paths:
            done.append(f"{len(keep_paths)} item(s) whose upload is missing keep their indexed paths")
        stored = [store_writes.stored_path_in(conn, r) for r in sorted(drop)]
        if drop:
            store_writes.delete_items(conn, sorted(drop))
            why = ", ".join(f"{len(v)} without {k} vectors" for k, v in lost.items())
            done.append(
                f"dropped {len(drop)} item(s) ({why or 'upload missing, no path'}); index their folders "
                f"again to add them back: {', '.join(_examples(sorted(drop)))}"
            )
    for rel in stored:
        if rel and (root / rel).is_file():
            target = root / "lost+found" / Path(rel).name
            target.parent.mkdir(exist_ok=True)
            os.replace(root / rel, target)
            moved.append(target.name)
    if moved:
        done.append(f"moved {len(moved)} upload(s) of dropped items to {root / 'lost+found'}")
    # the vector stores: remove stale vectors, add the SQLite copies, save, drop the copies
    stores = vf.open_field_stores(
        root,
        config.vector_store,
        vector_fields_of(config),
        int(info["encoder"]["dim"]),
        config.vectors,
        store,
        readonly=False,
    )
    for vs in stores.values():
        vs.close()
    done.append("vector stores brought in step with the database and saved")
    removed = 0
    for p in orphans:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed += 1
    if removed:
        done.append(f"deleted {removed} orphan media file(s)")
    return done


__all__ = ["ORPHAN_MIN_AGE_S", "CheckReport", "Finding", "check_index", "integrity_errors"]
