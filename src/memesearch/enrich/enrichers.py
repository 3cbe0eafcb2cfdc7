"""The enricher seam of ingest: what an enricher is, and the emotion tagger as the first one.

An :class:`Enricher` turns prepared items (decoded frames, the text read from them, what the input said)
into new fields of the item — emotions today; captions and object regions next. The ingest pipeline
(:mod:`memesearch.ingest.pipeline`) runs the enrichers in order, one batch at a time, and caches every
result in the index under ``(cache_key, "enrich:<name>", version)``: content seen before with the same
inputs and the same enricher version is never enriched twice, even after it was removed and re-added.

An enricher computes; it does not store (it never imports the index).

Example — a custom enricher::

    class Shouting:
        name, version, fields = "shouting", "1", ("meta",)
        def wants(self, item): return bool(item.texts)
        def cache_key(self, item): return item.sha256 + ":" + text_key(item.texts)
        def enrich(self, items, ctx): return [{"meta": {"shouting": any(t.isupper() for t in i.texts)}}
                                              for i in items]
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from memesearch.data.records import OCRLine, ReadContext
from memesearch.errors import MemesearchError
from memesearch.objects.regions import Region


@dataclass
class EnrichInput(ReadContext):
    """What an enricher sees of one item: content hash, frames, OCR lines, and the input's own fields.

    ``emotions`` is ``None`` when the input gave none (an enricher may fill it), else the given words.
    ``objects`` are the regions the input gave, ``regions`` those the regions enricher kept (boxes in pixels
    of the original image, ``size``).
    ``texts`` and ``passage`` (from :class:`~memesearch.data.records.ReadContext`) are its context text.
    """

    sha256: str
    media: str
    frames: list[Image.Image]
    ocr: list[OCRLine] | None = None
    captions: list[str] = field(default_factory=list)
    emotions: list[tuple[str, float]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    size: tuple[int, int] = (0, 0)  # (width, height) of the original image (frames may be smaller)
    objects: list[Region] = field(default_factory=list)  # the objects the input gave (boxes, masks)
    regions: list[Region] | None = None  # the regions an enricher found (None: none ran)


class EnrichContext:
    """Shared per-run resources: the index's encoder and a memo of passage embeddings, so the text an
    enricher embeds is embedded once per run and reused by the embed stage."""

    def __init__(self, encoder: Any, *, batch_size: int = 64) -> None:
        self.encoder = encoder
        self.batch_size = batch_size
        self._passages: dict[str, np.ndarray] = {}

    def passage_vectors(self, passages: Sequence[str]) -> np.ndarray:
        """Unit embeddings ``(n, dim)`` of non-empty passages (``kind="passage"``), memoised by text."""
        missing = list(dict.fromkeys(p for p in passages if p not in self._passages))
        if missing:
            vecs = self.encoder.encode_text(missing, kind="passage", batch_size=self.batch_size)
            self._passages.update(zip(missing, np.asarray(vecs, dtype=np.float32), strict=True))
        if not passages:
            return np.zeros((0, int(self.encoder.dim)), np.float32)
        return np.stack([self._passages[p] for p in passages])

    def forget(self) -> None:
        """Drop the memo (called after each batch is written)."""
        self._passages.clear()


@runtime_checkable
class Enricher(Protocol):
    """One enrichment step (see the module docstring).

    Attributes:
        name: short name; results are cached under the stage ``enrich:<name>``.
        version: changes whenever the output for the same input would change (model, thresholds, prompts).
        fields: the item fields it may set (``emotions``, ``captions``, ``meta``, ``regions``).
    """

    name: str
    fields: tuple[str, ...]

    @property
    def version(self) -> str: ...

    def wants(self, item: EnrichInput) -> bool:
        """Whether this item needs the enricher (e.g. no emotions given by the input)."""
        ...

    def cache_key(self, item: EnrichInput) -> str:
        """The key its result is cached under: the content hash, plus a hash of any other input it reads."""
        ...

    def enrich(self, items: Sequence[EnrichInput], ctx: EnrichContext) -> list[dict[str, Any]]:
        """One dict of new field values per item, JSON-ready (it is cached as JSON)."""
        ...


def text_key(texts: Sequence[str]) -> str:
    """A short hash of texts, for cache keys of enrichers that read an item's text."""
    return hashlib.sha256("\x1f".join(texts).encode("utf-8")).hexdigest()[:16]


