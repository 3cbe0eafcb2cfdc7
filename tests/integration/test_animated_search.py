"""Animated items end to end: OCR over every sampled frame, per-frame vectors kept next to the mean vector,
the image branch scoring an animation by its best frame, and the matched frame in the results.

Real decoders, a small random-weight CLIP, both vector stores (FAISS; Milvus through milvus-lite).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from memesearch.cli.search import _print_response
from memesearch.index import Index
from memesearch.ingest import add_paths
from memesearch.models import create_encoder
from memesearch.search import Searcher
from memesearch.utils.synthetic import save_animation, shapes_image, word_card


@pytest.fixture(scope="module")
def encoder():
    return create_encoder("tiny-clip:0")


@pytest.fixture(params=["faiss", "milvus"])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _files(root: Path) -> dict[str, Path]:
    """Two GIFs and still images: ``late`` shows the query picture only in its third frame, ``never``
    never shows it (three other pictures); the query picture is ``target.png``."""
    root.mkdir(parents=True, exist_ok=True)
    target = shapes_image(7, (96, 96))
    target.save(root / "target.png")
    late = [shapes_image(11, (96, 96)), shapes_image(12, (96, 96)), target]
    never = [shapes_image(21, (96, 96)), shapes_image(22, (96, 96)), shapes_image(23, (96, 96))]
    save_animation(root / "late.gif", late, duration_ms=400)
    save_animation(root / "never.gif", never, duration_ms=400)
    for i in range(6):
        shapes_image(40 + i, (96, 96)).save(root / f"still_{i}.png")
    return {"target": root / "target.png", "late": root / "late.gif", "never": root / "never.gif"}


def test_best_frame_ranks_the_gif_whose_later_frame_matches(
    tmp_path: Path, encoder, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _files(tmp_path / "m")
    query = tmp_path / "query.png"
    files["target"].rename(query)  # the query picture is not itself indexed
    with Index.create(tmp_path / "idx", encoder=encoder, vector_store=store, ocr=False) as idx:
        add_paths(idx, [tmp_path / "m"], workers=0)
        hits = Searcher(idx).search_image(query, k=20).hits
        late_id = next(h.id for h in hits if h.item.paths == [str(files["late"])])
        rowid = idx.rowid_of(late_id)
        assert rowid is not None
        frames = idx.frames([rowid])[rowid]
        assert frames.vectors.shape == (3, encoder.dim) and frames.times_ms == [0, 400, 800]
        # the mean vector is what the vector store searches; still images keep no frame rows
        np.testing.assert_allclose(
            idx.vector_store("image").reconstruct(np.array([rowid]))[0],
            frames.vectors.mean(0) / np.linalg.norm(frames.vectors.mean(0)),
            atol=1e-5,
        )
        stills = [idx.rowid_of(h.id) for h in hits if h.item.media == "image"]
        assert len(stills) == 6 and idx.frames([r for r in stills if r is not None]) == {}
        resp = Searcher(idx).search_image(query, k=20, explain=True)
        top = resp.hits[0]
        assert top.id == late_id and top.scores["image"] == pytest.approx(1.0, abs=1e-4)
        assert top.frame == {"index": 2, "time_ms": 800, "score": pytest.approx(1.0, abs=1e-4), "frames": 3}
        assert any("frame 3/3 at 0.80 s" in w for w in top.why)
        never = next(h for h in resp.hits if h.item.paths == [str(files["never"])])
        assert never.rank > top.rank and never.frame is not None
        assert json.loads(json.dumps(resp.to_dict()))["hits"][0]["frame"]["index"] == 2
        assert all(h.frame is None for h in resp.hits if h.item.media == "image")
        _print_response(resp.to_dict(), explain=False)  # what `memesearch search` prints under its table
        assert f"1. {late_id}: image matched frame 3/3 at 0.80 s" in capsys.readouterr().out
    # mean pooling: the old behaviour, the same GIF scores its mean vector's cosine, no frame in results
    with Index.create(
        tmp_path / "idx_mean", encoder=encoder, vector_store=store, ocr=False, frame_pooling="mean"
    ) as idx:
        add_paths(idx, [tmp_path / "m"], workers=0)
        resp = Searcher(idx).search_image(query, k=20)
        hit = next(h for h in resp.hits if h.id == late_id)
        assert hit.scores["image"] < 0.999 and hit.frame is None


def test_text_only_in_frame_3_is_found_by_search(
    tmp_path: Path, encoder, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("rapidocr")
    root = tmp_path / "m"
    root.mkdir()
    blank = [word_card("", (250, 250, 250)), word_card("", (210, 230, 250))]
    frames = [*blank, word_card("PIZZA", (250, 250, 250))]
    gif = save_animation(root / "late_text.gif", frames, duration_ms=300)
    for i in range(3):
        shapes_image(60 + i, (96, 96)).save(root / f"still_{i}.png")
    with Index.create(tmp_path / "idx", encoder=encoder, emotions=False) as idx:
        add_paths(idx, [root], workers=0)
        resp = Searcher(idx).search("pizza", k=3, weights={"lexical": 1.0})
        assert resp.hits and resp.hits[0].item.paths == [str(gif)]
        lines = [ln for ln in resp.hits[0].item.ocr or [] if "PIZZA" in ln.text.upper()]
        assert len(lines) == 1 and lines[0].frame == 2 and lines[0].time_ms == 600
        assert resp.hits[0].to_dict()["item"]["ocr"][0]["time_ms"] == 600
        _print_response(resp.to_dict(), explain=False)
        assert "text in later frames: “PIZZA” at 0.60 s" in capsys.readouterr().out.replace("\n", "")
