"""kill -9 in the middle of an ingest leaves a consistent index, and the next run resumes."""

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
idx = Index.create(sys.argv[1], model="tiny-clip:0", ocr=False, batch_size=2)
add_paths(idx, [sys.argv[2]], workers=0)
print("finished", flush=True)
"""


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_kill_9_mid_ingest_then_resume(tmp_path: Path) -> None:
    folder = tmp_path / "memes"
    folder.mkdir()
    for i in range(N_FILES):
        shapes_image(i, (64, 64)).save(folder / f"{i:03d}.png")
    index_dir = tmp_path / "idx"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(index_dir), str(folder)],
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
