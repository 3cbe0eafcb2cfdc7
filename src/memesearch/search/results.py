"""What the index stores per item and what a search returns (plain dataclasses, JSON-ready).

These types are shared by the index (:mod:`memesearch.index`), the search API
(:mod:`memesearch.search`), the CLI and the HTTP server (:mod:`memesearch.serve`): ``to_dict()`` gives
the JSON form used by ``memesearch search --json`` and by the HTTP API.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class OCRLine:
    """One line of text read from an image: the text, the recogniser's confidence, the box.

    ``box`` is ``(x0, y0, x1, y1)`` in pixels of the decoded frame the text was read from.
    """

    text: str
    score: float
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "score": round(float(self.score), 4), "box": list(self.box)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OCRLine:
        box = tuple(float(v) for v in data.get("box", (0, 0, 0, 0)))
        return cls(text=str(data["text"]), score=float(data["score"]), box=box)  # type: ignore[arg-type]


@dataclass
class IndexedItem:
    """One distinct piece of media in an index (identified by the SHA-256 of its bytes).

    Attributes:
        id: the first 16 hex digits of ``sha256`` — stable across machines and re-runs.
        sha256: full content hash.
        media: ``image``, ``gif`` or ``video``.
        paths: every path this content was found at (exact duplicates share one item).
        width, height: size of the first decoded frame; ``frames``: frames used for the embedding.
        phash: 64-bit perceptual hash (16 hex digits) of the first frame.
        duplicate_of: id of the item this one is a near-duplicate of (perceptual hash), or None.
        ocr: text lines read from the image (empty when OCR found nothing; None when OCR did not run).
        captions: captions from the input manifest or a captioner.
        emotions: ``(emotion, score)`` pairs, best first; score is 1.0 for emotions given by a manifest.
        source: where the item came from (a dataset name, ``upload``, a folder).
        meta: free-form extra fields from the input.
        added_at: UNIX time the item entered the index.
    """

    id: str
    sha256: str
    media: str
    paths: list[str] = field(default_factory=list)
    width: int = 0
    height: int = 0
    frames: int = 1
    phash: str = ""
    duplicate_of: str | None = None
    ocr: list[OCRLine] | None = None
    captions: list[str] = field(default_factory=list)
    emotions: list[tuple[str, float]] = field(default_factory=list)
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    added_at: float = 0.0

    @property
    def ocr_text(self) -> str:
        """The OCR lines joined by newlines ("" when there are none)."""
        return "\n".join(line.text for line in self.ocr or [])

    @property
    def emotion_words(self) -> list[str]:
        return [e for e, _ in self.emotions]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ocr"] = None if self.ocr is None else [line.to_dict() for line in self.ocr]
        data["emotions"] = [{"emotion": e, "score": round(float(s), 4)} for e, s in self.emotions]
        return data


@dataclass
class Hit:
    """One search result.

    ``score`` is the fused score the list is sorted by; ``scores`` holds each branch's own score
    (``image``: query vs item embedding, ``text``: query vs caption/OCR embedding, ``lexical``:
    calibrated BM25 over caption/OCR words), missing where the branch had no score for the item.
    ``why`` lists human-readable reasons (filled when ``explain=True``).
    """

    rank: int
    id: str
    score: float
    scores: dict[str, float]
    item: IndexedItem
    why: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "id": self.id,
            "score": round(float(self.score), 6),
            "scores": {k: round(float(v), 6) for k, v in self.scores.items()},
            "why": list(self.why),
            "item": self.item.to_dict(),
        }


@dataclass
class SearchResponse:
    """The ranked hits for one query plus what was asked and how long it took."""

    query: str | None
    hits: list[Hit]
    k: int
    filters: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    took_ms: float = 0.0
    total_items: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "k": self.k,
            "filters": self.filters,
            "weights": self.weights,
            "took_ms": round(self.took_ms, 3),
            "total_items": self.total_items,
            "hits": [h.to_dict() for h in self.hits],
        }


@dataclass
class IngestFailure:
    """A file that could not be indexed and why (``reason`` is a short code, ``message`` for people)."""

    path: str
    reason: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IngestSummary:
    """What one ``index``/``add`` run did."""

    indexed: list[str] = field(default_factory=list)  # ids of new or updated items
    skipped: int = 0  # unchanged files already in the index
    duplicates: int = 0  # files whose bytes equal an already indexed item (path recorded on it)
    near_duplicates: int = 0  # new items whose perceptual hash matches an existing item
    removed: int = 0  # paths that vanished and were removed (only with ``prune``)
    failed: list[IngestFailure] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # notes for people (e.g. "the folder is empty")
    existing: list[str] = field(default_factory=list)  # ids of already indexed items an upload matched
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "indexed": len(self.indexed),
            "ids": list(self.indexed),
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "near_duplicates": self.near_duplicates,
            "removed": self.removed,
            "failed": [f.to_dict() for f in self.failed],
            "messages": list(self.messages),
            "existing": list(self.existing),
            "seconds": round(self.seconds, 3),
        }
