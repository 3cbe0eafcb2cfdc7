"""The stages of the ingest pipeline, each a plain function or a small class over plain records.

:class:`~memesearch.ingest.pipeline.Ingestor` runs them in the order of :data:`STAGES` and times each with
a :class:`StageClock`:

* ``hash`` — :func:`hash_file` (content hash of one file, a failure record instead of an exception);
* ``prepare`` — :func:`run_prepare` (decode, perceptual hash, OCR: inline or in worker processes);
* ``enrich`` — :func:`run_enrichers` (each enricher in order, results cached per key/stage/version);
* ``embed`` — :func:`embed_items` (passage vectors for the text branch, item vectors for the image branch);
* ``dedup`` — :class:`NearDuplicates` (perceptual-hash neighbours among indexed items and the batch).

``prepare`` -> ``enrich`` -> ``embed`` is the work an engine (:mod:`memesearch.ingest.engines`) runs, here or
on a Ray cluster: :class:`WorkItem` in (picklable), :func:`with_cached_ocr` after prepare,
:func:`enrich_embed` per batch, :class:`Embedded` out (picklable) to the writer.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import numpy as np

from memesearch.enrich.enrichers import (
    EMOTION_SOURCE_KEY,
    EmotionEnricher,
    EnrichContext,
    Enricher,
    EnrichInput,
    given_emotions,
    mean_by_owner,
)
from memesearch.errors import ConfigError
from memesearch.ingest.inputs import InputRecord
from memesearch.ingest.prepare import Prepared, PrepareTask, prepare
from memesearch.ingest.records import IngestFailure
from memesearch.objects.regions import Region
from memesearch.utils.io import sha256_file

#: the stages, in the order they run (and are reported in)
STAGES: tuple[str, ...] = ("inputs", "hash", "prepare", "enrich", "embed", "dedup", "write")

#: ``(cache key, stage, version, value)``: an enrichment result to store with its item
CacheRow = tuple[str, str, str, bytes]

#: ``cached(keys, stage, version) -> {key: value}``: looks enrichment results up (the index's cache)
CacheLookup = Callable[[list[str], str, str], dict[str, bytes]]


@dataclass
class WorkItem:
    """One distinct content on its way through prepare -> enrich -> embed (picklable: it may travel to
    another machine): the prepare task, what the input said about the file, and its OCR lines as the
    index has them cached (JSON; then ``task.run_ocr`` is off)."""

    task: PrepareTask
    record: InputRecord
    cached_ocr: bytes | None = None


@dataclass
class Embedded:
    """One item after enrich and embed, ready for the writer (picklable).

    ``prepared.frames`` is emptied once the frames are embedded (``frame_count`` keeps how many there
    were); ``captions``, ``emotions`` and ``meta`` are the item's after the enrichers; ``cache`` holds the
    enrichment results and late-interaction tokens to store with it; ``image`` ``(dim,)`` and ``text``
    ``(dim,)`` or None are its unit vectors; ``regions`` the regions the regions enricher kept (boxes in
    pixels of the original image) and ``region_vectors`` one unit vector each. ``frame_vectors``
    ``(frame_count, dim)``: each sampled frame's unit vector, for items with more than one frame (the
    image branch scores them by their best frame; ``image`` is their renormalised mean).
    """

    prepared: Prepared
    source: str | None
    captions: list[str]
    emotions: list[tuple[str, float]]
    meta: dict[str, Any]
    cache: list[CacheRow]
    image: np.ndarray
    text: np.ndarray | None
    frame_count: int
    regions: list[Region] = field(default_factory=list)
    region_vectors: np.ndarray | None = None  # (len(regions), dim) unit vectors
    frame_vectors: np.ndarray | None = None  # (frame_count, dim) unit vectors, animated items only


class StageClock:
    """Seconds and items per stage (wall time in this process; a pool stage counts the waiting)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.items: dict[str, int] = {}

    @contextmanager
    def stage(self, name: str, items: int = 0) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0, items)

    def add(self, name: str, seconds: float, items: int = 0) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.items[name] = self.items.get(name, 0) + items

    def report(self) -> dict[str, dict[str, float]]:
        """``{stage: {"seconds", "items", "items_per_s"}}`` in :data:`STAGES` order."""
        out: dict[str, dict[str, float]] = {}
        for name in STAGES:
            if name in self.seconds:
                s, n = self.seconds[name], self.items.get(name, 0)
                out[name] = {
                    "seconds": round(s, 4),
                    "items": n,
                    "items_per_s": round(n / s, 2) if s > 0 else 0.0,
                }
        return out


