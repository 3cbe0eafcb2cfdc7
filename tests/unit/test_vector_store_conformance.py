"""The VectorStore contract, checked against exact search: every back end in VECTOR_STORES must pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memesearch.errors import UnknownNameError
from memesearch.index.faiss_store import VectorConfig
from memesearch.index.vector_store import (
    VECTOR_STORES,
    VectorStore,
    new_vector_store,
    open_vector_store,
    vector_store_class,
)

DIM = 16


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def exact_top(ids: np.ndarray, vecs: np.ndarray, q: np.ndarray, k: int) -> list[list[int]]:
    s = q @ vecs.T
    return [ids[np.argsort(-row, kind="stable")[:k]].tolist() for row in s]


# exact below 10^9 (flat), and a graph from the first vector on (HNSW with tombstones)
CONFIGS = {
    "exact": VectorConfig(exact_below=1_000_000_000),
    "graph": VectorConfig(exact_below=1, ef_search=256),
}


@pytest.fixture(
    params=[(b, c) for b in sorted(VECTOR_STORES) for c in CONFIGS], ids=lambda p: f"{p[0]}-{p[1]}"
)
def store_spec(request: pytest.FixtureRequest) -> tuple[str, VectorConfig]:
    backend, cfg = request.param
    return backend, CONFIGS[cfg]


def test_add_search_reconstruct_match_exact_search(store_spec: tuple[str, VectorConfig]) -> None:
    backend, cfg = store_spec
    rng = np.random.default_rng(0)
    vs = new_vector_store(backend, DIM, cfg)
    assert isinstance(vs, VectorStore) and vs.backend == backend and len(vs) == 0
    ids = np.arange(100, 300, dtype=np.int64)
    vecs = unit(rng, ids.size)
    vs.add(ids[:120], vecs[:120])
    vs.add(ids[120:], vecs[120:])
    assert len(vs) == 200 and vs.ids().tolist() == ids.tolist()
    q = unit(rng, 5)
    scores, got = vs.search(q, 10)
    assert got.shape == scores.shape == (5, 10)
    assert got.tolist() == exact_top(ids, vecs, q, 10)
    assert np.allclose(scores, np.sort(q @ vecs.T, axis=1)[:, ::-1][:, :10], atol=1e-5)
    pick = np.array([150, 101, 299], dtype=np.int64)
    assert np.allclose(vs.reconstruct(pick), vecs[pick - 100], atol=1e-6)
    assert vs.contains(np.array([100, 99, 299, 300])).tolist() == [True, False, True, False]
    # asking for more than there is pads with -1 / -inf
    small = new_vector_store(backend, DIM, cfg)
    small.add(ids[:3], vecs[:3])
    s2, i2 = small.search(q[:1], 5)
    assert i2[0, 3:].tolist() == [-1, -1] and np.isneginf(s2[0, 3:]).all()
    assert sorted(i2[0, :3].tolist()) == [100, 101, 102]


def test_remove_hides_ids_everywhere(store_spec: tuple[str, VectorConfig]) -> None:
    backend, cfg = store_spec
    rng = np.random.default_rng(1)
    vs = new_vector_store(backend, DIM, cfg)
    ids = np.arange(1, 81, dtype=np.int64)
    vecs = unit(rng, ids.size)
    vs.add(ids, vecs)
    gone = ids[::3]
    vs.remove([*gone.tolist(), 10_000])  # unknown ids are ignored
    keep = ~np.isin(ids, gone)
    assert len(vs) == int(keep.sum()) and vs.ids().tolist() == ids[keep].tolist()
    assert not vs.contains(gone).any()
    q = unit(rng, 4)
    _, got = vs.search(q, 8)
    assert got.tolist() == exact_top(ids[keep], vecs[keep], q, 8)


def test_save_and_load_by_generation(tmp_path: Path, store_spec: tuple[str, VectorConfig]) -> None:
    backend, cfg = store_spec
    rng = np.random.default_rng(2)
    vs = new_vector_store(backend, DIM, cfg)
    ids = np.arange(1, 51, dtype=np.int64)
    vecs = unit(rng, ids.size)
    vs.add(ids, vecs)
    vs.remove([5, 6])
    path = tmp_path / f"image{vs.suffix}"
    vs.save(path, generation=7)
    assert open_vector_store(backend, path, DIM, cfg, 8) is None  # stale: the caller rebuilds
    assert open_vector_store(backend, path, DIM + 1, cfg, 7) is None  # another dimension
    back = open_vector_store(backend, path, DIM, cfg, 7)
    assert back is not None and len(back) == 48 and not back.contains(np.array([5, 6])).any()
    q = unit(rng, 3)
    assert back.search(q, 6)[1].tolist() == vs.search(q, 6)[1].tolist()
    # rebuild replaces everything
    back.rebuild(ids[:10], vecs[:10])
    assert back.ids().tolist() == list(range(1, 11))
    assert back.describe()["count"] == 10 and back.describe()["backend"] == backend
    path.write_bytes(b"garbage")  # unreadable: None, never an exception
    assert open_vector_store(backend, path, DIM, cfg, 7) is None


def test_unknown_backend_names_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="faiss"):
        vector_store_class("nope")
