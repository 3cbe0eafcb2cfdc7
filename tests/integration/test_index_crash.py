"""kill -9 in the middle of an ingest leaves a consistent index, and the next run resumes — with either
vector store; and kill -9 exactly between the SQLite commit and the Milvus write (or delete) is repaired
when the index is opened again."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from memesearch.index import Index
from memesearch.ingest import add_paths
from memesearch.search import Searcher
from memesearch.utils.synthetic import shapes_image

N_FILES = 120

SCRIPT = """
import sys
from memesearch.index import Index
from memesearch.ingest import add_paths
idx = Index.create(sys.argv[1], model="tiny-clip:0", ocr=False, batch_size=2, vector_store=sys.argv[3])
add_paths(idx, [sys.argv[2]], workers=0)
print("finished", flush=True)
"""

# Holds the process still right after SQLite committed batch number argv[4] (or the removal), before the
# Milvus upsert (delete) of it: the parent then kills it with SIGKILL.
BETWEEN = """
import sys, time
from memesearch.index import Index
from memesearch.index.milvus_store import MilvusVectorStore
from memesearch.ingest import add_paths

def hold(name, after):
    real = getattr(MilvusVectorStore, name)
    calls = [0]
    def wrapper(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == after:
            print("between", flush=True)
            time.sleep(600)
        return real(self, *args, **kwargs)
    setattr(MilvusVectorStore, name, wrapper)

if sys.argv[3] == "add":
    hold("add", int(sys.argv[4]))
    idx = Index.create(sys.argv[1], model="tiny-clip:0", ocr=False, batch_size=4, vector_store="milvus")
    add_paths(idx, [sys.argv[2]], workers=0)
else:
    idx = Index.open(sys.argv[1])
    hold("remove", 1)
    idx.remove([sys.argv[2]])
print("finished", flush=True)
"""


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])
    except sqlite3.Error:
        return 0


def _folder(root: Path, n: int) -> Path:
    root.mkdir()
    for i in range(n):
        shapes_image(i, (64, 64)).save(root / f"{i:03d}.png")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("store", ["faiss", "milvus"])
def test_kill_9_mid_ingest_then_resume(tmp_path: Path, store: str) -> None:
    folder = _folder(tmp_path / "memes", N_FILES)
    index_dir = tmp_path / "idx"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(index_dir), str(folder), store],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    db = index_dir / "meta.sqlite"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and _count(db) < 10:
        time.sleep(0.01)
    assert proc.poll() is None, f"the ingest ended before it could be killed: {proc.communicate()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _count(db)
    assert 10 <= done < N_FILES

    with Index.open(index_dir) as idx:
        # consistent: every committed item has its vector and its path, nothing half-written
        assert len(idx) == done == len(idx.vector_store("image"))
        assert len(idx.store.all_paths()) == done
        hits = Searcher(idx).search("shapes", k=done).hits
        assert len(hits) == done and len({h.id for h in hits}) == done
        # resume: the rest is indexed, nothing twice
        s = add_paths(idx, [folder], workers=0)
        assert s.skipped == done and len(s.indexed) == N_FILES - done and not s.failed
        assert len(idx) == N_FILES == len(idx.vector_store("image"))
        rowids = np.array(sorted(idx.store.rowids_where()), dtype=np.int64)
        assert rowids.size == N_FILES and idx.vector_store("image").contains(rowids).all()


def _kill_between(args: list[str]) -> None:
    """Run BETWEEN with ``args`` until it stands between the two writes, then SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", BETWEEN, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the child holds still (or ends)
    assert line.strip() == "between", f"the child never reached the gap: {line!r} {proc.communicate()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _reference(tmp_path: Path, folder: Path) -> dict[str, np.ndarray]:
    """item id -> image vector of an index of ``folder`` built without a crash."""
    with Index.create(tmp_path / "reference", model="tiny-clip:0", ocr=False, vector_store="faiss") as ref:
        add_paths(ref, [folder], workers=0)
        ids, vecs = ref.all_vectors("image")
        items = ref.items(ids.tolist())
        return {items[int(r)].id: v for r, v in zip(ids, vecs, strict=True)}


def _assert_consistent(idx: Index, reference: dict[str, np.ndarray]) -> None:
    rowids = np.array(sorted(idx.store.rowids_where()), dtype=np.int64)
    vs = idx.vector_store("image")
    assert vs.ids().tolist() == rowids.tolist()
    # the copy holds the embeddings of the items' files (what ingest computed), not just their ids
    items = idx.items(rowids.tolist())
    want = np.stack([reference[items[int(r)].id] for r in rowids])
    assert np.allclose(vs.reconstruct(rowids), want, atol=1e-5)


def test_kill_9_between_sqlite_and_milvus_writes_is_repaired(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "memes", 24)
    index_dir = tmp_path / "idx"
    reference = _reference(tmp_path, folder)
    _kill_between([str(index_dir), str(folder), "add", "3"])  # batches 1-2 in both, batch 3 only in SQLite
    assert _count(index_dir / "meta.sqlite") == 12
    with Index.open(index_dir) as idx:
        assert len(idx.vector_store("image")) == 12 == len(idx)
        _assert_consistent(idx, reference)
        hits = Searcher(idx).search("shapes", k=12).hits
        assert len({h.id for h in hits}) == 12
        s = add_paths(idx, [folder], workers=0)
        assert s.skipped == 12 and len(s.indexed) == 12 and not s.failed
        gone = s.indexed[0]
    # a removal committed in SQLite, the process killed before Milvus deleted the row
    _kill_between([str(index_dir), gone, "remove"])
    with Index.open(index_dir, readonly=True) as idx:  # milvus-lite: one process, so a reader repairs too
        assert len(idx) == 23 == len(idx.vector_store("image")) and idx.get(gone) is None
        _assert_consistent(idx, reference)
        assert gone not in {h.id for h in Searcher(idx).search("shapes", k=24).hits}
