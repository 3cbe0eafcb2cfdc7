"""The query's emotion as a soft branch, and the hard emotion filter's honesty about untagged items."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from memesearch.index import Index
from memesearch.ingest import add_paths
from memesearch.models import create_encoder
from memesearch.search import BRANCHES, Searcher
from memesearch.utils.synthetic import shapes_image


class WithoutGate:
    """The starter model with its emotion gate left out of the item side (``encode_items`` hidden), so
    equal pictures get equal item vectors whatever their emotions; text goes to e5 as usual."""

    supports_images = supports_text = True

    def __init__(self) -> None:
        self._enc = create_encoder("starter")
        self.name, self.dim, self.config = self._enc.name, self._enc.dim, self._enc.config

    def encode_image(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self._enc.encode_image(*args, **kwargs)

    def encode_text(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return self._enc.encode_text(*args, **kwargs)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("emotion")
    picture = shapes_image(7, (96, 96))
    # the same pixels under three names (PNG compression differs, so the bytes do): image scores tie
    lines = []
    for name, emotions, level in (("sad", ["sad"], 1), ("happy", ["happy"], 9), ("unknown", None, 5)):
        path = root / f"{name}.png"
        picture.save(path, compress_level=level)
        lines.append(json.dumps({"path": str(path), **({"emotions": emotions} if emotions else {})}))
    shapes_image(8, (96, 96)).save(root / "other.png")
    lines.append(json.dumps({"path": str(root / "other.png"), "emotions": ["happy"]}))
    (root / "list.jsonl").write_text("\n".join(lines) + "\n")
    idx = Index.create(root / "idx", encoder=WithoutGate(), ocr=False, emotions=False)
    add_paths(idx, [root / "list.jsonl"], workers=0)
    yield idx
    idx.close()


@pytest.mark.slow
def test_a_sad_query_ranks_the_sad_sticker_first_when_images_tie(index: Index) -> None:
    assert "emotion" in BRANCHES
    s = Searcher(index, weights={"image": 0.5, "emotion": 0.5})
    names = {it.id: Path(it.paths[0]).stem for it in index.items(index.rowids_where()).values()}
    for query in ("I'm so sad, crying all day", "伤心死了"):
        resp = s.search(query, k=4, explain=True)
        order = [names[h.id] for h in resp.hits]
        image = {names[h.id]: h.scores["image"] for h in resp.hits}
        assert image["sad"] == pytest.approx(image["happy"], abs=1e-6)  # the pictures tie...
        assert order.index("sad") < order.index("happy")  # ...the query's emotion decides
        sad = next(h for h in resp.hits if names[h.id] == "sad")
        assert sad.scores["emotion"] > 0 and any("emotion match" in w for w in sad.why)
        unknown = next(h for h in resp.hits if names[h.id] == "unknown")
        assert "emotion" not in unknown.scores  # no tag: no emotion score, not a zero
    happy = s.search("yay so happy, best day ever", k=4)
    order = [names[h.id] for h in happy.hits]
    assert order.index("happy") < order.index("sad")


@pytest.mark.slow
def test_hard_filter_says_how_many_untagged_items_it_left_out(index: Index) -> None:
    resp = Searcher(index).search("anything", k=4, emotion="sad")
    assert [h.item.emotion_words for h in resp.hits] == [["sad"]]
    assert resp.untagged_excluded == 1 and resp.to_dict()["untagged_excluded"] == 1
    assert np.isfinite(resp.hits[0].score)
