"""Where the work of ingest runs: the prepare, enrich and embed stages of each new item.

An engine takes :class:`~memesearch.ingest.stages.WorkItem` records (a prepare task plus what the input said)
and yields, in input order, an :class:`~memesearch.ingest.stages.Embedded` item or an
:class:`~memesearch.ingest.records.IngestFailure` for each. Everything around that stays with the
:class:`~memesearch.ingest.pipeline.Ingestor` in this process whatever the engine: inputs, hashing and exact
dedup against the index before; near-duplicates and ``Index.write_batch`` after.

* ``local`` (:class:`LocalEngine`, default) — decoding and OCR in a pool of worker processes, enrichers and
  the encoder in this process, one batch at a time;
* ``ray`` / ``ray:ADDRESS`` (:class:`~memesearch.ingest.ray_engine.RayEngine`) — the same stage functions as
  Ray Data operators: decoding as CPU tasks, enrichers and encoder in a pool of actors that load the model
  once each. ``ray`` starts a Ray instance in this process; ``ray:auto`` joins the cluster this machine
  is part of; ``ray:HOST:PORT`` the cluster whose head (GCS) listens there.

Both engines run the same functions (:func:`~memesearch.ingest.prepare.prepare`,
:func:`~memesearch.ingest.stages.enrich_embed`), so they index the same items with the same vectors.

    >>> from memesearch.ingest.engine_spec import parse_engine
    >>> engine = parse_engine("ray:auto")                                   # doctest: +SKIP
    >>> engine.check()          # the cluster answers (a one-line ConfigError when it does not)
    >>> Ingestor(idx).add_paths(["memes/"], engine=engine)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from memesearch.enrich.enrichers import Enricher
from memesearch.errors import ConfigError
from memesearch.ingest.prepare import Prepared
from memesearch.ingest.records import IngestFailure
from memesearch.ingest.stages import (
    Embedded,
    StageClock,
    WorkItem,
    default_workers,
    enrich_embed,
    run_prepare,
    with_cached_ocr,
)

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.index.index import Index
    from memesearch.ingest.inputs import InputRecord

#: the engine names ``--engine`` accepts (``ray`` also as ``ray:ADDRESS``)
ENGINES: tuple[str, ...] = ("local", "ray")


@dataclass
class EngineJob:
    """What an engine runs: the items, the index they go into (its encoder, settings and enrichment cache)
    and the enrichers (``default_enrichers``: the index's own, which a remote worker builds itself with its
    own copy of the encoder; else ``enrichers`` are shipped as they are, so they must pickle)."""

    index: Index
    work: list[WorkItem]
    enrichers: Sequence[Enricher]
    default_enrichers: bool = True


@runtime_checkable
class Engine(Protocol):
    """Runs prepare -> enrich -> embed (module docstring).

    Lifecycle: :meth:`check` (cheap: the configuration is valid and the cluster answers; call it before
    touching an index), any number of :meth:`run` calls, :meth:`close`.
    """

    spec: str  # what ``--engine`` said, e.g. ``local``, ``ray:auto``

    def check(self) -> None: ...

    def run(self, job: EngineJob, clock: StageClock) -> Iterator[Embedded | IngestFailure]:
        """One result per work item, in order; the stage seconds go on ``clock``."""
        ...

    def describe(self) -> dict[str, Any]:
        """What ran where, for the run summary (``IngestSummary.engine``)."""
        ...

    def close(self) -> None: ...


@dataclass
class LocalEngine:
    """Decoding and OCR in ``workers`` processes (0 or 1: in this process; None: as many as
    :func:`~memesearch.ingest.stages.default_workers` says for the index), enrichers and encoder here."""

    workers: int | None = None
    spec: str = "local"
    _used: int | None = field(default=None, init=False, repr=False)  # workers of the last run

    def check(self) -> None:
        if self.workers is not None and self.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {self.workers}")

    def run(self, job: EngineJob, clock: StageClock) -> Iterator[Embedded | IngestFailure]:
        idx = job.index
        size = idx.config.batch_size
        cached_ocr = {w.task.sha256: w.cached_ocr for w in job.work}
        records = {w.task.sha256: w.record for w in job.work}
        self._used = default_workers(idx.config.ocr) if self.workers is None else max(0, self.workers)
        results = run_prepare([w.task for w in job.work], self._used)
        batch: list[tuple[Prepared, InputRecord]] = []
        while True:
            with clock.stage("prepare"):
                result = next(results, None)
            if result is None:
                break
            clock.items["prepare"] = clock.items.get("prepare", 0) + 1
            if isinstance(result, IngestFailure):
                yield result
                continue
            result = with_cached_ocr(result, cached_ocr.get(result.sha256))
            assert isinstance(result, Prepared)
            batch.append((result, records[result.sha256]))
            if len(batch) >= size:
                yield from enrich_embed(
                    batch,
                    idx.encoder,
                    job.enrichers,
                    idx.cached,
                    clock,
                    region_method=idx.config.region_embedding,
                )
                batch = []
        if batch:
            yield from enrich_embed(
                batch,
                idx.encoder,
                job.enrichers,
                idx.cached,
                clock,
                region_method=idx.config.region_embedding,
            )

    def describe(self) -> dict[str, Any]:
        return {"name": "local", "workers": self._used if self._used is not None else self.workers}

    def close(self) -> None:
        pass


__all__ = ["ENGINES", "Engine", "EngineJob", "LocalEngine"]