def default_workers(ocr: bool) -> int:
    """Worker processes when the caller does not say: every core when OCR runs (it dominates the
    cost), else all but two — decoding without OCR costs less than the encoder forward pass, and on a
    small machine worker processes only take cores from the encoder (measured: bench/bench_ingest.py)."""
    cores = os.cpu_count() or 1
    return cores if ocr else max(0, cores - 2)


def enrichers_for(
    encoder: Any,
    *,
    emotions: bool,
    top_k: int,
    captioner: str | None = None,
    objects: str = "none",
    max_regions: int = 16,
    image_emotions: bool = False,
) -> list[Enricher]:
    """The enrichers an index's settings ask for — the regions enricher when ``objects`` is not ``none``,
    the captioner when ``captioner`` is set (before the emotion tagger, so that emotion tags read its
    captions too), the emotion tagger when ``emotions`` is on — built around ``encoder``: the index's own
    here, its own copy in a Ray actor."""
    out: list[Enricher] = []
    if objects != "none":
        from memesearch.enrich.regions import RegionEnricher

        out.append(RegionEnricher(objects, max_regions=max_regions))
    if captioner:
        from memesearch.enrich.caption import CaptionEnricher

        out.append(CaptionEnricher(captioner))
    if emotions:
        out.append(EmotionEnricher(encoder, top_k=top_k, head="auto" if image_emotions else None))
    return out


def hash_file(path: str) -> str | IngestFailure:
    """SHA-256 of the file at ``path``, or a ``missing`` failure when it cannot be read."""
    try:
        return sha256_file(path)
    except OSError as exc:
        return IngestFailure(path, "missing", f"{path}: cannot read the file ({exc})")


def run_prepare(tasks: list[PrepareTask], workers: int) -> Iterator[Prepared | IngestFailure]:
    """:func:`~memesearch.ingest.prepare.prepare` every task, in order: inline for ``workers <= 1`` or
    a handful of tasks, else in a pool of spawned processes fed a window at a time."""
    if workers <= 1 or len(tasks) < 4:
        for t in tasks:
            yield prepare(t)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    window = max(64, workers * 16)
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context("spawn"),
        # workers warn (or stay quiet) like this process
        initializer=partial(_use_warning_filters, _picklable(list(warnings.filters))),
    ) as pool:
        for start in range(0, len(tasks), window):
            yield from pool.map(prepare, tasks[start : start + window], chunksize=4)


def _picklable(entries: list[Any]) -> list[Any]:
    import pickle

    out = []
    for entry in entries:  # a warning class defined inside a function cannot travel to a worker
        try:
            pickle.dumps(entry)
        except Exception:  # pickle raises many kinds; such a filter stays in this process
            continue
        out.append(entry)
    return out


def _use_warning_filters(filters: list[Any]) -> None:
    cast("list[Any]", warnings.filters)[:] = filters  # in place: the C module holds the same list


def with_cached_ocr(result: Prepared | IngestFailure, cached_ocr: bytes | None) -> Prepared | IngestFailure:
    """Give a prepared item the OCR lines the index had cached for its content (OCR did not run)."""
    if cached_ocr is not None and isinstance(result, Prepared) and result.ocr is None:
        from memesearch.data.records import OCRLine

        result.ocr = [OCRLine.from_dict(d) for d in json.loads(cached_ocr)]
    return result


def run_enrichers(
    enrichers: Sequence[Enricher],
    inputs: list[EnrichInput],
    ctx: EnrichContext,
    cached: CacheLookup,
) -> list[list[CacheRow]]:
    """Run each enricher on the items that want it, in order, updating ``inputs`` in place.

    ``cached(keys, stage, version)`` looks results up (the index's cache); hits are used as they are,
    misses are computed and returned per item as cache rows, to be written with the item.
    """
    rows: list[list[CacheRow]] = [[] for _ in inputs]
    for enricher in enrichers:
        wanted = [i for i, it in enumerate(inputs) if enricher.wants(it)]
        if not wanted:
            continue
        stage, version = f"enrich:{enricher.name}", enricher.version
        keys = {i: enricher.cache_key(inputs[i]) for i in wanted}
        hits = cached(list(keys.values()), stage, version)
        results: dict[int, dict[str, Any]] = {i: json.loads(hits[keys[i]]) for i in wanted if keys[i] in hits}
        todo = [i for i in wanted if i not in results]
        if todo:
            for i, fields in zip(todo, enricher.enrich([inputs[i] for i in todo], ctx), strict=True):
                results[i] = fields
                rows[i].append((keys[i], stage, version, json.dumps(fields, ensure_ascii=False).encode()))
        for i, fields in results.items():
            apply_fields(inputs[i], fields, enricher)
    return rows


