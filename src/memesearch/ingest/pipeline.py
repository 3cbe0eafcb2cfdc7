"""The ingest pipeline: inputs -> hash and exact dedup -> prepare -> enrichers -> embed -> write.

Each stage takes plain records and hands plain records on (SPEC §2.4), and each is timed: the summary
reports seconds and items/s per stage (``IngestSummary.stages``).

* ``inputs`` — files, folders, CSV/JSONL lists, dataset folders (:mod:`memesearch.ingest.inputs`);
* ``hash`` — unchanged files (same path, size, mtime) are skipped; content hashes (SHA-256, threads);
  content already indexed only gets the new path (exact duplicates);
* ``prepare`` — decode, perceptual hash, OCR (:mod:`memesearch.ingest.prepare`, in worker processes);
  OCR results are cached per content hash and OCR version;
* ``enrich`` — each :class:`~memesearch.enrich.enrichers.Enricher` in order (emotion tags by default),
  cached per cache key, stage and enricher version;
* ``embed`` — passage embeddings of the context text (text branch) and item embeddings (image branch;
  for the starter model the item's emotions go through its gate), frames averaged per item;
* ``dedup`` — near-duplicates by perceptual hash (linked with ``duplicate_of``, both stay searchable);
* ``write`` — :meth:`memesearch.index.Index.write_batch`: one transaction per batch, vectors after.

``prepare``, ``enrich`` and ``embed`` run in an engine (:mod:`memesearch.ingest.engines`): worker processes
and this process (``local``, the default) or Ray Data operators on a Ray cluster (``ray[:ADDRESS]``). The
rest — inputs, hash, exact dedup against the index, near-duplicates, writing — stays in this process.

Example::

    >>> idx = Index.create("memes.idx", model="starter")                 # doctest: +SKIP
    >>> summary = Ingestor(idx).add_paths(["~/Pictures/memes"], progress=True)
    >>> summary.stages["prepare"]["items_per_s"]
    3.2
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memesearch.enrich.enrichers import Enricher
from memesearch.errors import ConfigError
from memesearch.index.index import Index
from memesearch.index.records import IndexedItem, NewItem, PathStamp
from memesearch.ingest.engine_spec import parse_engine
from memesearch.ingest.engines import Engine, EngineJob, LocalEngine
from memesearch.ingest.inputs import InputRecord, expand_inputs
from memesearch.ingest.prepare import PrepareTask, ocr_version, prepare
from memesearch.ingest.records import IngestFailure, IngestSummary
from memesearch.ingest.stages import (
    Embedded,
    NearDuplicates,
    StageClock,
    WorkItem,
    enrich_embed,
    enrichers_for,
    hash_file,
)
from memesearch.utils.io import progress_bar, sha256_bytes

logger = logging.getLogger(__name__)

MEDIA_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "MPO": "jpg"}


@dataclass
class _Pending:
    record: InputRecord
    stamp: PathStamp
    sha256: str = ""


def default_enrichers(index: Index) -> list[Enricher]:
    """The enrichers an index's settings ask for (:func:`~memesearch.ingest.stages.enrichers_for`)."""
    cfg = index.config
    return enrichers_for(
        index.encoder,
        emotions=cfg.emotions,
        top_k=cfg.emotion_top_k,
        captioner=cfg.captioner,
        objects=cfg.objects,
        max_regions=cfg.max_regions,
        image_emotions=cfg.image_emotions,
    )


