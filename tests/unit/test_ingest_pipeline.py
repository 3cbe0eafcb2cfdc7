"""The ingest pipeline: stage order and timings, enrichers in order, per-stage caching."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from memesearch.enrich.enrichers import EmotionEnricher, EnrichContext, Enricher, EnrichInput
from memesearch.index import Index
from memesearch.ingest import Ingestor
from memesearch.ingest.stages import STAGES
from memesearch.models import create_encoder
from memesearch.utils.synthetic import shapes_image


class Recorder:
    """An enricher that counts its calls and records what it saw."""

    fields: tuple[str, ...] = ("meta",)

    def __init__(self, name: str, log: list[str], version: str = "1") -> None:
        self.name, self.log, self._version = name, log, version
        self.seen: list[str] = []

    @property
    def version(self) -> str:
        return self._version

    def wants(self, item: EnrichInput) -> bool:
        return True

    def cache_key(self, item: EnrichInput) -> str:
        return item.sha256

    def enrich(self, items: Sequence[EnrichInput], ctx: EnrichContext) -> list[dict[str, Any]]:
        self.log.append(self.name)
        self.seen.extend(i.sha256 for i in items)
        assert all(i.frames for i in items)  # runs after prepare
        return [
            {"meta": {self.name: i.sha256[:4], "order": [*i.meta.get("order", []), self.name]}} for i in items
        ]


def folder(root: Path, n: int) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        shapes_image(500 + i, (48, 48)).save(root / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def encoder():
    return create_encoder("tiny-clip:0")


def test_stages_are_timed_in_order(tmp_path: Path, encoder) -> None:
    files = folder(tmp_path / "m", 5)
    log: list[str] = []
    with Index.create(tmp_path / "idx", encoder=encoder, ocr=False) as idx:
        a, b = Recorder("a", log), Recorder("b", log)
        summary = Ingestor(idx, enrichers=[a, b]).add_paths([files], workers=0)
        assert len(summary.indexed) == 5
        assert list(summary.stages) == list(STAGES)
        assert all(v["seconds"] >= 0 for v in summary.stages.values())
        assert summary.stages["prepare"]["items"] == 5 and summary.stages["write"]["items"] == 5
        assert summary.to_dict()["stages"]["embed"]["items_per_s"] > 0
        assert log == ["a", "b"]  # one batch, enrichers in order
        item = idx.get(summary.indexed[0])
        assert item is not None and item.meta["order"] == ["a", "b"]


def test_an_enricher_runs_once_per_content_and_version(tmp_path: Path, encoder) -> None:
    files = folder(tmp_path / "m", 4)
    shutil.copy(files / "0.png", files / "copy_of_0.png")  # same bytes: one item, one enrichment
    log: list[str] = []
    with Index.create(tmp_path / "idx", encoder=encoder, ocr=False) as idx:
        rec = Recorder("a", log)
        s1 = Ingestor(idx, enrichers=[rec]).add_paths([files], workers=0)
        assert len(s1.indexed) == 4 and s1.duplicates == 1 and len(rec.seen) == 4
        # removed and added again: the cached result is used, the enricher is not called
        idx.remove([str(files)])
        assert len(idx) == 0
        s2 = Ingestor(idx, enrichers=[rec]).add_paths([files], workers=0)
        assert len(s2.indexed) == 4 and len(rec.seen) == 4
        assert idx.get(s2.indexed[0]).meta["a"] == s2.indexed[0][:4]  # type: ignore[union-attr]
        # a new version of the enricher recomputes
        idx.remove([str(files)])
        rec2 = Recorder("a", log, version="2")
        Ingestor(idx, enrichers=[rec2]).add_paths([files], workers=0)
        assert len(rec2.seen) == 4


def test_emotion_enricher_is_an_enricher_and_given_emotions_win(tmp_path: Path, encoder) -> None:
    assert isinstance(EmotionEnricher(encoder), Enricher)
    p = tmp_path / "a.png"
    shapes_image(1, (48, 48)).save(p)
    (tmp_path / "l.jsonl").write_text(f'{{"path": "{p}", "captions": ["气死我了"], "emotions": ["生气"]}}\n')
    with Index.create(tmp_path / "idx", encoder=encoder, ocr=False) as idx:
        s = Ingestor(idx).add_paths([tmp_path / "l.jsonl"], workers=0)
        item = idx.get(s.indexed[0])
        assert item is not None and item.emotions == [("angry", 1.0)]
        assert "enrich" not in s.stages or s.stages["enrich"]["items"] == 1