def given_emotions(words: Sequence[str]) -> list[tuple[str, float]]:
    """Emotions an input gives (manifest, upload form): canonical words where known, else the word as
    written (lower case), each with score 1.0, without repeats."""
    from memesearch.data.emotions import normalize_emotion

    out: list[str] = []
    for e in words:
        try:
            w = normalize_emotion(e)
        except MemesearchError:
            w = e.strip().lower()
        if w and w not in out:
            out.append(w)
    return [(w, 1.0) for w in out]


class EmotionEnricher:
    """Zero-shot emotion tags for items whose input gave none
    (:class:`~memesearch.enrich.emotion.EmotionTagger`).

    Tags come from the item's passage embedding (captions + OCR; the same vector the text branch stores)
    and, when the tagger's image threshold is on, from the plain image embedding; the two are merged,
    best score per emotion, ``top_k`` at most. Items with no text and image tags off get no tags and cost
    nothing.
    """

    name = "emotion"
    fields: tuple[str, ...] = ("emotions",)

    def __init__(self, encoder: Any, *, top_k: int = 2, tagger: Any = None) -> None:
        self.encoder = encoder
        self.top_k = int(top_k)
        self._tagger = tagger

    @property
    def tagger(self) -> Any:
        if self._tagger is None:
            from memesearch.enrich.emotion import EmotionTagger

            self._tagger = EmotionTagger(self.encoder, top_k=self.top_k)
        return self._tagger

    @property
    def version(self) -> str:
        return str(self.tagger.version)

    def wants(self, item: EnrichInput) -> bool:
        return item.emotions is None and (bool(item.texts) or image_tags_on())

    def cache_key(self, item: EnrichInput) -> str:
        return f"{item.sha256}:{text_key(item.texts)}"

    def enrich(self, items: Sequence[EnrichInput], ctx: EnrichContext) -> list[dict[str, Any]]:
        tagger = self.tagger
        by_image: list[list[tuple[str, float]]] = [[] for _ in items]
        if tagger.tags_images:  # the extra image forward pass only when image tags are on
            frames = [f for it in items for f in it.frames]
            owner = np.repeat(np.arange(len(items)), [len(it.frames) for it in items])
            plain = mean_by_owner(ctx.encoder.encode_image(frames, batch_size=64), owner, len(items))
            by_image = tagger.tag_embeddings(plain)
        by_text: list[list[tuple[str, float]]] = [[] for _ in items]
        with_text = [i for i, it in enumerate(items) if it.passage]
        if with_text and tagger.text_kind == "passage":
            vecs = ctx.passage_vectors([items[i].passage for i in with_text])
            for i, tags in zip(with_text, tagger.tag_embeddings(vecs, source="text"), strict=True):
                by_text[i] = tags
        elif with_text:
            for i, tags in zip(
                with_text, tagger.tag_texts([items[i].passage for i in with_text]), strict=True
            ):
                by_text[i] = tags
        return [
            {"emotions": [[e, s] for e, s in merge_emotions(a, b, self.top_k)]}
            for a, b in zip(by_image, by_text, strict=True)
        ]


def image_tags_on() -> bool:
    """Whether the default emotion tagger tags images (off: measured at chance, see enrich.emotion)."""
    from memesearch.enrich.emotion import DEFAULT_MIN_SCORE_IMAGE

    return DEFAULT_MIN_SCORE_IMAGE is not None


def mean_by_owner(vectors: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Average frame vectors ``(F, dim)`` per item (``owner[f]`` = item of frame f) and renormalise ->
    ``(n, dim)``."""
    out = np.zeros((n, vectors.shape[1]), dtype=np.float64)
    np.add.at(out, owner, vectors)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norm, 1e-12)).astype(np.float32)


def merge_emotions(
    a: Sequence[tuple[str, float]], b: Sequence[tuple[str, float]], top_k: int
) -> list[tuple[str, float]]:
    """Union of two tag lists, best score per emotion, best first, ``top_k`` at most."""
    best: dict[str, float] = {}
    for e, s in [*a, *b]:
        best[e] = max(best.get(e, 0.0), float(s))
    return sorted(best.items(), key=lambda kv: -kv[1])[:top_k]


__all__ = [
    "EmotionEnricher",
    "EnrichContext",
    "EnrichInput",
    "Enricher",
    "given_emotions",
    "image_tags_on",
    "mean_by_owner",
    "merge_emotions",
    "text_key",
]
