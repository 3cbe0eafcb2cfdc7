"""One copy of each vector at rest (issue 11): SQLite keeps a batch's vectors only until the vector stores
saved them. kill -9 before the save, between two fields' saves, between the save and the drop of the SQLite
copies, and after the drop loses nothing (FAISS and milvus-lite); a reader opened while the writer is held
sees every committed item; an index in the old layout (vectors in ``items``) keeps working and moves to the
new one on its first writable open; a missing or unreadable store whose vectors SQLite dropped is a clear
error, never a silent loss."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memesearch.index import Index
from memesearch.index.vector_copies import LostVectorsError

N = 40

# Writes 20 vectors (saved and dropped), then holds at POINT during the save of the next 20 and waits
# to be killed.
CHILD = """
import sys, time
import numpy as np
import memesearch.index.vector_fields as vf
from memesearch.index import Index
from memesearch.index.faiss_store import FaissVectorStore
from memesearch.index.milvus_store import MilvusVectorStore

root, store, point = sys.argv[1], sys.argv[2], sys.argv[3]
idx = Index.create(root, model="tiny-clip:0", ocr=False, vector_store=store)
rng = np.random.default_rng(0)
v = rng.standard_normal((N_ITEMS, idx.dim)).astype(np.float32)
v /= np.linalg.norm(v, axis=1, keepdims=True)
idx.insert_vectors(v[:20], chunk=10)

def hold():
    print("held", flush=True)
    time.sleep(600)

cls = FaissVectorStore if store == "faiss" else MilvusVectorStore
real_save, real_drop = cls.save, vf.drop_saved
calls = [0]
def save(self, path, generation):
    calls[0] += 1
    if point == "save" or (point == "between-fields" and calls[0] == 2):
        hold()
    real_save(self, path, generation)
def drop(store_, generation):
    if point == "drop":
        hold()
    n = real_drop(store_, generation)
    if point == "after-drop":
        hold()
    return n
