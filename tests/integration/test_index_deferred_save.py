"""Small writes (an upload, a removal) do not save the whole vector store each time: the new vectors wait in
SQLite until enough changed (``Index.save_if_due``). Nothing is lost if the process dies before the save,
and readers see the unsaved items."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import memesearch.index.index as index_module
from memesearch.index import Index
from memesearch.ingest import Ingestor

N = 200


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _pending(root: Path) -> int:
    with sqlite3.connect(f"file:{root / 'meta.sqlite'}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM pending_vectors").fetchone()[0])


def _saved_mtime(root: Path) -> int:
    return (root / "vectors" / "image.faiss").stat().st_mtime_ns


def _build(root: Path) -> None:
    rng = np.random.default_rng(0)
    with Index.create(root, model="tiny-clip:0", ocr=False) as idx:
        v = rng.standard_normal((N, idx.dim)).astype(np.float32)
        idx.insert_vectors(v / np.linalg.norm(v, axis=1, keepdims=True), chunk=100)


def test_an_upload_waits_in_sqlite_and_readers_see_it(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    _build(root)
    before = _saved_mtime(root)
    with Index.open(root) as idx:
        summary = Ingestor(idx).add_bytes(_png(1), filename="one.png")
        (item_id,) = summary.indexed
        assert _pending(root) == 1 and _saved_mtime(root) == before  # 1 of 200 changed: no full save
        with Index.open(root, readonly=True) as reader:  # another reader brings the saved file in step
            rid = reader.rowid_of(item_id)
            assert rid is not None and bool(reader.vector_store("image").contains(np.array([rid]))[0])
        assert idx.vector_count("image") == N + 1
    assert _pending(root) == 0 and _saved_mtime(root) != before  # close saves


def test_a_save_comes_once_enough_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "idx"
    _build(root)
    monkeypatch.setattr(index_module, "SAVE_AFTER_ITEMS", 3)
    with Index.open(root) as idx:
        ingest = Ingestor(idx)
        for seed in (1, 2):
            ingest.add_bytes(_png(seed), filename=f"{seed}.png")
        assert _pending(root) == 2
        ingest.add_bytes(_png(3), filename="3.png")  # the third change: saved
        assert _pending(root) == 0
        assert not idx.save_if_due()  # nothing left to save
        # a removal counts as a change too
        ids = [it.id for it in idx.items(sorted(idx.store.rowids_where())[:3]).values()]
        idx.remove(ids[:2])
        assert _pending(root) == 0 and idx._unsaved == 2 and idx._dirty
        idx.remove(ids[2:])
        assert idx._unsaved == 0 and not idx._dirty


def test_a_share_of_a_small_index_saves_at_once(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    with Index.create(root, model="tiny-clip:0", ocr=False) as idx:
        Ingestor(idx).add_bytes(_png(1), filename="one.png")  # 1 change >= 1/64 of a 1-item index
        assert _pending(root) == 0


KILLED = """
import os, sys, io
from memesearch.index import Index
from memesearch.ingest import Ingestor
root = sys.argv[1]
idx = Index.open(root)
s = Ingestor(idx).add_bytes(bytes.fromhex(sys.argv[2]), filename="up.png")
idx.remove([sys.argv[3]])
print(s.indexed[0], flush=True)
os._exit(0)  # dies without closing: no save
"""


def test_a_process_that_dies_before_the_save_loses_nothing(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    _build(root)
    with Index.open(root, readonly=True) as idx:
        first = sorted(idx.store.rowids_where())[0]
        gone = idx.items([first])[first].id
    before = _saved_mtime(root)
    out = subprocess.run(
        [sys.executable, "-c", KILLED, str(root), _png(7).hex(), gone],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=True,
    )
    new_id = out.stdout.strip()
    assert _saved_mtime(root) == before and _pending(root) == 1
    with Index.open(root) as idx:
        vs = idx.vector_store("image")
        rid = idx.rowid_of(new_id)
        assert rid is not None and bool(vs.contains(np.array([rid]))[0])
        assert idx.rowid_of(gone) is None and not bool(vs.contains(np.array([first]))[0])
        assert len(vs) == N == len(idx)
        assert sorted(vs.ids().tolist()) == sorted(idx.store.rowids_where())
