"""The vector store is a recorded choice that changes nothing a user sees: ``memesearch index --store``
builds the same index on FAISS and on Milvus (milvus-lite), ``memesearch search`` returns the same results
from both, filters pushed down to Milvus select what SQLite selects, and a bad ``--store`` value or an
unreachable Milvus fails in one line, losing nothing."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest

from memesearch.cli.main import main as cli
from memesearch.index import Index
from memesearch.index.vector_store import RowFilter
from memesearch.utils.synthetic import save_animation, shapes_image

STORES = ("faiss", "milvus")


def _inputs(root: Path) -> Path:
    """14 images (a manifest with emotions and sources) and a GIF; returns the manifest."""
    (root / "m").mkdir(parents=True)
    rows = []
    for i in range(14):
        shapes_image(300 + i, (80, 80)).save(root / "m" / f"{i:02d}.png")
        rows.append(
            {
                "path": f"m/{i:02d}.png",
                "emotions": [("angry", "happy", "sad")[i % 3]],
                "source": "chat" if i % 2 else "forum",
                **({"captions": [f"caption number {i} about a red circle"]} if i % 4 == 0 else {}),
            }
        )
    save_animation(root / "m" / "anim.gif", [shapes_image(i, (64, 64)) for i in range(4)])
    rows.append({"path": "m/anim.gif", "source": "chat"})
    manifest = root / "list.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return manifest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder indexed twice with the CLI: ``faiss/`` and ``milvus/``."""
    root = tmp_path_factory.mktemp("stores")
    manifest = _inputs(root)
    for store in STORES:
        args = ["index", str(manifest), "--index", str(root / store), "--model", "tiny-clip:0"]
        assert cli([*args, "--no-ocr", "--no-emotions", "--store", store, "--json"]) == 0
    return root


def _hits(
    root: Path, store: str, args: list[str], capsys: pytest.CaptureFixture[str]
) -> list[tuple[str, float]]:
    assert cli(["search", *args, "--index", str(root / store), "--json", "-k", "6"]) == 0
    return [(h["id"], h["score"]) for h in json.loads(capsys.readouterr().out)["hits"]]