cls.save = save
vf.drop_saved = drop
idx.insert_vectors(v[20:], chunk=10)
print("finished", flush=True)
""".replace("N_ITEMS", str(N))


def _vectors(dim: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    v = rng.standard_normal((N, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _pending(root: Path) -> int:
    with sqlite3.connect(f"file:{root / 'meta.sqlite'}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM pending_vectors").fetchone()[0])


def _assert_all_there(idx: Index) -> None:
    rowids = np.array(sorted(idx.store.rowids_where()), dtype=np.int64)
    assert rowids.size == N == len(idx)
    vs = idx.vector_store("image")
    assert vs.ids().tolist() == rowids.tolist()
    by_id = {it.id: r for r, it in idx.items(rowids.tolist()).items()}
    import hashlib

    v = _vectors(idx.dim)
    for vec in v:  # an inserted item's id is the SHA-256 of its vector's bytes
        rid = by_id[hashlib.sha256(vec.tobytes()).hexdigest()[:16]]
        assert np.array_equal(vs.reconstruct(np.array([rid]))[0], vec)


@pytest.mark.slow
@pytest.mark.parametrize("store", ["faiss", "milvus"])
@pytest.mark.parametrize("point", ["save", "between-fields", "drop", "after-drop"])
def test_kill_9_around_the_save_and_the_drop_loses_nothing(tmp_path: Path, store: str, point: str) -> None:
    root = tmp_path / "idx"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), store, point],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "held":
        proc.kill()
        pytest.fail(f"the child never reached {point}: {line!r} {proc.communicate()}")
    try:
        assert _pending(root) == (0 if point == "after-drop" else 20)
        if store == "faiss":  # a reader while the writer stands still (milvus-lite: one process a file)
            with Index.open(root, readonly=True) as reader:
                _assert_all_there(reader)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with Index.open(root) as idx:
        _assert_all_there(idx)
    assert _pending(root) == 0  # the writable open saved what it repaired and dropped the copies
    with Index.open(root, readonly=True) as idx:
        _assert_all_there(idx)


def _build(root: Path, store: str) -> Index:
    idx = Index.create(root, model="tiny-clip:0", ocr=False, vector_store=store)
    idx.insert_vectors(_vectors(idx.dim), chunk=16)
    return idx


def _make_legacy(root: Path) -> None:
    """Turn a closed index into the layout written before issue 11: every vector in ``items``."""
    with Index.open(root, readonly=True) as idx:
        ids, vecs = idx.all_vectors("image")
    conn = sqlite3.connect(root / "meta.sqlite", isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("ALTER TABLE items ADD COLUMN image_vec BLOB")
    conn.execute("ALTER TABLE items ADD COLUMN text_vec BLOB")
    conn.executemany(
        "UPDATE items SET image_vec=? WHERE rowid=?",
        [(v.tobytes(), int(r)) for r, v in zip(ids, vecs, strict=True)],
    )
    conn.execute("DROP TABLE pending_vectors")
    conn.execute("DELETE FROM kv WHERE key='vectors_dropped'")
    conn.execute("UPDATE kv SET value='1' WHERE key='schema_version'")
    conn.execute("COMMIT")
    conn.close()


def _columns(root: Path) -> set[str]:
    with sqlite3.connect(f"file:{root / 'meta.sqlite'}?mode=ro", uri=True) as conn:
        return {str(r[1]) for r in conn.execute("PRAGMA table_info(items)")}


@pytest.mark.parametrize("store", ["faiss", "milvus"])
@pytest.mark.parametrize("store_file", ["kept", "missing"])
def test_an_old_layout_index_keeps_working_and_migrates(tmp_path: Path, store: str, store_file: str) -> None:
    root = tmp_path / "idx"
    _build(root, store).close()
    _make_legacy(root)
    if store_file == "missing":  # stale or lost copies are rebuilt from the old columns, as before
        for p in (root / "vectors").glob("*"):
            if p.suffix in (".json", ".faiss", ".milvus"):
                p.unlink()
    if store == "faiss":
        with Index.open(root, readonly=True) as idx:  # a reader does not migrate
            assert idx.store.legacy
            _assert_all_there(idx)
        assert "image_vec" in _columns(root)
    with Index.open(root) as idx:
        assert not idx.store.legacy
        _assert_all_there(idx)
    assert "image_vec" not in _columns(root) and _pending(root) == 0
    with Index.open(root) as idx:  # and goes on being written and read
        _assert_all_there(idx)
        idx.remove([idx.items([int(idx.store.rowids_where()[0])])[int(idx.store.rowids_where()[0])].id])
        assert len(idx) == N - 1 == len(idx.vector_store("image"))


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_a_lost_store_file_is_an_error_naming_what_is_lost(tmp_path: Path, damage: str) -> None:
    root = tmp_path / "idx"
    _build(root, "faiss").close()
    assert _pending(root) == 0
    faiss_file = root / "vectors" / "image.faiss"
    if damage == "missing":
        faiss_file.unlink()
    else:
        faiss_file.write_bytes(b"garbage")
    for readonly in (True, False):
        with pytest.raises(LostVectorsError) as err:
            Index.open(root, readonly=readonly)
        msg = str(err.value)
        assert f"of {N} item(s) are lost" in msg and str(faiss_file) in msg and "memesearch index" in msg
    with sqlite3.connect(root / "meta.sqlite") as conn:  # nothing was dropped
        assert int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]) == N


def test_new_items_since_the_last_save_are_kept_when_the_file_is_older(tmp_path: Path) -> None:
    """A store file older than the last save (restored from a backup) lacks dropped vectors: an error; an
    older file whose missing vectors SQLite still holds is brought in step."""
    root = tmp_path / "idx"
    idx = _build(root, "faiss")
    v = _vectors(idx.dim)
    idx.close()
    backup = (
        (root / "vectors" / "image.faiss").read_bytes(),
        (root / "vectors" / "image.faiss.json").read_text(),
    )
    with Index.open(root) as idx:
        idx.insert_vectors(-v[:3])  # saved and dropped
    (root / "vectors" / "image.faiss").write_bytes(backup[0])
    (root / "vectors" / "image.faiss.json").write_text(backup[1])
    with pytest.raises(LostVectorsError, match="3 item"):
        Index.open(root)


def test_disk_is_given_back_after_the_drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "idx"
    idx = Index.create(root, model="tiny-clip:0", ocr=False)
    rng = np.random.default_rng(1)
    v = rng.standard_normal((3000, idx.dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    monkeypatch.setattr(idx, "flush", lambda **_: None)  # no save yet: the vectors wait in SQLite
    idx.insert_vectors(v, chunk=1000)
    monkeypatch.undo()
    with sqlite3.connect(root / "meta.sqlite") as conn:  # the pending vectors, before the drop
        peak = int(conn.execute("PRAGMA page_count").fetchone()[0])
    idx.flush()
    idx.close()
    with sqlite3.connect(root / "meta.sqlite") as conn:
        assert int(conn.execute("PRAGMA auto_vacuum").fetchone()[0]) == 2  # incremental
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        size = pages * int(conn.execute("PRAGMA page_size").fetchone()[0])
        assert int(conn.execute("SELECT COUNT(*) FROM pending_vectors").fetchone()[0]) == 0
        assert int(conn.execute("PRAGMA freelist_count").fetchone()[0]) <= 0.25 * pages
    assert (root / "meta.sqlite").stat().st_size == size and pages < peak
    assert (root / "vectors" / "image.faiss").stat().st_size >= v.nbytes


# Writes 20 vectors (saved and dropped), then saves 20 more and holds right after the image index file was
# renamed into place, before its sidecar is: the two renames of one FAISS save.
BETWEEN_RENAMES = """
import contextlib, sys, time
import numpy as np
import memesearch.index.faiss_store as fs
from memesearch.index import Index

