"""``memesearch index backup DIR OUT``: a consistent copy of an index that is itself a valid index folder.

``OUT`` can be searched, served and checked like ``DIR`` (restoring is using it, or copying it back); it is
written beside its final place and renamed into place when complete, so a failed backup leaves no half
folder. Writers may keep running while it is taken.

How the copy is consistent (the same rule a crash relies on, :mod:`memesearch.index.vector_copies`): a
vector lives in SQLite (``pending_vectors``) until every store saved it at some generation ``G``; only then
are the SQLite copies dropped (``kv.vectors_dropped = G``). So the backup reads, in this order:

1. each saved vector store, noting the generation it records (FAISS: its file and sidecar are opened — an
   open file keeps its content when a save renames a new one into place — and their bytes copied after
   step 2, so only a few system calls separate the two steps; milvus-lite: the collection, which no other
   process can write meanwhile, milvus-lite letting one process open a file);
2. the database, with SQLite's online backup API (one step: one read snapshot; writers go on in WAL mode);
3. it accepts the pair when every store records at least the generation up to which the database snapshot
   dropped its copies: then every vector of the snapshot's rows is in the store copy or in the snapshot's
   ``pending_vectors``. Otherwise (a writer saved and dropped in between) it starts again, up to
   ``attempts`` times.

The store copies are then written into ``OUT`` and brought in step with the snapshot exactly as an open
after a crash would (vectors of rows added after the snapshot removed, pending vectors added), saved at the
snapshot's generation, and the SQLite copies dropped; the uploads the snapshot names are copied, and the
finished folder must pass :func:`memesearch.index.check.check_index`. A store on a Milvus *server*
(``milvus:URI``) is not in the folder: back it up with Milvus' own tools.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memesearch.errors import ConfigError, MemesearchError
from memesearch.index import vector_fields as vf
from memesearch.index.config import IndexConfig
from memesearch.index.info import read_index_info
from memesearch.index.store import Store
from memesearch.index.vector_copies import LostVectorsError, dropped_generation
from memesearch.index.vector_store import (
    VectorStore,
    VectorStoreError,
    new_vector_store,
    parse_store_spec,
    vector_store_class,
)
from memesearch.utils.io import fsync_file

#: a store that reads as unreadable this many attempts in a row, its files unchanged, is damaged
DAMAGED_AFTER = 3
#: files of the index folder copied as they are (each written atomically by memesearch)
PLAIN_FILES = ("index.json", "access_tokens.json")


class BackupRaceError(MemesearchError):
    """Writers kept saving between the store copy and the database snapshot for every attempt."""


@dataclass
class BackupReport:
    """What :func:`backup_index` wrote."""

    source: Path
    out: Path
    items: int = 0
    generation: int = 0
    vectors: dict[str, int] = field(default_factory=dict)
    media_files: int = 0
    attempts: int = 1
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "out": str(self.out),
            "items": self.items,
            "generation": self.generation,
            "vectors": self.vectors,
            "media_files": self.media_files,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
        }


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not an empty folder; give a new folder for the backup")


def _read_stores(
    root: Path, spec: str, fields: tuple[str, ...], dim: int, config: IndexConfig
) -> dict[str, VectorStore | None]:
    """Step 1: every field's saved store (None: missing or unreadable)."""
    _, location = parse_store_spec(spec)
    out: dict[str, VectorStore | None] = {}
    try:
        for name in fields:
            path = vf.vector_path(root, spec, name)
            out[name] = vector_store_class(spec).load(path, dim, config.vectors, -1, location=location)
    except VectorStoreError as exc:
        _close(out)
        raise ConfigError(f"cannot read the vectors of {root}: {exc}") from None
    except BaseException:
        _close(out)
        raise
    return out


