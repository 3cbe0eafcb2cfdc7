"""The SQLite store alone: items, paths, emotions, cache, vectors, deletes, reopen."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memesearch.data.records import OCRLine
from memesearch.index import store_writes
from memesearch.index.records import IndexedItem
from memesearch.index.store import Store
from memesearch.index.vector_copies import unsaved_vectors


def item(n: int, **kw: object) -> IndexedItem:
    sha = f"{n:016x}" * 4
    fields: dict = {"id": sha[:16], "sha256": sha, "media": "image", "phash": f"{n:016x}", "added_at": 1.0}
    fields.update(kw)
    return IndexedItem(**fields)


def test_store_round_trip_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "meta.sqlite"
    store = Store(path)
    g0 = store.generation
    v = np.eye(4, dtype=np.float32)
    with store.transaction() as conn:
        a = store_writes.insert_item(
            conn,
            item(
                1,
                captions=["so tired"],
                ocr=[OCRLine("困死了", 0.95, (0, 0, 10, 10))],
                emotions=[("tired", 0.8), ("sad", 0.2)],
                source="a",
                meta={"k": 1},
            ),
            v[0],
            v[1],
        )
        b = store_writes.insert_item(conn, item(2, media="gif", source="b"), v[2], None)
        store_writes.put_path(conn, "/x/a.png", a, 10, 111)
        store_writes.put_path(conn, "/x/b.gif", b, 20, 222)
        store_writes.put_cache(conn, "k1", "ocr", "v1", b"[]")
    assert store.generation == g0 + 1 and store.count() == 2
    got = store.items_by_rowid([a, b, 999])
    assert set(got) == {a, b}
    assert got[a].captions == ["so tired"] and got[a].ocr is not None and got[a].ocr[0].text == "困死了"
    assert got[a].emotions == [("tired", 0.8), ("sad", 0.2)] and got[a].paths == ["/x/a.png"]
    assert store.path_entry("/x/a.png") == (a, 10, 111) and store.rowid_by_sha(f"{2:016x}" * 4) == b
    assert store.rowids_where(emotions=["tired"]).tolist() == [a]
    assert store.rowids_where(media=["gif"]).tolist() == [b]
    assert store.rowids_where(source="a", media=["gif"]).tolist() == []
    assert store.text_rows() == [(a, "so tired\n困死了")]
    assert store.cache_get_many(["k1", "k2"], "ocr", "v1") == {"k1": b"[]"}
    img = {
        int(i): vec
        for ids, vecs in unsaved_vectors(store, "image", 4)
        for i, vec in zip(ids, vecs, strict=True)
    }
    txt = [int(i) for ids, _ in unsaved_vectors(store, "text", 4) for i in ids]
    assert np.array_equal(img[b], v[2]) and txt == [a]
    rowids, hashes = store.all_phashes()
    assert dict(zip(rowids.tolist(), hashes.tolist(), strict=True)) == {a: 1, b: 2}
    store.close()
    again = Store(path, readonly=True)  # what was committed is there for a reader
    assert again.count() == 2 and again.paths_under("/x") == ["/x/a.png", "/x/b.gif"]
    again.close()


def test_paths_orphans_and_deletes(tmp_path: Path) -> None:
    store = Store(tmp_path / "meta.sqlite")
    v = np.ones(2, np.float32) / np.sqrt(2)
    with store.transaction() as conn:
        a = store_writes.insert_item(conn, item(1), v, None)
        b = store_writes.insert_item(
            conn, item(2, duplicate_of=f"{1:016x}"), v, None, stored_path="media/b.png"
        )
        store_writes.put_path(conn, "/p/a.png", a, 1, 1)
    with store.transaction() as conn:
        assert (
            store_writes.delete_path(conn, "/p/a.png") == a
            and store_writes.delete_path(conn, "/nope") is None
        )
        assert store_writes.orphan(conn, a) and not store_writes.orphan(conn, b)  # b holds an uploaded copy
        assert store_writes.stored_path_in(conn, b) == "media/b.png"
        assert store_writes.delete_items(conn, [a]) == [a]
    left = store.items_by_rowid([b])[b]
    assert store.count() == 1 and left.duplicate_of is None  # links to deleted items are cleared
    # a failed transaction leaves nothing behind and does not bump the generation
    gen = store.generation
    try:
        with store.transaction() as conn:
            store_writes.insert_item(conn, item(3), v, None)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert store.count() == 1 and store.generation == gen
    with store.transaction() as conn:
        rows, ids = store_writes.insert_vector_rows(
            conn, np.stack([v, -v]), media="image", source="s", added_at=2.0
        )
    assert len(rows) == 2 and rows[0] > b and store.rowid_of(ids[1]) == rows[1]
    store.close()
