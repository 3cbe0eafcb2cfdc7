"""The VectorStore contract, checked against exact search: every back end in VECTOR_STORES must pass
(Milvus through milvus-lite, a file in the test's temporary folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memesearch.errors import ConfigError, UnknownNameError
from memesearch.index.vector_store import (
    VECTOR_STORES,
    RowFields,
    RowFilter,
    VectorConfig,
    VectorStore,
    new_vector_store,
    open_vector_store,
    parse_store_spec,
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


def test_add_search_reconstruct_match_exact_search(
    tmp_path: Path, store_spec: tuple[str, VectorConfig]
) -> None:
    backend, cfg = store_spec
    rng = np.random.default_rng(0)
    vs = new_vector_store(backend, DIM, cfg, tmp_path / f"image.{backend}")
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
    small = new_vector_store(backend, DIM, cfg, tmp_path / f"small.{backend}")
    small.add(ids[:3], vecs[:3])
    s2, i2 = small.search(q[:1], 5)
    assert i2[0, 3:].tolist() == [-1, -1] and np.isneginf(s2[0, 3:]).all()
    assert sorted(i2[0, :3].tolist()) == [100, 101, 102]


def test_remove_hides_ids_everywhere(tmp_path: Path, store_spec: tuple[str, VectorConfig]) -> None:
    backend, cfg = store_spec
    rng = np.random.default_rng(1)
    vs = new_vector_store(backend, DIM, cfg, tmp_path / f"image.{backend}")
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
    path = tmp_path / f"image.{backend}"
    vs = new_vector_store(backend, DIM, cfg, path)
    ids = np.arange(1, 51, dtype=np.int64)
    vecs = unit(rng, ids.size)
    vs.add(ids, vecs)
    vs.remove([5, 6])
    assert path.name.endswith(vs.suffix)
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
    vs.close()
    back.close()


def test_rebuild_over_a_changed_copy_makes_it_exact(
    tmp_path: Path, store_spec: tuple[str, VectorConfig]
) -> None:
    """What an index does after a crash: a new store for the same path, rebuilt from the database."""
    backend, cfg = store_spec
    rng = np.random.default_rng(3)
    path = tmp_path / f"image.{backend}"
    ids = np.arange(1, 41, dtype=np.int64)
    vecs = unit(rng, ids.size)
    vs = new_vector_store(backend, DIM, cfg, path)
    vs.add(ids[:30], vecs[:30])
    vs.add(np.array([99]), unit(rng, 1))  # a row the database no longer has
    vs.add(np.array([3]), unit(rng, 1))  # a rowid the database reused for other content
    vs.close()
    again = new_vector_store(backend, DIM, cfg, path)
    again.rebuild(ids, vecs)
    assert again.ids().tolist() == ids.tolist()
    assert np.allclose(again.reconstruct(ids), vecs, atol=1e-6)
    q = unit(rng, 3)
    assert again.search(q, 5)[1].tolist() == exact_top(ids, vecs, q, 5)
    again.rebuild(ids[:0], vecs[:0])
    assert len(again) == 0 and again.search(q, 2)[1].tolist() == [[-1, -1]] * 3
    again.close()


def test_filters_pushed_down_match_exact_search_over_matching_rows(
    tmp_path: Path, store_spec: tuple[str, VectorConfig]
) -> None:
    backend, cfg = store_spec
    rng = np.random.default_rng(4)
    vs = new_vector_store(backend, DIM, cfg, tmp_path / f"image.{backend}")
    ids = np.arange(1, 121, dtype=np.int64)
    vecs = unit(rng, ids.size)
    fields = [
        RowFields(
            media=("gif", "image", "video")[i % 3],
            source=None if i % 4 == 0 else f"src{i % 2}",
            emotions=(("happy",), ("sad", "angry"), ())[i % 3 if i % 5 else 2],
        )
        for i in range(ids.size)
    ]
    vs.add(ids[:60], vecs[:60], fields[:60])
    vs.add(ids[60:], vecs[60:], fields[60:])
    cases = [
        RowFilter(media=("gif",)),
        RowFilter(media=("gif", "video"), source="src1"),
        RowFilter(emotions=("happy", "angry")),
        RowFilter(emotions=("sad",), media=("image",), source="src0"),
        RowFilter(source='with "quotes" and \\ backslash'),
    ]
    q = unit(rng, 2)
    for where in cases:
        if not vs.can_filter(where):
            with pytest.raises(ConfigError):
                vs.search(q, 5, where)
            continue
        keep = np.array(
            [
                (not where.media or f.media in where.media)
                and (where.source is None or f.source == where.source)
                and (not where.emotions or bool(set(where.emotions) & set(f.emotions)))
                for f in fields
            ]
        )
        got = vs.search(q, 7, where)[1]
        want = exact_top(ids[keep], vecs[keep], q, 7)
        assert [[i for i in row if i >= 0] for row in got.tolist()] == want, where
    assert vs.can_filter(RowFilter(emotions=("not-an-emotion",))) is False
    vs.close()


def test_unknown_backend_names_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="faiss, milvus"):
        vector_store_class("nope")
    with pytest.raises(UnknownNameError, match="milvus:URI"):
        parse_store_spec("milvs:http://x")
    assert parse_store_spec("milvus:http://127.0.0.1:19530") == ("milvus", "http://127.0.0.1:19530")
    assert parse_store_spec("faiss") == ("faiss", None)
    with pytest.raises(ConfigError, match="no location"):
        parse_store_spec("faiss:/somewhere")
    with pytest.raises(ConfigError, match="MEMESEARCH_MILVUS_TOKEN"):
        parse_store_spec("milvus:http://root:secret@127.0.0.1:19530")


def test_reconcile_adds_once_removes_extras_and_replaces_a_reused_rowid(
    tmp_path: Path, store_spec: tuple[str, VectorConfig]
) -> None:
    """What opening an index after a crash does to a saved store (issue 11: SQLite holds only the vectors
    not yet dropped): pending vectors already in the store are not added twice (an HNSW graph would keep
    both), ids the database lost are removed, a rowid reused for other content gets its new vector."""
    from memesearch.index import store_writes
    from memesearch.index.store import Store
    from memesearch.index.vector_fields import reconcile

    backend, cfg = store_spec
    rng = np.random.default_rng(5)
    store = Store(tmp_path / "meta.sqlite")
    vecs = unit(rng, 10)
    with store.transaction() as conn:
        rows, _ = store_writes.insert_vector_rows(conn, vecs, media="image", source=None, added_at=1.0)
    ids = np.array(rows, dtype=np.int64)
    vs = new_vector_store(backend, DIM, cfg, tmp_path / f"image.{backend}")
    vs.add(ids[:8], vecs[:8])
    vs.remove([int(ids[2])])
    vs.add(ids[2:3], unit(rng, 1))  # the old content of a rowid the database reused
    vs.add(np.array([999]), unit(rng, 1))  # a row the database no longer has
    assert reconcile(vs, store, "image", DIM)
    assert len(vs) == 10 and vs.ids().tolist() == ids.tolist()
    assert np.array_equal(vs.reconstruct(ids), vecs)
    assert vs.search(vecs[2:3], 1)[1].tolist() == [[int(ids[2])]]
    assert not reconcile(vs, store, "image", DIM)  # in step: nothing to do
    vs.close()
    store.close()
