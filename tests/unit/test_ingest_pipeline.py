"""The ingest pipeline: stage order and timings, enrichers in order, per-stage caching."""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from memesearch.enrich.enrichers import EmotionEnricher, EnrichContext, Enricher, EnrichInput
from memesearch.index import EncoderMismatchError, Index
from memesearch.ingest import IngestFailure, Ingestor
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


def test_ray_operators_in_process_equal_the_local_engine(tmp_path: Path, encoder) -> None:
    """The Ray engine's two operators, called here on pickled rows as Ray Data would, give what the local
    engine gives (Ray itself runs in tests/integration/test_ray_ingest.py)."""
    import numpy as np

    from memesearch.index.config import encoder_signature
    from memesearch.index.info import encoder_dict
    from memesearch.ingest.engines import EngineJob, LocalEngine
    from memesearch.ingest.prepare import PrepareTask
    from memesearch.ingest.ray_engine import Done, EnrichEmbed, WorkerSetup, decode_rows
    from memesearch.ingest.stages import StageClock, WorkItem

    files = folder(tmp_path / "m", 4)
    (files / "bad.png").write_bytes(b"not an image")
    (tmp_path / "l.jsonl").write_text(f'{{"path": "{files / "0.png"}", "captions": ["so happy"]}}\n')
    with Index.create(tmp_path / "idx", encoder=encoder, ocr=False) as idx:
        ingestor = Ingestor(idx)
        paths = sorted(files.iterdir())
        from memesearch.ingest.inputs import expand_inputs
        from memesearch.utils.io import sha256_file

        records = {str(r.path): r for r in expand_inputs([tmp_path / "l.jsonl", *paths[1:]]).records}
        cfg = idx.config

        def task(path: str) -> PrepareTask:
            return PrepareTask(path, sha256_file(path), False, cfg.max_frames, cfg.max_pixels, 256, 0.9)

        work = [WorkItem(task(p), records[p]) for p in sorted(records)]
        local = list(LocalEngine(0).run(EngineJob(idx, work, ingestor.enrichers), StageClock()))
        rows = {"work": np.array([pickle.dumps(w) for w in work], dtype=object)}
        setup = WorkerSetup("tiny-clip:0", encoder_signature(encoder_dict(encoder)), True, 2)
        actor = EnrichEmbed(setup, idx.cached)
        done = [pickle.loads(b) for b in actor(decode_rows(rows))["done"]]
    assert all(isinstance(d, Done) and d.error is None for d in done)
    # the local engine hands failures on at once and items a batch at a time; in each kind, input order
    failures = [r for r in local if isinstance(r, IngestFailure)]
    assert [d.result for d in done if isinstance(d.result, IngestFailure)] == failures and failures
    items = [r for r in local if not isinstance(r, IngestFailure)]
    got = [d.result for d in done if not isinstance(d.result, IngestFailure)]
    assert len(got) == len(items) == 4
    for g, r in zip(got, items, strict=True):
        assert g is not None and g.prepared == r.prepared and g.captions == r.captions
        assert [e for e, _ in g.emotions] == [e for e, _ in r.emotions] and g.source == r.source
        assert [sc for _, sc in g.emotions] == pytest.approx([sc for _, sc in r.emotions], abs=1e-5)
        assert [row[:3] for row in g.cache] == [row[:3] for row in r.cache]
        np.testing.assert_allclose(g.image, r.image, atol=1e-5)
        assert (g.text is None) == (r.text is None)
    assert sum(d.stages.get("embed", (0, 0))[1] for d in done) == 4
    # an encoder that is not the index's is refused by the actor, reported as data with the first batch
    wrong = EnrichEmbed(WorkerSetup("tiny-clip:0", "0" * 16, True, 2), idx.cached)
    (err,) = [pickle.loads(b) for b in wrong(decode_rows(rows))["done"]]
    assert isinstance(err.error, EncoderMismatchError) and "give every node the same model" in str(err.error)