def apply_fields(item: EnrichInput, fields: dict[str, Any], enricher: Enricher) -> None:
    """Set what an enricher returned on the item; a field it did not declare is an error."""
    for key, value in fields.items():
        if key not in enricher.fields:
            raise ConfigError(
                f"enricher {enricher.name!r} returned field {key!r}; it declares {enricher.fields}"
            )
        if key == "emotions":
            item.emotions = [(str(e), float(s)) for e, s in value]
        elif key == "captions":
            item.captions = [*item.captions, *[str(c) for c in value]]
        elif key == "meta":
            item.meta.update(value)
        elif key == "regions":
            item.regions = [Region.from_dict(r) for r in value]
        else:
            raise ConfigError(f"enricher field {key!r} is not known to the pipeline")


def embed_items(
    encoder: Any, inputs: list[EnrichInput], ctx: EnrichContext
) -> tuple[np.ndarray, list[np.ndarray | None], list[np.ndarray | None]]:
    """``(image vectors (n, dim), text vectors or None per item, frame vectors (F, dim) or None per item)``.

    Text: the passage embedding (memoised in ``ctx``: an enricher that embedded it already paid). Image:
    each frame through the encoder (``encode_items`` with the item's emotions and context texts when the
    model reads them: the starter's emotion gate, a CLIP4Meme run's gate and co-attention), averaged per
    item and renormalised; an item with several frames also keeps each frame's vector.
    """
    with_text = [i for i, it in enumerate(inputs) if it.passage]
    text_vecs: list[np.ndarray | None] = [None] * len(inputs)
    if with_text:
        for i, v in zip(with_text, ctx.passage_vectors([inputs[i].passage for i in with_text]), strict=True):
            text_vecs[i] = v
    frames = [f for it in inputs for f in it.frames]
    owner = np.repeat(np.arange(len(inputs)), [len(it.frames) for it in inputs])
    if hasattr(encoder, "encode_items"):  # the item's emotions (and context text) go through the model
        # emotions the image head read from the picture do not go back into the image vector (they add
        # nothing the pixels did not give, and the image branch's numbers stay those of the tower alone)
        frame_emotions = [
            []
            if inputs[int(o)].meta.get(EMOTION_SOURCE_KEY) == "image"
            else [e for e, _ in inputs[int(o)].emotions or []]
            for o in owner
        ]
        frame_texts = [inputs[int(o)].texts for o in owner]
        vecs = encoder.encode_items(frames, frame_emotions, texts=frame_texts)
    else:
        vecs = encoder.encode_image(frames, batch_size=64)
    vecs = np.asarray(vecs, dtype=np.float32)
    unit = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    frame_vecs: list[np.ndarray | None] = [
        unit[owner == i] if len(it.frames) > 1 else None for i, it in enumerate(inputs)
    ]
    return mean_by_owner(vecs, owner, len(inputs)), text_vecs, frame_vecs


def item_tokens(encoder: Any, inputs: list[EnrichInput]) -> list[tuple[str, str, str, bytes]]:
    """Cache rows of each item's tokens for a late-interaction encoder (an ``ief`` run; none for others):
    the cover frame and the item's context texts (:mod:`memesearch.index.tokens`)."""
    if not getattr(encoder, "late_interaction", False) or not inputs:
        return []
    from memesearch.index.tokens import TOKENS_STAGE, token_key, token_version

    mats = encoder.encode_item_tokens([it.frames[0] for it in inputs], [it.texts for it in inputs])
    version = token_version(encoder.config.to_dict())
    return [
        (token_key(it.sha256, it.passage), TOKENS_STAGE, version, encoder.tokens_to_bytes(m))
        for it, m in zip(inputs, mats, strict=True)
    ]


def embed_regions(encoder: Any, inputs: list[EnrichInput], method: str) -> list[np.ndarray | None]:
    """Unit vectors ``(R, dim)`` of each item's regions (None for an item without), by ``method``
    (:func:`memesearch.models.regions.region_embeddings` on the cover frame; boxes and masks moved from
    the original image's pixels to the frame's)."""
    from memesearch.enrich.regions import region_in_frame
    from memesearch.models.regions import region_embeddings

    out: list[np.ndarray | None] = []
    for it in inputs:
        if not it.regions or not it.frames:
            out.append(None)
            continue
        cover = it.frames[0]
        placed = [region_in_frame(r, it.size, cover.size) for r in it.regions]
        out.append(
            region_embeddings(encoder, cover, [b for b, _ in placed], [m for _, m in placed], method=method)
        )
    return out