def _stamp(path: Path) -> tuple[tuple[int, int, int] | None, ...]:
    """What changes when a store file or its FAISS sidecar is replaced (an atomic save renames a new inode
    into place)."""
    out: list[tuple[int, int, int] | None] = []
    for p in (path, path.with_suffix(path.suffix + ".json")):
        try:
            st = p.stat()
        except FileNotFoundError:
            out.append(None)
            continue
        out.append((st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(out)


def _close(stores: dict[str, VectorStore | None]) -> None:
    for vs in stores.values():
        if vs is not None:
            vs.close()


def snapshot_database(src: Path, dst: Path) -> None:
    """Step 2: ``src`` (a live WAL database) copied to ``dst`` by SQLite's online backup, in one step."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.execute("PRAGMA busy_timeout=10000")
        source.backup(target)  # pages=-1: the whole database under one read transaction
        target.execute("PRAGMA journal_mode=WAL").fetchall()
    finally:
        target.close()
        source.close()
    fsync_file(dst)


def _write_store(
    vs: VectorStore, spec: str, out_root: Path, name: str, dim: int, config: IndexConfig, generation: int
) -> None:
    """A store copy into ``out_root`` (FAISS: saved as it is; Milvus: its rows into OUT's own file)."""
    path = vf.vector_path(out_root, spec, name)
    if vs.backend == "faiss":
        vs.save(path, generation)
        return
    copy = new_vector_store(spec, dim, config.vectors, path)
    try:
        ids = vs.ids()
        store = Store(out_root / "meta.sqlite", readonly=True)
        try:
            fields = vf.row_fields(store, ids, name) if vf.keeps_fields(copy) else None
        finally:
            store.close()
        copy.rebuild(ids, vs.reconstruct(ids), fields)
        copy.save(path, generation)
    finally:
        copy.close()


def backup_index(
    src: str | os.PathLike[str], out: str | os.PathLike[str], *, attempts: int = 8
) -> BackupReport:
    """Back up the index at ``src`` into the new folder ``out`` (see the module docstring)."""
    from memesearch.index.check import check_index
    from memesearch.index.index import vector_fields_of

    t0 = time.perf_counter()
    root = Path(src).expanduser()
    dest = Path(out).expanduser()
    info = read_index_info(root)
    config = IndexConfig.from_dict(dict(info["config"]))
    spec = config.vector_store
    if parse_store_spec(spec)[1] is not None:
        raise ConfigError(
            f"the vectors of {root} live on a Milvus server ({spec}), not in the folder: back them up with "
            "Milvus' own tools; this command copies index folders (faiss, milvus-lite)"
        )
    if dest.resolve() == root.resolve() or root.resolve() in dest.resolve().parents:
        raise ConfigError(f"the backup {dest} must be outside the index {root}")
    _check_out(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fields = vector_fields_of(config)
    dim = int(info["encoder"]["dim"])
    report = BackupReport(root, dest)
    unchanged = 0  # attempts in a row that found the copied vectors incomplete, the source files unchanged
    for attempt in range(1, attempts + 1):
        report.attempts = attempt
        work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
        stamps = {name: _stamp(vf.vector_path(root, spec, name)) for name in fields}
        try:
            if _attempt(root, work, info, config, spec, fields, dim, report):
                if dest.exists():
                    dest.rmdir()  # an empty folder given as OUT
                os.replace(work, dest)
                break
        except LostVectorsError as exc:
            # a store file and its sidecar replaced between opening the two: again; the same on unchanged
            # files, attempt after attempt, is a damaged source
            same = all(_stamp(vf.vector_path(root, spec, n)) == stamps[n] for n in fields)
            unchanged = unchanged + 1 if same else 0
            if unchanged >= DAMAGED_AFTER:
                shutil.rmtree(work, ignore_errors=True)
                raise ConfigError(
                    f"the vectors of {root} are damaged ({exc}); run 'memesearch index check {root}' "
                    "(and --repair), or back up another copy"
                ) from None
            report.notes.append(f"attempt {attempt}: {exc}")
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        shutil.rmtree(work, ignore_errors=True)
        time.sleep(min(0.05 * attempt, 0.5))
    else:
        raise BackupRaceError(
            f"the index {root} was saved and its SQLite vector copies dropped between the vector copy and "
            f"the database snapshot in each of {attempts} attempts; try again when writes are less frequent"
            + (f" (last: {report.notes[-1]})" if report.notes else "")
        )
    result = check_index(dest)
    if not result.ok:
        raise MemesearchError(f"the backup {dest} does not pass its check: {result.verdict()}")
    report.seconds = time.perf_counter() - t0
    return report


def _snapshot_dropped(root: Path, work: Path) -> int:
    """Step 2, the database snapshot into ``work``; returns the generation its vector copies were dropped
    up to."""
    snapshot_database(root / "meta.sqlite", work / "meta.sqlite")
    db = Store(work / "meta.sqlite")
    try:
        return dropped_generation(db)
    finally:
        db.close()


def _too_old(report: BackupReport, recorded: dict[str, int | None], dropped: int) -> bool:
    """Step 3: whether a store copy is older than the snapshot's drop (a writer saved in between)."""
    if any(g is None or g < dropped for g in recorded.values()):
        report.notes.append(
            f"attempt {report.attempts}: a store was saved after the copy (records {recorded}, database "
            f"dropped copies up to {dropped}); again"
        )
        return True
    return False


def _missing(root: Path, name: str) -> ConfigError:
    return ConfigError(
        f"the {name} vectors of {root} are missing or unreadable: run 'memesearch index check {root}' "
        "(and --repair), or back up another copy"
    )


def _copy_faiss(
    root: Path,
    work: Path,
    config: IndexConfig,
    spec: str,
    fields: tuple[str, ...],
    dim: int,
    report: BackupReport,
) -> bool:
    """FAISS: step 1 is opening each store file and its sidecar (an open file keeps its content when a save
    renames a new one into place), so the window before the snapshot is a few system calls; the bytes are
    copied after it."""
    handles: dict[str, tuple[Any, Any] | None] = {}
    try:
        for name in fields:
            path = vf.vector_path(root, spec, name)
            try:
                side = open(path.with_suffix(path.suffix + ".json"), "rb")  # noqa: SIM115
            except FileNotFoundError:
                handles[name] = None
                continue
            try:
                handles[name] = (open(path, "rb"), side)  # noqa: SIM115
            except FileNotFoundError:
                side.close()
                handles[name] = None
        dropped = _snapshot_dropped(root, work)
        recorded: dict[str, int | None] = {}
        for name, pair in handles.items():
            if pair is None:
                if dropped > 0:
                    raise _missing(root, name)
                continue
            try:
                recorded[name] = int(json.loads(pair[1].read().decode("utf-8"))["generation"])
            except (ValueError, KeyError, TypeError):
                raise _missing(root, name) from None
        if _too_old(report, recorded, dropped):
            return False
        for name, pair in handles.items():
            if pair is None:
                continue
            dst = vf.vector_path(work, spec, name)
            with open(dst, "wb") as out:
                shutil.copyfileobj(pair[0], out, 1 << 20)
            pair[1].seek(0)
            with open(dst.with_suffix(dst.suffix + ".json"), "wb") as out:
                shutil.copyfileobj(pair[1], out)
            fsync_file(dst)
        return True
    finally:
        for pair in handles.values():
            if pair is not None:
                pair[0].close()
                pair[1].close()


def _copy_loaded(
    root: Path,
    work: Path,
    config: IndexConfig,
    spec: str,
    fields: tuple[str, ...],
    dim: int,
    report: BackupReport,
) -> bool:
    """Milvus-lite: step 1 is loading each store (no other process can write the file meanwhile); its rows
    go into OUT's own milvus-lite file."""
    stores = _read_stores(root, spec, fields, dim, config)
    try:
        dropped = _snapshot_dropped(root, work)
        for name, vs in stores.items():
            if vs is None and (dropped > 0 or vf.vector_path(root, spec, name).exists()):
                raise _missing(root, name)
        recorded = {n: getattr(vs, "saved_generation", None) for n, vs in stores.items() if vs is not None}
        if _too_old(report, recorded, dropped):
            return False
        for name, vs in stores.items():
            if vs is not None:
                _write_store(vs, spec, work, name, dim, config, int(recorded[name] or 0))
        return True
    finally:
        _close(stores)


def _attempt(
    root: Path,
    work: Path,
    info: dict[str, Any],
    config: IndexConfig,
    spec: str,
    fields: tuple[str, ...],
    dim: int,
    report: BackupReport,
) -> bool:
    for sub in ("vectors", "media", "thumbs"):
        (work / sub).mkdir()
    copy = _copy_faiss if parse_store_spec(spec)[0] == "faiss" else _copy_loaded
    if not copy(root, work, config, spec, fields, dim, report):
        return False
    for name in PLAIN_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, work / name)
    db = Store(work / "meta.sqlite")
    try:
        opened = vf.open_field_stores(work, spec, fields, dim, config.vectors, db, readonly=False)
        for name, vs in opened.items():
            report.vectors[name] = len(vs)
            vs.close()
        report.items = db.count()
        report.generation = db.generation
        with db._lock:
            rows = db.conn.execute("SELECT stored_path FROM items WHERE stored_path IS NOT NULL").fetchall()
        stored = [str(r[0]) for r in rows]
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        db.close()
    gone = 0
    for rel in stored:
        try:
            shutil.copy2(root / rel, work / rel)
        except FileNotFoundError:  # removed after the snapshot: take a newer one
            gone += 1
    if gone:
        report.notes.append(f"attempt {report.attempts}: {gone} upload(s) removed during the copy; again")
        return False
    report.media_files = len(stored)
    return True


__all__ = ["BackupRaceError", "BackupReport", "backup_index", "snapshot_database"]
