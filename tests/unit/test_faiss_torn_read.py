"""A reader that loads a FAISS store while another process saves it (index file, then sidecar: two
renames) may see one save's file with the other's sidecar; it reads again instead of giving up (giving up
made a read-only open fail with LostVectorsError once the writer had dropped SQLite's copies)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from memesearch.index.faiss_store import FaissVectorStore
from memesearch.index.vector_store import VectorConfig

DIM = 8


def _store(n: int) -> FaissVectorStore:
    vs = FaissVectorStore(DIM, VectorConfig())
    vecs = np.random.default_rng(n).standard_normal((n, DIM)).astype(np.float32)
    vs.add(np.arange(n, dtype=np.int64), vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    return vs


def test_load_reads_again_when_it_sees_half_of_a_save(tmp_path: Path) -> None:
    path = tmp_path / "image.faiss"
    side = tmp_path / "image.faiss.json"
    _store(3).save(path, 1)
    newer = tmp_path / "newer.faiss"
    _store(5).save(newer, 2)
    # the writer renamed its index file in place, its sidecar comes a moment later
    shutil.copyfile(newer, path)

    def rename_sidecar() -> None:  # as the writer does: a whole file, renamed into place
        shutil.copyfile(tmp_path / "newer.faiss.json", tmp_path / "sidecar.tmp")
        os.replace(tmp_path / "sidecar.tmp", side)

    finish = threading.Timer(0.1, rename_sidecar)
    finish.start()
    try:
        t0 = time.monotonic()
        loaded = FaissVectorStore.load(path, DIM, VectorConfig(), 1)
    finally:
        finish.join()
    assert loaded is not None and len(loaded) == 5 and loaded.saved_generation == 2
    assert time.monotonic() - t0 < 5.0


def test_load_still_refuses_a_store_that_stays_inconsistent(tmp_path: Path) -> None:
    path = tmp_path / "image.faiss"
    _store(3).save(path, 1)
    _store(5).save(tmp_path / "other.faiss", 1)
    shutil.copyfile(tmp_path / "other.faiss", path)  # a file that never matches its sidecar
    assert FaissVectorStore.load(path, DIM, VectorConfig(), 1) is None
    assert FaissVectorStore.load(tmp_path / "missing.faiss", DIM, VectorConfig(), 1) is None