def enrich_embed(
    batch: Sequence[tuple[Prepared, InputRecord]],
    encoder: Any,
    enrichers: Sequence[Enricher],
    cached: CacheLookup,
    clock: StageClock,
    *,
    region_method: str = "masked-crop",
) -> list[Embedded]:
    """The ``enrich`` and ``embed`` stages for one batch of prepared items (timed on ``clock``): the same
    function in this process (local engine) and in a Ray actor (Ray engine). Items with regions get one
    vector per region (``region_method``: :data:`memesearch.models.regions.REGION_METHODS`)."""
    ctx = EnrichContext(encoder)
    inputs = [
        EnrichInput(
            sha256=p.sha256,
            media=p.media,
            frames=p.frames,
            ocr=p.ocr,
            captions=list(rec.captions),
            emotions=given_emotions(rec.emotions) if rec.emotions else None,
            meta=dict(rec.meta),
            size=(p.width, p.height),
            objects=list(rec.objects),
        )
        for p, rec in batch
    ]
    with clock.stage("enrich", len(batch)):
        cache_rows = run_enrichers(enrichers, inputs, ctx, cached)
    with clock.stage("embed", len(batch)):
        image_vecs, text_vecs, frame_vecs = embed_items(encoder, inputs, ctx)
        token_rows = item_tokens(encoder, inputs)
        region_vecs = embed_regions(encoder, inputs, region_method)
    ctx.forget()
    out: list[Embedded] = []
    for i, ((p, rec), inp) in enumerate(zip(batch, inputs, strict=True)):
        count = len(p.frames)
        p.frames = []  # embedded: only their count goes on to the writer
        out.append(
            Embedded(
                prepared=p,
                source=rec.source,
                captions=list(inp.captions),
                emotions=list(inp.emotions or []),
                meta=inp.meta,
                cache=[*cache_rows[i], *([token_rows[i]] if token_rows else [])],
                image=image_vecs[i],
                text=text_vecs[i],
                frame_count=count,
                regions=list(inp.regions or []) if region_vecs[i] is not None else [],
                region_vectors=region_vecs[i],
                frame_vectors=frame_vecs[i],
            )
        )
    return out


class NearDuplicates:
    """Finds, for new items, an indexed item (or an earlier item of the same batch) whose perceptual hash
    is within ``limit`` bits. ``load()`` returns ``(rowids, hashes as uint64)`` of the indexed items and
    ``item_id(rowid)`` the id of one; both are read lazily, once per run."""

    def __init__(
        self,
        limit: int,
        load: Callable[[], tuple[np.ndarray, np.ndarray]],
        item_id: Callable[[int], str | None],
    ) -> None:
        self.limit = int(limit)
        self._load = load
        self._item_id = item_id
        self._known: tuple[np.ndarray, np.ndarray] | None = None

    def find(self, new: Sequence[tuple[str, str]]) -> list[str | None]:
        """For each ``(item id, phash hex)`` the id it is a near-duplicate of (closest first) or None."""
        out: list[str | None] = []
        local: list[tuple[str, int]] = []
        for item_id, ph in new:
            found: str | None = None
            if ph and self.limit > 0:
                h = int(ph, 16)
                if self._known is None:
                    self._known = self._load()
                rowids, hashes = self._known
                if rowids.size:
                    dist = np.bitwise_count(hashes ^ np.uint64(h))
                    best = int(np.argmin(dist))
                    if int(dist[best]) <= self.limit:
                        found = self._item_id(int(rowids[best]))
                if found is None:
                    found = next((i for i, other in local if (h ^ other).bit_count() <= self.limit), None)
                local.append((item_id, h))
            out.append(found)
        return out

    def remember(self, rowids: Sequence[int], phashes: Sequence[str]) -> None:
        """Add items just written, so later batches of the run see them."""
        if self._known is None:
            return
        got = [(r, int(h, 16)) for r, h in zip(rowids, phashes, strict=True) if h]
        if got:
            self._known = (
                np.concatenate([self._known[0], np.array([r for r, _ in got], np.int64)]),
                np.concatenate([self._known[1], np.array([h for _, h in got], np.uint64)]),
            )


__all__ = [
    "STAGES",
    "CacheLookup",
    "CacheRow",
    "Embedded",
    "NearDuplicates",
    "StageClock",
    "WorkItem",
    "apply_fields",
    "default_workers",
    "embed_items",
    "embed_regions",
    "enrich_embed",
    "enrichers_for",
    "hash_file",
    "item_tokens",
    "run_enrichers",
    "run_prepare",
    "with_cached_ocr",
]