class Ingestor:
    """Runs the pipeline (module docstring) into one open, writable :class:`Index`.

    Args:
        index: where items go.
        enrichers: the enrichers, in order (default: :func:`default_enrichers`). The Ray engine builds the
            default ones in each of its actors; enrichers given here are shipped to the actors as they
            are (so they must pickle).
    """

    def __init__(self, index: Index, *, enrichers: Sequence[Enricher] | None = None) -> None:
        self.index = index
        self._default_enrichers = enrichers is None
        self.enrichers = list(enrichers) if enrichers is not None else default_enrichers(index)
        self._near: NearDuplicates = self._near_duplicates()

    # ---- entry points --------------------------------------------------------------------------
    def add_paths(
        self,
        inputs: Sequence[str | os.PathLike[str]],
        *,
        workers: int | None = None,
        engine: str | Engine | None = None,
        progress: bool = False,
        source: str | None = None,
        splits: Sequence[str] | None = None,
        prune: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> IngestSummary:
        """Index files, folders, CSV/JSONL lists and dataset folders (see :mod:`memesearch.ingest.inputs`).

        Unchanged files (same path, size and mtime) are skipped; changed files are re-indexed; exact
        duplicates add a path to the existing item; ``prune`` removes indexed files under the given
        folders that no longer exist. ``workers``: processes for decoding and OCR (default:
        :func:`~memesearch.ingest.stages.default_workers`; 0 or 1 = in this process). ``engine``: where
        prepare, enrich and embed run — an :class:`~memesearch.ingest.engines.Engine` or its spec
        (``local``, ``ray``, ``ray:ADDRESS``; :func:`~memesearch.ingest.engines.parse_engine`, which also
        takes ``workers``); an engine made here from a spec is closed at the end. Returns what happened,
        failures with reasons and per-stage timings included.
        """
        idx = self.index
        idx.check_writable()
        if engine is None or isinstance(engine, str):
            runner = LocalEngine(workers) if engine is None else parse_engine(engine, workers=workers)
            try:
                return self._add_paths(inputs, runner, progress, source, splits, prune, on_progress)
            finally:
                runner.close()
        if workers is not None:
            raise ConfigError("give workers to the engine (parse_engine(spec, workers=...)), not add_paths")
        return self._add_paths(inputs, engine, progress, source, splits, prune, on_progress)

    def _add_paths(
        self,
        inputs: Sequence[str | os.PathLike[str]],
        engine: Engine,
        progress: bool,
        source: str | None,
        splits: Sequence[str] | None,
        prune: bool,
        on_progress: Callable[[int, int], None] | None,
    ) -> IngestSummary:
        idx = self.index
        engine.check()
        self._near = self._near_duplicates()  # removals since the last run may have changed them
        t0 = time.perf_counter()
        clock = StageClock()
        with clock.stage("inputs"):
            try:
                expanded = expand_inputs(
                    inputs,
                    exclude=idx.root,
                    oracle_captions=idx.config.oracle_captions,
                    source=source,
                    splits=splits,
                )
            except KeyError as exc:  # unknown split of a dataset
                raise ConfigError(str(exc.args[0]) if exc.args else str(exc)) from None
        clock.items["inputs"] = len(expanded.records)
        summary = IngestSummary(failed=list(expanded.failures), messages=list(expanded.messages))
        with idx.reading():
            if prune:
                summary.removed = idx.prune(expanded.folders)
            pending: list[_Pending] = []
            with clock.stage("hash"):
                for rec in expanded.records:
                    key = str(rec.path)
                    try:
                        st = os.stat(rec.path)
                    except OSError as exc:
                        summary.failed.append(
                            IngestFailure(key, "missing", f"{key}: cannot read the file ({exc.strerror})")
                        )
                        continue
                    if not os.path.isfile(rec.path):
                        summary.failed.append(IngestFailure(key, "not-media", f"{key}: not a regular file"))
                        continue
                    entry = idx.path_entry(key)
                    if entry is not None and entry[1] == st.st_size and entry[2] == st.st_mtime_ns:
                        summary.skipped += 1
                        continue
                    pending.append(_Pending(rec, PathStamp(key, int(st.st_size), int(st.st_mtime_ns))))
            if pending:
                self._ingest(pending, summary, clock, engine, progress, on_progress)
                summary.engine = engine.describe()
            idx.flush()
        summary.stages = clock.report()
        summary.seconds = time.perf_counter() - t0
        return summary

    def add_bytes(
        self,
        data: bytes,
        *,
        source: str = "upload",
        filename: str | None = None,
        captions: Sequence[str] = (),
        emotions: Sequence[str] | None = None,
    ) -> IngestSummary:
        """Index an uploaded file: stored as ``media/<sha256>.<ext>`` (the client's name only goes into
        ``meta.filename``, cleaned). Bad bytes give a summary with one failure and change nothing."""
        idx = self.index
        idx.check_writable()
        self._near = self._near_duplicates()  # removals since the last run may have changed them
        t0 = time.perf_counter()
        clock = StageClock()
        summary = IngestSummary()
        label = clean_filename(filename) if filename else "upload"
        with clock.stage("hash", 1):
            sha = sha256_bytes(data)
        if idx.rowid_by_sha(sha) is not None:
            return self._known(summary, sha, t0)
        # decoding, enrichers and the encoder run without the index's lock: searches are not held up
        # behind an upload (only the write below takes the lock)
        with clock.stage("prepare", 1):
            result = prepare(self._task(label, sha, data=data))
        if isinstance(result, IngestFailure):
            summary.failed.append(result)
            summary.seconds = time.perf_counter() - t0
            return summary
        ext = MEDIA_EXTENSIONS.get(result.format.upper(), result.format.lower() or "bin")
        rec = InputRecord(
            Path(f"media/{sha}.{ext}"),
            captions=list(captions),
            emotions=list(emotions) if emotions else None,
            source=source,
            meta={"filename": label} if filename else {},
        )
        embedded = enrich_embed(
            [(result, rec)],
            idx.encoder,
            self.enrichers,
            idx.cached,
            clock,
            region_method=idx.config.region_embedding,
        )
        with idx.reading():
            if idx.rowid_by_sha(sha) is not None:  # the same bytes were added meanwhile
                return self._known(summary, sha, t0)
            # the file first, then the row (index/recovery.py removes a file whose row never came)
            stored = idx.store_upload(sha, ext, data)
            self._write(embedded, [[]], summary, clock, "", stored_path=stored)
            idx.save_if_due()  # not a full save of a large index per upload: see Index.save_if_due
        summary.stages = clock.report()
        summary.seconds = time.perf_counter() - t0
        return summary

    @staticmethod
    def _known(summary: IngestSummary, sha: str, t0: float) -> IngestSummary:
        summary.duplicates += 1
        summary.existing.append(sha[:16])
        summary.seconds = time.perf_counter() - t0
        return summary

    # ---- stages --------------------------------------------------------------------------------
    def _near_duplicates(self) -> NearDuplicates:
        idx = self.index

        def item_id(rowid: int) -> str | None:
            item = idx.items([rowid]).get(rowid)
            return None if item is None else item.id

        return NearDuplicates(idx.config.near_duplicate_distance, idx.phashes, item_id)

    def _task(
        self, path: str, sha: str, *, data: bytes | None = None, run_ocr: bool | None = None
    ) -> PrepareTask:
        cfg = self.index.config
        side = max(4 * int(self.index.encoder.config.image_size or 64), 256)
        return PrepareTask(
            path=path,
            sha256=sha,
            run_ocr=cfg.ocr if run_ocr is None else run_ocr,
            max_frames=cfg.max_frames,
            max_pixels=cfg.max_pixels,
            frame_side=side,
            ocr_min_score=cfg.ocr_min_score,
            data=data,
        )

    def _ingest(
        self,
        pending: list[_Pending],
        summary: IngestSummary,
        clock: StageClock,
        engine: Engine,
        progress: bool,
        on_progress: Callable[[int, int], None] | None,
    ) -> None:
        idx = self.index
        total = len(pending)
        done = 0
        with progress_bar("indexing", total, enabled=progress, transient=False) as advance:

            def tick(n: int) -> None:
                nonlocal done
                done += n
                advance(n)
                if on_progress is not None:
                    on_progress(done, total)

            # hash: content hashes (I/O bound: threads), exact duplicates get the path only
            with clock.stage("hash", len(pending)):
                with ThreadPoolExecutor(max_workers=4) as pool:
                    hashes = list(pool.map(hash_file, [p.stamp.path for p in pending]))
                fresh: dict[str, list[_Pending]] = {}
                for p, h in zip(pending, hashes, strict=True):
                    if isinstance(h, IngestFailure):
                        summary.failed.append(h)
                        tick(1)
                        continue
                    p.sha256 = h
                    rid = idx.rowid_by_sha(h)
                    if rid is not None:
                        idx.attach_path(p.stamp, rid)
                        summary.duplicates += 1
                        tick(1)
                        continue
                    fresh.setdefault(h, []).append(p)
            if not fresh:
                return
            # prepare -> enrich -> embed in the engine (OCR skipped for content whose OCR is cached)
            ocr_ver = ocr_version(idx.config.ocr_min_score) if idx.config.ocr else ""
            groups = list(fresh.values())
            cached_ocr = idx.cached([g[0].sha256 for g in groups], "ocr", ocr_ver) if ocr_ver else {}
            work = [
                WorkItem(
                    self._task(
                        g[0].stamp.path,
                        g[0].sha256,
                        run_ocr=idx.config.ocr and g[0].sha256 not in cached_ocr,
                    ),
                    g[0].record,
                    cached_ocr.get(g[0].sha256),
                )
                for g in groups
            ]
            by_sha = {g[0].sha256: g for g in groups}
            sha_of_path = {w.task.path: w.task.sha256 for w in work}
            job = EngineJob(idx, work, self.enrichers, default_enrichers=self._default_enrichers)
            batch: list[Embedded] = []
            for result in engine.run(job, clock):
                if isinstance(result, IngestFailure):
                    group = by_sha.get(sha_of_path.get(result.path, ""), [])
                    summary.failed.append(result)
                    for extra in group[1:]:  # same bytes under other names fail the same way
                        summary.failed.append(IngestFailure(extra.stamp.path, result.reason, result.message))
                    tick(max(1, len(group)))
                    continue
                batch.append(result)
                if len(batch) >= idx.config.batch_size:
                    self._write(batch, [by_sha[e.prepared.sha256] for e in batch], summary, clock, ocr_ver)
                    tick(sum(len(by_sha[e.prepared.sha256]) for e in batch))
                    batch = []
            if batch:
                self._write(batch, [by_sha[e.prepared.sha256] for e in batch], summary, clock, ocr_ver)
                tick(sum(len(by_sha[e.prepared.sha256]) for e in batch))

    def _write(
        self,
        batch: list[Embedded],
        files: list[list[_Pending]],
        summary: IngestSummary,
        clock: StageClock,
        ocr_ver: str,
        stored_path: str | None = None,
    ) -> None:
        """dedup -> write, for one batch of embedded items (``files[i]``: the files holding item i)."""
        idx = self.index
        with clock.stage("dedup", len(batch)):
            dups = self._near.find([(e.prepared.sha256[:16], e.prepared.phash) for e in batch])
            summary.near_duplicates += sum(d is not None for d in dups)
        with clock.stage("write", len(batch)):
            now = time.time()
            new: list[NewItem] = []
            for e, dup, paths in zip(batch, dups, files, strict=True):
                p = e.prepared
                meta = dict(e.meta)
                if p.extension_mismatch:
                    meta["extension_mismatch"] = True
                item = IndexedItem(
                    id=p.sha256[:16],
                    sha256=p.sha256,
                    media=p.media,
                    width=p.width,
                    height=p.height,
                    frames=e.frame_count,
                    phash=p.phash,
                    duplicate_of=dup,
                    ocr=p.ocr,
                    captions=list(e.captions),
                    emotions=list(e.emotions),
                    source=e.source,
                    meta=meta,
                    added_at=now,
                    objects=list(e.regions),
                )
                rows = list(e.cache)
                if ocr_ver and p.ocr is not None:
                    ocr_json = json.dumps([o.to_dict() for o in p.ocr], ensure_ascii=False).encode()
                    rows.append((p.sha256, "ocr", ocr_ver, ocr_json))
                vectors = {"image": e.image}
                if e.text is not None:
                    vectors["text"] = e.text
                stamps = [f.stamp for f in paths]
                if e.region_vectors is not None and len(e.regions):
                    vectors["region"] = e.region_vectors
                if e.frame_vectors is not None:
                    vectors["frames"] = e.frame_vectors
                times = (
                    p.frame_times
                    if p.frame_times is not None and len(p.frame_times) == e.frame_count
                    else None
                )
                new.append(
                    NewItem(
                        item, vectors, paths=stamps, stored_path=stored_path, cache=rows, frame_times=times
                    )
                )
            rowids = idx.write_batch(new)
            summary.duplicates += sum(max(0, len(paths) - 1) for paths in files)
            summary.indexed.extend(n.item.id for n in new)
            self._near.remember(rowids, [n.item.phash for n in new])


def clean_filename(name: str) -> str:
    """The last path component, without control characters, at most 200 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable()).strip().lstrip(".")
    return base[:200] or "upload"


def add_paths(index: Index, inputs: Sequence[str | os.PathLike[str]], **kwargs: Any) -> IngestSummary:
    """:meth:`Ingestor.add_paths` with the index's default enrichers."""
    return Ingestor(index).add_paths(inputs, **kwargs)


def add_bytes(index: Index, data: bytes, **kwargs: Any) -> IngestSummary:
    """:meth:`Ingestor.add_bytes` with the index's default enrichers."""
    return Ingestor(index).add_bytes(data, **kwargs)
