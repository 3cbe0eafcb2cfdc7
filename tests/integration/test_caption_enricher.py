"""``memesearch index --captioner``: generated captions through the ingest pipeline, kept apart in meta,
searchable by the lexical branch, computed once per content hash and captioner version."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from memesearch.enrich.caption import CaptionEnricher
from memesearch.enrich.enrichers import Enricher
from memesearch.index import Index
from memesearch.ingest import Ingestor
from memesearch.utils.synthetic import shapes_image


def test_captions_are_generated_once_per_content(
    tiny_captioner_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tmp_path / "m"
    files.mkdir()
    for i in range(3):
        shapes_image(700 + i, (48, 48)).save(files / f"{i}.png")
    shutil.copy(files / "0.png", files / "copy_of_0.png")  # same bytes: one item, one captioning
    seen: list[str] = []
    original = CaptionEnricher.enrich

    def counting(self: CaptionEnricher, items: Sequence[Any], ctx: Any) -> list[dict[str, Any]]:
        seen.extend(i.sha256 for i in items)
        return original(self, items, ctx)

    monkeypatch.setattr(CaptionEnricher, "enrich", counting)
    assert isinstance(CaptionEnricher(str(tiny_captioner_dir)), Enricher)
    with Index.create(
        tmp_path / "idx", model="tiny-clip:0", ocr=False, emotions=False, captioner=str(tiny_captioner_dir)
    ) as idx:
        first = Ingestor(idx).add_paths([files], workers=0)
        assert len(first.indexed) == 3 and len(seen) == 3
        item = idx.get(first.indexed[0])
        assert item is not None
        generated = item.meta["generated_captions"]
        assert [g["lang"] for g in generated] == ["en", "zh"][: len(generated)]
        assert item.captions == [g["text"] for g in generated]  # given: none; generated: apart in meta
        assert item.meta["captioner"]["version"]
        passages = [p for _, p in idx.text_rows()]  # what the text and lexical branches index
        assert any(generated[0]["text"] in p for p in passages)
        idx.remove([str(files)])
        again = Ingestor(idx).add_paths([files], workers=0)  # removed and re-added: the cache answers
        assert len(again.indexed) == 3 and len(seen) == 3
    with Index.open(tmp_path / "idx") as idx:
        assert idx.config.captioner == str(tiny_captioner_dir)  # the index records its captioner
