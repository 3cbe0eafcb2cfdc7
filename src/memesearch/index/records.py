"""What the index stores per item (a plain dataclass, JSON-ready through ``to_dict()``).

``to_dict()`` gives the JSON form used by ``memesearch search --json`` and by the HTTP API.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from memesearch.data.records import OCRLine, ReadContext, context_passage
from memesearch.objects.regions import Region


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
        objects: its regions (box, score, label; masks stay in the index), best first; empty when the index
            finds none (``objects`` setting ``none``).
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
    objects: list[Region] = field(default_factory=list)

    @property
    def ocr_text(self) -> str:
        """The OCR lines joined by newlines ("" when there are none)."""
        return "\n".join(line.text for line in self.ocr or [])

    @property
    def emotion_words(self) -> list[str]:
        return [e for e, _ in self.emotions]

    @property
    def generated_captions(self) -> list[str]:
        """The captions a captioner wrote (``meta.generated_captions``) that are among the item's captions."""
        entries = self.meta.get("generated_captions") or []
        texts = [str(g.get("text", "")) for g in entries if isinstance(g, dict)]
        return [t for t in dict.fromkeys(texts) if t and t in self.captions]

    @property
    def captioner_name(self) -> str:
        """The name of the captioner that wrote the generated captions ("captioner" when unrecorded)."""
        stamp = self.meta.get("captioner")
        return str(stamp.get("name") or "captioner") if isinstance(stamp, dict) else "captioner"

    def generated_caption(self) -> dict[str, Any] | None:
        """What search results say about generated text: ``{"captions", "captioner": {"name", "version"},
        "only"}`` (``only``: the item's whole text is generated captions, no given caption, no OCR text),
        or None when no caption of the item was generated."""
        texts = self.generated_captions
        if not texts:
            return None
        stamp = self.meta.get("captioner")
        version = stamp.get("version") if isinstance(stamp, dict) else None
        given = [c for c in self.captions if c not in texts]
        return {
            "captions": texts,
            "captioner": {"name": self.captioner_name, "version": None if version is None else str(version)},
            "only": not given and not any(line.text.strip() for line in self.ocr or []),
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["paths"] = [display_path(p) for p in self.paths]  # valid text for JSON (see display_path)
        data["ocr"] = None if self.ocr is None else [line.to_dict() for line in self.ocr]
        data["emotions"] = [{"emotion": e, "score": round(float(s), 4)} for e, s in self.emotions]
        data["objects"] = [{k: v for k, v in r.to_dict().items() if k != "mask_rle"} for r in self.objects]
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
    ``text`` only for items with context text, ``region`` ``(R, dim)`` one per ``item.objects`` entry,
    ``frames`` ``(F, dim)`` one per sampled frame of an animated item (``frame_times``: their times in
    seconds, or None; :mod:`memesearch.index.frame_rows`). ``cache`` holds ``(key, stage, version, value)``
    rows.
    """

    item: IndexedItem
    vectors: dict[str, Any]
    paths: list[PathStamp] = field(default_factory=list)
    stored_path: str | None = None
    cache: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    frame_times: list[float] | None = None


def item_text(captions: Sequence[str], ocr: Sequence[dict[str, Any]] | None) -> str:
    """The passage the text and lexical branches see: :func:`memesearch.data.records.context_texts`
    (captions, then the OCR lines) joined by newlines."""
    return context_passage(captions, [str(o.get("text", "")) for o in ocr or []])


def item_from_row(row: Sequence[Any], paths: list[str], emotions: list[tuple[str, float]]) -> IndexedItem:
    """An item from a row of ``items`` (``store._ITEM_COLUMNS``), its paths and its emotions."""
    (
        _,
        item_id,
        sha,
        media,
        width,
        height,
        frames,
        phash,
        dup,
        ocr,
        captions,
        source,
        meta,
        added,
        stored,
    ) = row
    meta_d = json.loads(meta) if meta else {}
    all_paths = list(paths)
    if stored and stored not in all_paths:
        all_paths.append(stored)
    return IndexedItem(
        id=str(item_id),
        sha256=str(sha),
        media=str(media),
        paths=all_paths,
        width=int(width),
        height=int(height),
        frames=int(frames),
        phash=str(phash),
        duplicate_of=None if dup is None else str(dup),
        ocr=None if ocr is None else [OCRLine.from_dict(o) for o in json.loads(ocr)],
        captions=list(json.loads(captions)),
        emotions=emotions,
        source=None if source is None else str(source),
        meta=meta_d,
        added_at=float(added),
    )


# File names need not be UTF-8 (a POSIX name is bytes); Python hands the undecodable bytes over as lone
# surrogates (U+DC80-U+DCFF, ``surrogateescape``), which SQLite's TEXT refuses. The paths table keeps such a
# name as valid text: each such byte becomes U+FFFF and its two hex digits, a literal U+FFFF becomes U+FFFF
# and "!". The mapping works character by character, so a folder's text is a prefix of its files' text (the
# folder queries keep working), and every UTF-8 name is its own text (old indexes need no migration).
_ESCAPE = "\uffff"


def path_to_db(path: str) -> str:
    """The text the paths table keeps for ``path`` (see above); the identity for every UTF-8 name."""
    if not any(c == _ESCAPE or "\udc80" <= c <= "\udcff" for c in path):
        return path
    out: list[str] = []
    for c in path:
        if "\udc80" <= c <= "\udcff":
            out.append(f"{_ESCAPE}{ord(c) - 0xDC00:02x}")
        elif c == _ESCAPE:
            out.append(_ESCAPE + "!")
        else:
            out.append(c)
    return "".join(out)


def path_from_db(text: str) -> str:
    """The inverse of :func:`path_to_db`: the ``surrogateescape`` str the file system gave."""
    if _ESCAPE not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != _ESCAPE:
            out.append(c)
            i += 1
        elif text[i + 1 : i + 2] == "!":
            out.append(_ESCAPE)
            i += 2
        else:
            out.append(chr(0xDC00 + int(text[i + 1 : i + 3], 16)))
            i += 3
    return "".join(out)


def display_path(path: str) -> str:
    """``path`` as text any JSON or terminal can take: bytes of a non-UTF-8 name shown as U+FFFD (the item
    id, not the path, is what names an item in the API and the CLI)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
