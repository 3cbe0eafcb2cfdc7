"""Undoing the starter's emotion gate: exact for unit image vectors, the same gate read from the weights file
(no torch) as from the built model, and an image query that meets a sticker's own image vector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from memesearch.models import create_encoder
from memesearch.models.starter.encoder import MODEL_FILE, weights_dir
from memesearch.models.starter.gate import EmotionGate, ungate


def test_ungate_recovers_the_unit_vector_exactly() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    t = rng.normal(size=(50, 16)).astype(np.float32)
    t *= (rng.uniform(0.05, 0.9, size=(50, 1)) / np.linalg.norm(t, axis=1, keepdims=True)).astype(np.float32)
    t[::5] = 0.0  # items without emotion words: nothing to undo
    v = (x + t) / np.linalg.norm(x + t, axis=1, keepdims=True)
    back = ungate(v, t)
    assert np.abs(back - x).max() < 1e-5
    assert np.array_equal(back[::5], v[::5])
    assert np.array_equal(ungate(v, np.zeros((50, 0), np.float32)), v)  # a model without a gate


def _sticker(fill: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (96, 96), (255, 255, 255))
    ImageDraw.Draw(image).ellipse((10, 14, 86, 80), fill=fill)
    return image


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_image_query_meets_the_items_own_image_vector(
    runtime: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMESEARCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MEMESEARCH_IMAGE_RUNTIME", runtime)
    enc = create_encoder("starter-v2")
    images = [_sticker((255, 120, 40)), _sticker((40, 120, 255)), _sticker((250, 220, 60))]
    emotions = [["happy"], ["sad", "tired"], []]
    stored = enc.encode_items(images, emotions)  # type: ignore[attr-defined]
    own = enc.encode_image(images)
    assert float(np.sum(stored[0] * own[0])) < 0.95  # the gate moved the tagged stickers' vectors
    back = enc.ungate_items(stored, emotions)  # type: ignore[attr-defined]
    assert np.abs(back - own).max() < 1e-5
    if runtime == "torch":  # the gate read from the file (the ONNX path has no torch model) is the model's
        from_file = EmotionGate.from_weights_file(weights_dir("starter-v2") / MODEL_FILE)
        from_model = EmotionGate.from_model(enc.model)  # type: ignore[attr-defined]
        assert from_file is not None and from_model is not None
        assert np.array_equal(from_file.weight, from_model.weight) and from_file.gate == from_model.gate


def test_search_by_image_finds_the_tagged_sticker_itself_first(tmp_path: Path, monkeypatch) -> None:
    """A sticker tagged "happy" and a plain look-alike (the same drawing, a shade darker): the query image
    is the tagged sticker's file, which comes first with cosine 1; a text query still meets the gated
    vectors it was trained with."""
    import json

    from memesearch.index import Index
    from memesearch.ingest import add_paths
    from memesearch.search import Searcher

    monkeypatch.setenv("MEMESEARCH_CACHE_DIR", str(tmp_path / "cache"))
    tagged, plain = tmp_path / "tagged.png", tmp_path / "plain.png"
    _sticker((255, 120, 40)).save(tagged)
    _sticker((245, 112, 34)).save(plain)
    manifest = tmp_path / "stickers.jsonl"
    rows = [{"path": "tagged.png", "emotions": ["happy", "love"]}, {"path": "plain.png"}]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with Index.create(tmp_path / "idx", model="starter-v2", ocr=False) as idx:
        add_paths(idx, [manifest], workers=0)
        searcher = Searcher(idx)
        resp = searcher.search_image(tagged, k=2, explain=True)
        assert resp.hits[0].item.paths == [str(tagged)]
        assert resp.hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert "the same file as the query image" in resp.hits[0].why
        query = idx.encoder.encode_image([tagged])[0]
        hit_rows = np.array([idx.rowid_of(h.id) for h in resp.hits], dtype=np.int64)
        stored = idx.vectors("image", hit_rows)
        # what the image branch compared before: the gated vector, which a plain look-alike outscores
        assert float(stored[0] @ query) < 0.95 < float(stored[1] @ query)
        # a text query scores the stored (gated) vectors, as the model was trained
        text = searcher.search("happy sun", k=2)
        for hit in text.hits:
            vector = idx.vectors("image", np.array([idx.rowid_of(hit.id)]))[0]
            want = float(vector @ idx.encoder.encode_text(["happy sun"], kind="query")[0])
            assert hit.scores["image"] == pytest.approx(want, abs=1e-5)


def test_an_animated_sticker_is_found_by_its_later_frame_with_the_gate_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An animation tagged "happy" whose second frame is the query image: it comes first at cosine 1, the hit
    names that frame, and a plain still look-alike of the frame ranks below it."""
    import json

    from memesearch.index import Index
    from memesearch.ingest import add_paths
    from memesearch.search import Searcher
    from memesearch.utils.synthetic import save_animation

    monkeypatch.setenv("MEMESEARCH_CACHE_DIR", str(tmp_path / "cache"))
    second = Image.new("RGB", (96, 96), (255, 255, 255))
    ImageDraw.Draw(second).rectangle((20, 20, 76, 76), fill=(40, 120, 255))
    save_animation(tmp_path / "anim.png", [_sticker((255, 120, 40)), second, _sticker((250, 220, 60))], 200)
    second.save(tmp_path / "query.png")
    look_alike = Image.new("RGB", (96, 96), (255, 255, 255))
    ImageDraw.Draw(look_alike).rectangle((20, 20, 76, 76), fill=(34, 112, 245))
    look_alike.save(tmp_path / "plain.png")
    rows = [{"path": "anim.png", "emotions": ["happy"]}, {"path": "plain.png"}]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with Index.create(tmp_path / "idx", model="starter-v2", ocr=False) as idx:
        add_paths(idx, [tmp_path / "m.jsonl"], workers=0)
        hits = Searcher(idx).search_image(tmp_path / "query.png", k=2).hits
        assert hits[0].item.paths == [str(tmp_path / "anim.png")]
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert hits[0].frame is not None and hits[0].frame["index"] == 1
        assert hits[0].frame["score"] == pytest.approx(1.0, abs=1e-4)


def test_emotion_terms_embed_each_emotion_set_once_with_a_cache() -> None:
    from memesearch.models.starter.gate import emotion_terms

    class Counting:
        """The real e5-small, counting what it is asked to embed."""

        def __init__(self) -> None:
            self.inner = create_encoder("e5-small")
            self.calls: list[list[str]] = []

        def encode_text(self, texts: list[str], kind: str) -> np.ndarray:
            self.calls.append(list(texts))
            return self.inner.encode_text(texts, kind=kind)

    gate = EmotionGate.from_weights_file(weights_dir("starter-v2") / MODEL_FILE)
    enc, cache = Counting(), {}
    first = emotion_terms(gate, enc, "passage", [["happy"], [], ["sad", "tired"], ["happy"]], cache)
    again = emotion_terms(gate, enc, "passage", [["sad", "tired"], ["happy"], None], cache)
    assert enc.calls == [["happy", "sad, tired"]]  # the second call embedded nothing
    assert np.array_equal(again[0], first[2]) and np.array_equal(again[1], first[0])
    assert not again[2].any() and not first[1].any()
    assert gate is not None and np.allclose(np.linalg.norm(first[0]), abs(gate.gate), atol=1e-5)
    assert np.array_equal(
        first, emotion_terms(gate, enc.inner, "passage", [["happy"], [], ["sad", "tired"], ["happy"]])
    )
