"""What the index stores per item (a plain dataclass, JSON-ready through ``to_dict()``).

``to_dict()`` gives the JSON form used by ``memesearch search --json`` and by the HTTP API.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from memesearch.data.records import OCRLine, ReadContext


@dataclass
class IndexedItem(ReadContext):
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
        (``texts`` and ``passage``, from :class:`~memesearch.data.records.ReadContext`, are its context text.)
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
class PathStamp:
    """A file path an item was found at, with the size and mtime that let a re-run skip it."""

    path: str
    size: int
    mtime_ns: int


@dataclass
class NewItem:
    """One item for :meth:`memesearch.index.Index.write_batch`: the record, its vectors, where it was
    found, an uploaded copy (path relative to the index folder) and enrichment results to cache.

    ``vectors`` maps a vector field (``image``, ``text``) to a unit vector ``(dim,)``; ``image`` is required,
    ``text`` only for items with context text. ``cache`` holds ``(key, stage, version, value)`` rows.
    """

    item: IndexedItem
    vectors: dict[str, Any]
    paths: list[PathStamp] = field(default_factory=list)
    stored_path: str | None = None
    cache: list[tuple[str, str, str, bytes]] = field(default_factory=list)
