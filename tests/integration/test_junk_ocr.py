"""A plain folder of stickers where OCR reads only symbols off some of them: that junk must not feed the
text or lexical branch (it used to win every query: e5 cosines of any two texts sit at 0.80-0.90)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from memesearch.data.records import context_texts, is_readable_text
from memesearch.index import Index
from memesearch.ingest import add_paths
from memesearch.models import create_encoder
from memesearch.search import Searcher
from memesearch.utils.synthetic import shapes_image

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def test_readable_text_rule() -> None:
    junk = ["$ $", "&%", "!?", "↑", "100%", "#", "哈", "■"]
    kept = ["so tired", "OK", "哈哈", "笑死", "2024 happy new year"]
    assert not any(is_readable_text(t) for t in junk)
    assert all(is_readable_text(t) for t in kept)
    assert context_texts(["a caption"], "&%\nso tired\n#") == ["a caption", "so tired"]
    assert context_texts([], ["100%", "↑"]) == []


@pytest.mark.slow
def test_symbol_only_ocr_feeds_no_text_branch(tmp_path: Path) -> None:
    pytest.importorskip("rapidocr")
    if not FONT.is_file():
        pytest.skip(f"{FONT} is missing: apt-get install fonts-dejavu-core")
    folder = tmp_path / "stickers"
    folder.mkdir()
    font = ImageFont.truetype(str(FONT), 48)
    written = {"junk_amp.png": "&%", "junk_pct.png": "100%", "junk_hash.png": "#", "words.png": "SO TIRED"}
    for name, text in written.items():
        img = Image.new("RGB", (256, 128), "white")
        ImageDraw.Draw(img).text((20, 30), text, fill="black", font=font)
        img.save(folder / name)
    for i in range(8):
        shapes_image(900 + i, (96, 96)).save(folder / f"plain_{i}.png")
    with Index.create(tmp_path / "idx", encoder=create_encoder("tiny-clip:0"), ocr=True) as idx:
        summary = add_paths(idx, [folder], workers=0)
        assert len(summary.indexed) == 12 and not summary.failed
        items = {Path(it.paths[0]).name: it for it in idx.items(idx.rowids_where()).values()}
        assert items["junk_amp.png"].ocr and items["junk_amp.png"].ocr[0].text == "&%"  # OCR read it...
        assert all(items[n].passage == "" for n in ("junk_amp.png", "junk_pct.png", "junk_hash.png"))
        assert items["words.png"].passage == "SO TIRED"  # ...but only real words make a passage
        assert idx.vector_count("text") == 1
        searcher = Searcher(idx)
        junk_ids = {items[n].id for n in ("junk_amp.png", "junk_pct.png", "junk_hash.png")}
        image_only = {"image": 1.0}
        for query in ("so tired", "what a funny joke", "哈哈哈", "birthday party"):
            fused = searcher.search(query, k=12)
            by_image = {h.id: h.score for h in searcher.search(query, k=12, weights=image_only).hits}
            for hit in fused.hits:
                if hit.id in junk_ids:  # ranked on its image alone, like any sticker without text
                    assert set(hit.scores) == {"image"}
                    assert hit.score == pytest.approx(by_image[hit.id])
            order = [h.id for h in fused.hits]
            assert np.all(np.diff([h.score for h in fused.hits]) <= 1e-9) and len(order) == 12