root = sys.argv[1]
idx = Index.create(root, model="tiny-clip:0", ocr=False)
rng = np.random.default_rng(0)
v = rng.standard_normal((N_ITEMS, idx.dim)).astype(np.float32)
v /= np.linalg.norm(v, axis=1, keepdims=True)
idx.insert_vectors(v[:20], chunk=10)

real_atomic_path = fs.atomic_path
@contextlib.contextmanager
def atomic_path(path):
    with real_atomic_path(path) as tmp:
        yield tmp
    if str(path).endswith("image.faiss"):  # renamed; the sidecar comes next
        print("held", flush=True)
        time.sleep(600)
fs.atomic_path = atomic_path
idx.insert_vectors(v[20:], chunk=10)
print("finished", flush=True)
""".replace("N_ITEMS", str(N))


@pytest.mark.slow
def test_kill_9_between_the_index_file_and_its_sidecar_loses_nothing(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    proc = subprocess.Popen(
        [sys.executable, "-c", BETWEEN_RENAMES, str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "held":
        proc.kill()
        pytest.fail(f"the child never reached the point between the renames: {line!r} {proc.communicate()}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _pending(root) == 20  # the first save's vectors are only in the files now
    with Index.open(root, readonly=True) as idx:  # what the kill left, as a reader finds it
        _assert_all_there(idx)
    with Index.open(root) as idx:
        _assert_all_there(idx)
    assert _pending(root) == 0
    with Index.open(root, readonly=True) as idx:
        _assert_all_there(idx)


def test_the_drop_keeps_the_vectors_of_a_write_committed_after_the_save(tmp_path: Path) -> None:
    from memesearch.index import store_writes
    from memesearch.index.vector_copies import drop_saved
    from memesearch.index.vector_fields import vector_path

    root = tmp_path / "idx"
    with Index.create(root, model="tiny-clip:0", ocr=False) as idx:
        v = _vectors(idx.dim)
        idx.insert_vectors(v[:20], chunk=10)  # saved and dropped
        gen = idx.store.generation
        for name in ("image", "text"):
            idx.vector_store(name).save(vector_path(root, idx.config.vector_store, name), gen)
        # a write that commits between the stores' save and the drop of SQLite's copies
        with idx.store.transaction() as conn:
            rows, _ = store_writes.insert_vector_rows(
                conn, v[20:], media="image", source="synthetic", added_at=0.0
            )
        idx.vector_store("image").add(np.array(rows, np.int64), v[20:])
        assert drop_saved(idx.store, gen) == 0  # the saved files lack the new vectors: nothing dropped
        assert _pending(root) == N - 20
        with Index.open(root, readonly=True) as reader:  # as a kill -9 here would leave it
            _assert_all_there(reader)
    with Index.open(root) as idx:
        _assert_all_there(idx)
    assert _pending(root) == 0
