"""Index + search end to end on real files: SQLite, each vector store (FAISS; Milvus through a milvus-lite
file in the index folder), the real decoders, a small random-weight CLIP.

Each test builds its own index in tmp_path from generated images (PIL), animations and a PyAV video.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from memesearch.errors import ConfigError, UnknownNameError
from memesearch.index import EncoderMismatchError, Index, IndexNotFoundError, LostVectorsError
from memesearch.index.vector_store import VectorConfig
from memesearch.ingest import add_paths
from memesearch.models import create_encoder
from memesearch.search import QueryError, Searcher
from memesearch.utils.synthetic import png_bomb, save_animation, shapes_image, write_video


@pytest.fixture(scope="module")
def encoder():
    return create_encoder("tiny-clip:0")


@pytest.fixture(params=["faiss", "milvus"])
def store(request: pytest.FixtureRequest) -> str:
    """The vector store spec every index of a test is built with."""
    return str(request.param)


def make_folder(root: Path, n: int = 12) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = root / f"img_{i:02d}.png"
        shapes_image(100 + i, (96, 96)).save(p)
        paths.append(p)
    return paths


def new_index(path: Path, encoder, store: str, **settings) -> Index:
    settings.setdefault("ocr", False)
    return Index.create(path, encoder=encoder, vector_store=store, **settings)


def test_index_search_and_skip_unchanged(tmp_path: Path, encoder, store: str) -> None:
    files = make_folder(tmp_path / "memes")
    with new_index(tmp_path / "idx", encoder, store) as idx:
        s1 = add_paths(idx, [tmp_path / "memes"], workers=0)
        assert len(s1.indexed) == 12 and not s1.failed and s1.skipped == 0
        s2 = add_paths(idx, [tmp_path / "memes"], workers=0)
        assert s2.indexed == [] and s2.skipped == 12
        assert len(idx) == 12 == len(idx.vector_store("image"))
        item = idx.get(s1.indexed[0])
        assert item is not None and item.media == "image" and item.width == 96 and len(item.phash) == 16
        assert item.paths == [str(files[0])]
        resp = Searcher(idx).search("a red circle", k=5, explain=True)
        assert [h.rank for h in resp.hits] == [1, 2, 3, 4, 5]
        scores = [h.score for h in resp.hits]
        assert scores == sorted(scores, reverse=True)
        assert all("image" in h.scores and h.why for h in resp.hits)
    # the directory describes itself
    info = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert info["encoder"]["name"] == "tiny-clip:0" and info["encoder"]["dim"] == encoder.dim
    assert info["config"]["vectors"]["exact_below"] == 50_000
    with sqlite3.connect(tmp_path / "idx" / "meta.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_image_query_finds_the_same_file_first(tmp_path: Path, encoder, store: str) -> None:
    files = make_folder(tmp_path / "m")
    with new_index(tmp_path / "idx", encoder, store) as idx:
        add_paths(idx, files, workers=0)
        resp = Searcher(idx).search_image(files[5], k=3, explain=True)
        assert resp.hits[0].item.paths == [str(files[5])]
        assert resp.hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert "the same file as the query image" in resp.hits[0].why
        resp2 = Searcher(idx).search_image(files[5].read_bytes(), k=1)
        assert resp2.hits[0].id == resp.hits[0].id


def test_search_returns_what_score_matrix_ranks(tmp_path: Path, encoder, store: str) -> None:
    files = make_folder(tmp_path / "m", 20)
    with new_index(tmp_path / "idx", encoder, store) as idx:
        add_paths(idx, files, workers=0)
        s = Searcher(idx)
        rowids, mats = s.score_matrix(["blue square", "green"])
        items = idx.items(rowids.tolist())
        for qi, q in enumerate(["blue square", "green"]):
            order = np.argsort(-mats["fused"][qi], kind="stable")[:5]
            assert [h.id for h in s.search(q, k=5).hits] == [items[int(rowids[j])].id for j in order]


def test_exact_and_near_duplicates(tmp_path: Path, encoder, store: str) -> None:
    files = make_folder(tmp_path / "m", 4)
    shutil.copy(files[0], tmp_path / "m" / "copy_of_0.png")
    img = shapes_image(100, (96, 96)).resize((80, 80))
    img.save(tmp_path / "m" / "smaller_0.jpg", quality=85)
    with new_index(tmp_path / "idx", encoder, store) as idx:
        s = add_paths(idx, [tmp_path / "m"], workers=0)
        assert s.duplicates == 1 and s.near_duplicates == 1 and len(s.indexed) == 5
        first = idx.get(s.indexed[0])
        assert first is not None and len(first.paths) == 2
        near = [idx.get(i) for i in s.indexed if idx.get(i).duplicate_of]  # type: ignore[union-attr]
        assert len(near) == 1 and near[0].duplicate_of == first.id  # type: ignore[union-attr]
        # near-duplicates stay searchable
        hits = Searcher(idx).search_image(tmp_path / "m" / "smaller_0.jpg", k=2).hits
        assert {h.id for h in hits} == {first.id, near[0].id}  # type: ignore[union-attr]


def test_update_remove_and_reindex(tmp_path: Path, encoder, store: str) -> None:
    files = make_folder(tmp_path / "m", 6)
    with new_index(tmp_path / "idx", encoder, store) as idx:
        s = add_paths(idx, [tmp_path / "m"], workers=0)
        old_id = s.indexed[2]
        # update: same path, new content
        shapes_image(999, (96, 96)).save(files[2])
        s2 = add_paths(idx, [tmp_path / "m"], workers=0)
        assert len(s2.indexed) == 1 and s2.skipped == 5
        assert idx.get(old_id) is None and len(idx) == 6 == len(idx.vector_store("image"))
        # remove by id, by path, by folder; unknown targets are refused and remove nothing
        assert idx.remove([s.indexed[0]]) == 1
        assert idx.remove([str(files[1])]) == 1
        with pytest.raises(ConfigError, match="not in the index"):
            idx.remove(["0123456789abcdef", str(tmp_path / "nope.png")])
        assert len(idx) == 4
        # a removed file comes back when indexed again
        s3 = add_paths(idx, [files[1]], workers=0)
        assert len(s3.indexed) == 1 and len(idx) == 5
        # a deleted file: indexing it is a clear failure, nothing already indexed is lost
        files[3].unlink()
        s4 = add_paths(idx, [files[3]], workers=0)
        assert [f.reason for f in s4.failed] == ["missing"] and len(idx) == 5
        assert idx.remove_missing() == 1 and len(idx) == 4
        assert idx.remove([str(tmp_path / "m")]) == 4 and len(idx) == 0
        assert len(idx.vector_store("image")) == 0


def test_reopen_and_encoder_mismatch(tmp_path: Path, encoder, store: str) -> None:
    make_folder(tmp_path / "m", 5)
    with new_index(tmp_path / "idx", encoder, store) as idx:
        add_paths(idx, [tmp_path / "m"], workers=0)
    with Index.open(tmp_path / "idx", encoder=encoder, readonly=True) as idx:
        assert len(idx) == 5 and len(idx.vector_store("image")) == 5
    with pytest.raises(EncoderMismatchError, match="built with encoder 'tiny-clip:0'"):
        Index.open(tmp_path / "idx", model="e5-small")
    with pytest.raises(EncoderMismatchError, match="signature"):
        Index.open(tmp_path / "idx", encoder=create_encoder("tiny-clip:1"))
    with pytest.raises(IndexNotFoundError, match="not a memesearch index"):
        Index.open(tmp_path / "m")
    with pytest.raises(ConfigError, match="not empty"):
        Index.create(tmp_path / "m", encoder=encoder)


def test_stale_vector_files_are_brought_in_step_or_named_when_lost(
    tmp_path: Path, encoder, store: str
) -> None:
    make_folder(tmp_path / "m", 6)
    with new_index(tmp_path / "idx", encoder, store) as idx:
        add_paths(idx, [tmp_path / "m"], workers=0)
        expected = [h.id for h in Searcher(idx).search("circle", k=6).hits]
    vectors = tmp_path / "idx" / "vectors"
    side = vectors / ("image.faiss.json" if store == "faiss" else "image.milvus")  # the generation sidecar
    data = json.loads(side.read_text())
    data["generation"] -= 1  # older than the database's last save (say a file restored from a backup)
    side.write_text(json.dumps(data))
    (vectors / f"text.{store}").write_bytes(b"garbage")  # no item has text: nothing is lost with it
    if store == "faiss":  # the saved file is the only copy of the vectors: an error naming it
        with pytest.raises(LostVectorsError, match=r"image vectors of 6 item.*image\.faiss"):
            Index.open(tmp_path / "idx", encoder=encoder)
        return
    # Milvus keeps its rows itself: the collection is reattached and checked against the database
    with Index.open(tmp_path / "idx", encoder=encoder) as idx:
        assert len(idx.vector_store("image")) == 6
        assert [h.id for h in Searcher(idx).search("circle", k=6).hits] == expected


def test_filters_and_bad_queries(tmp_path: Path, encoder, store: str) -> None:
    make_folder(tmp_path / "m", 6)
    lst = tmp_path / "list.jsonl"
    rows = [{"path": f"m/img_{i:02d}.png", "emotions": ["angry" if i % 2 else "开心"]} for i in range(6)]
    lst.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    save_animation(tmp_path / "anim.gif", [shapes_image(i, (64, 64)) for i in range(6)])
    write_video(tmp_path / "clip.mp4")
    with new_index(tmp_path / "idx", encoder, store, emotions=False) as idx:
        s = add_paths(idx, [lst, tmp_path / "anim.gif", tmp_path / "clip.mp4"], workers=0)
        assert len(s.indexed) == 8 and not s.failed
        srch = Searcher(idx)
        angry = srch.search("face", k=10, emotion="生气")  # Chinese word for angry
        assert len(angry.hits) == 3 and all(h.item.emotion_words == ["angry"] for h in angry.hits)
        happy = srch.search("face", k=10, emotion=["happy", "mad"])  # synonyms, any of
        assert len(happy.hits) == 6
        gif = srch.search("moving", k=10, media="gif")
        assert [h.item.media for h in gif.hits] == ["gif"] and gif.hits[0].item.frames > 1
        video = srch.search("moving", k=10, media=["video"])
        assert [h.item.media for h in video.hits] == ["video"] and video.hits[0].item.frames > 1
        with pytest.raises(UnknownNameError, match="happy"):
            srch.search("face", emotion="hangry")
        with pytest.raises(UnknownNameError, match="image, gif, video"):
            srch.search("face", media="audio")
        for bad in ("", "   \n\t", "x" * 10_000):
            with pytest.raises(QueryError):
                srch.search(bad)
        with pytest.raises(QueryError, match="between 1 and"):
            srch.search("face", k=0)
        assert len(idx) == 8


def test_bad_inputs_fail_clearly_and_lose_nothing(tmp_path: Path, encoder, store: str) -> None:
    good = make_folder(tmp_path / "good", 3)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "zero.png").write_bytes(b"")
    (bad / "notes.txt").write_text("not an image")
    png = (tmp_path / "good" / "img_00.png").read_bytes()
    (bad / "truncated.png").write_bytes(png[: len(png) // 2])
    (bad / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    (bad / "bomb.png").write_bytes(png_bomb(50_000, 50_000))
    (bad / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    shapes_image(7, (64, 64)).save(bad / "really_a_png.jpg", format="PNG")  # wrong extension: still indexed
    odd = bad / "sub" / "x..y" / "é—🙂 name\u202e.png"
    odd.parent.mkdir(parents=True)
    shapes_image(8, (64, 64)).save(odd)
    (tmp_path / "empty").mkdir()
    with new_index(tmp_path / "idx", encoder, store) as idx:
        add_paths(idx, good, workers=0)
        before = {i: idx.get(i) for i in add_paths(idx, good, workers=0).indexed}
        s = add_paths(
            idx, [bad, tmp_path / "empty", tmp_path / "good" / ".." / "bad" / "zero.png"], workers=0
        )
        reasons = {Path(f.path).name: f.reason for f in s.failed}
        assert reasons == {
            "zero.png": "empty",
            "notes.txt": "not-media",
            "truncated.png": "truncated",
            "corrupt.jpg": reasons["corrupt.jpg"],
            "bomb.png": "too-large",
            "broken.mp4": reasons["broken.mp4"],
        }
        assert reasons["corrupt.jpg"] in ("corrupt", "truncated")
        assert reasons["broken.mp4"] in ("unreadable-video", "corrupt", "truncated")
        assert all(Path(f.path).name in f.message for f in s.failed)
        assert any("holds no files" in m for m in s.messages)
        assert len(s.indexed) == 2 and len(idx) == 5
        new_items = [idx.get(i) for i in s.indexed]
        assert sum(1 for it in new_items if it is not None and it.meta.get("extension_mismatch")) == 1
        assert not before  # the second add of the good files re-indexed nothing
        assert any(p.endswith("name\u202e.png") for it in new_items if it is not None for p in it.paths)


def test_hnsw_above_threshold_with_removal_and_reopen(tmp_path: Path, encoder, store: str) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(300, encoder.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    cfg = VectorConfig(exact_below=100, hnsw_m=16, ef_construction=40, ef_search=64)
    with new_index(tmp_path / "idx", encoder, store, vectors=cfg) as idx:
        ids = idx.insert_vectors(vecs, chunk=64)
        assert idx.vector_store("image").kind == "hnsw" and len(idx.vector_store("image")) == 300
        _, found = idx.vector_store("image").search(vecs[:20], 1)
        rowids = {idx.store.rowid_of(i) for i in ids[:20]}
        assert set(found[:, 0].tolist()) == rowids  # each vector finds itself
        assert idx.remove(ids[:10]) == 10
        _, after = idx.vector_store("image").search(vecs[:10], 5)
        assert not (set(after.ravel().tolist()) & {idx.store.rowid_of(i) for i in ids[:10]})
    with Index.open(tmp_path / "idx", encoder=encoder) as idx:
        assert idx.vector_store("image").kind == "hnsw" and len(idx.vector_store("image")) == 290 == len(idx)


def test_lists_and_dataset_manifests(tmp_path: Path, encoder, store: str) -> None:
    make_folder(tmp_path / "m", 3)
    (tmp_path / "list.csv").write_text(
        "path,captions,emotions,source\nm/img_00.png,hello there|你好,happy,chat\nm/img_01.png,,,\n",
        encoding="utf-8",
    )
    (tmp_path / "broken.csv").write_text("file\nm/img_00.png\n")
    (tmp_path / "broken.jsonl").write_text('{"path": "m/img_00.png"}\nnot json\n')
    with new_index(tmp_path / "idx", encoder, store, emotions=False) as idx:
        s = add_paths(idx, [tmp_path / "list.csv"], workers=0)
        items = [idx.get(i) for i in s.indexed]
        first = next(it for it in items if it and it.captions)
        assert first.captions == ["hello there", "你好"] and first.emotions == [("happy", 1.0)]
        assert first.source == "chat"
        hits = Searcher(idx).search("hello", k=3, explain=True).hits
        assert hits[0].id == first.id and "lexical" in hits[0].scores and "text" in hits[0].scores
        assert any("words matched" in w for w in hits[0].why)
        with pytest.raises(Exception, match=r"broken.csv.*path"):
            add_paths(idx, [tmp_path / "broken.csv"], workers=0)
        with pytest.raises(Exception, match=r"broken.jsonl:2"):
            add_paths(idx, [tmp_path / "broken.jsonl"], workers=0)
        assert len(idx) == 2


def test_parallel_workers_match_inline(tmp_path: Path, encoder, store: str) -> None:
    make_folder(tmp_path / "m", 10)
    with new_index(tmp_path / "a", encoder, store) as a, new_index(tmp_path / "b", encoder, store) as b:
        sa = add_paths(a, [tmp_path / "m"], workers=0)
        sb = add_paths(b, [tmp_path / "m"], workers=2)
        assert sorted(sa.indexed) == sorted(sb.indexed)
        va = a.vector_store("image").reconstruct(np.array([a.store.rowid_of(i) for i in sorted(sa.indexed)]))
        vb = b.vector_store("image").reconstruct(np.array([b.store.rowid_of(i) for i in sorted(sb.indexed)]))
        np.testing.assert_allclose(va, vb, atol=1e-5)


def test_python_api_and_cli_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], store: str
) -> None:
    import memesearch as ms
    from memesearch.cli.main import main as cli

    files = make_folder(tmp_path / "m", 5)
    s = ms.index_media(
        [tmp_path / "m"],
        index=tmp_path / "idx",
        model="tiny-clip:0",
        ocr=False,
        workers=0,
        vector_store=store,
    )
    assert len(s.indexed) == 5
    resp = ms.search_index("circle", index=tmp_path / "idx", k=3)
    assert len(resp.hits) == 3
    assert ms.search_image(files[0], index=tmp_path / "idx", k=1).hits[0].item.paths == [str(files[0])]
    # the CLI sees the same index: JSON output, batch file, explain, a clear error for a bad query
    assert cli(["search", "circle", "--index", str(tmp_path / "idx"), "--json", "-k", "3"]) == 0
    assert [h["id"] for h in json.loads(capsys.readouterr().out)["hits"]] == [h.id for h in resp.hits]
    (tmp_path / "q.txt").write_text("circle\n\nsquare\n", encoding="utf-8")
    assert cli(["search", "--file", str(tmp_path / "q.txt"), "--index", str(tmp_path / "idx"), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["query"] for line in lines] == ["circle", "square"]
    assert cli(["search", "   ", "--index", str(tmp_path / "idx")]) == 2
    assert "the query is empty" in capsys.readouterr().err
    assert cli(["search", "x", "--index", str(tmp_path / "idx"), "--emotion", "hangry"]) == 2
    assert "hangry" in capsys.readouterr().err
    assert cli(["search", "x", "--index", str(tmp_path / "m")]) == 2
    assert "not a memesearch index" in capsys.readouterr().err
    assert cli(["index", str(tmp_path / "m"), "--index", str(tmp_path / "idx"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] == 5
    assert ms.remove_items([resp.hits[0].id], index=tmp_path / "idx") == 1
    assert cli(["remove", str(files[1]), "--index", str(tmp_path / "idx")]) == 0
    assert "removed 1 item(s); 3 items" in capsys.readouterr().out