@pytest.mark.parametrize(
    "args",
    [
        ["a red circle"],
        ["blue square", "--media", "image"],
        ["face", "--emotion", "angry", "--emotion", "sad"],
        ["moving", "--source", "chat", "--media", "gif"],
        ["caption number"],
    ],
    ids=["plain", "media", "emotions", "source+media", "captions"],
)
def test_same_search_results_from_faiss_and_milvus(
    built: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    faiss, milvus = (_hits(built, store, args, capsys) for store in STORES)
    assert faiss and [i for i, _ in milvus] == [i for i, _ in faiss]
    assert np.allclose([s for _, s in milvus], [s for _, s in faiss], atol=1e-5)


def test_image_query_and_recorded_store(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = built / "m" / "03.png"
    faiss, milvus = (_hits(built, store, ["--image", str(image)], capsys) for store in STORES)
    assert [i for i, _ in milvus] == [i for i, _ in faiss]
    info = json.loads((built / "milvus" / "index.json").read_text())
    assert info["config"]["vector_store"] == "milvus" and info["config"]["vectors"]["exact_below"] == 50_000
    assert json.loads((built / "faiss" / "index.json").read_text())["config"]["vector_store"] == "faiss"
    assert (built / "milvus" / "vectors" / "milvus.db").is_dir()


def test_filters_pushed_down_to_milvus_select_what_sqlite_selects(built: Path) -> None:
    with Index.open(built / "faiss", readonly=True) as fi, Index.open(built / "milvus", readonly=True) as mi:
        q = fi.encoder.encode_text(["a red circle"], kind="query")[0]
        cases = [
            RowFilter(media=("image",)),
            RowFilter(emotions=("happy", "sad")),
            RowFilter(source="chat", media=("image", "gif")),
            RowFilter(source="nowhere"),
        ]
        for where in cases:
            assert fi.nearest_where("image", q, 5, where) is None  # FAISS leaves filtering to SQLite
            allowed = fi.rowids_where(emotions=where.emotions, media=where.media, source=where.source)
            ids, vecs = fi.all_vectors("image")
            keep = np.isin(ids, allowed)
            want = ids[keep][np.argsort(-(vecs[keep] @ q), kind="stable")][:5]
            got = mi.nearest_where("image", q, 5, where)
            assert got is not None and got.tolist() == want.tolist(), where


def test_searcher_takes_pushed_down_candidates_when_filters_are_wide(built: Path) -> None:
    """Above ``exact_filter_limit`` the filtered search goes through candidates: Milvus gives the vector
    branches their filtered top n itself, and the hits equal the FAISS path (filter after the ANN)."""
    from memesearch.search import Searcher

    filters = [
        {"media": "image"},
        {"emotion": ["happy", "sad"]},
        {"source": "chat", "media": ["image", "gif"]},
    ]
    with Index.open(built / "faiss", readonly=True) as fi, Index.open(built / "milvus", readonly=True) as mi:
        fs, ms = Searcher(fi, exact_filter_limit=0), Searcher(mi, exact_filter_limit=0)
        pushed = []
        original = mi.nearest_where
        mi.nearest_where = lambda *a, **kw: pushed.append(a) or original(*a, **kw)  # type: ignore[method-assign]
        for f in filters:
            a, b = fs.search("a red circle", k=4, **f), ms.search("a red circle", k=4, **f)
            assert [h.id for h in b.hits] == [h.id for h in a.hits], f
            assert np.allclose([h.score for h in b.hits], [h.score for h in a.hits], atol=1e-5)
        assert pushed  # the Milvus searcher did push the filters down


def _run_cli(args: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and everything written to the stderr file descriptor (pymilvus' own log handlers too)."""
    capfd.readouterr()
    code = cli(args)
    return code, capfd.readouterr().err


def test_bad_store_or_unreachable_milvus_fail_in_one_line_and_lose_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    manifest = _inputs(tmp_path)
    base = ["index", str(manifest), "--model", "tiny-clip:0", "--no-ocr", "--no-emotions"]
    code, err = _run_cli([*base, "--index", str(tmp_path / "a"), "--store", "milvs"], capfd)
    assert code == 2 and err.strip().count("\n") == 0, err
    assert "'milvs'" in err and "milvus:URI" in err and not (tmp_path / "a").exists()
    uri = f"http://127.0.0.1:{_free_port()}"
    code, err = _run_cli([*base, "--index", str(tmp_path / "b"), "--store", f"milvus:{uri}"], capfd)
    assert code == 2 and err.strip().count("\n") == 0, err
    assert f"cannot reach Milvus at {uri}" in err and not (tmp_path / "b").exists()
    # an index whose server went away: a one-line error, and every item is still there afterwards
    assert cli([*base, "--index", str(tmp_path / "c"), "--store", "milvus"]) == 0
    info_path = tmp_path / "c" / "index.json"
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, "config": {**info["config"], "vector_store": f"milvus:{uri}"}}))
    for args in (
        ["search", "circle", "--index", str(tmp_path / "c")],
        [*base, "--index", str(tmp_path / "c")],
    ):
        code, err = _run_cli(args, capfd)
        assert code == 2 and err.strip().count("\n") == 0 and uri in err, err
    info_path.write_text(json.dumps(info))
    with Index.open(tmp_path / "c") as idx:
        assert len(idx) == 15 == len(idx.vector_store("image"))
    # the store is fixed when an index is created
    code, err = _run_cli([*base, "--index", str(tmp_path / "c"), "--store", "faiss"], capfd)
    assert code == 2 and "vector_store" in err
    with Index.open(tmp_path / "c", readonly=True) as idx:
        assert len(idx) == 15
