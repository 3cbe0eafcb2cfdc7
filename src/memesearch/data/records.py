"""Record types shared by every part of memesearch: items, queries with graded qrels, datasets with splits.

An :class:`Item` is one searchable thing (an image, GIF or video) with its context text; a
:class:`Query` is a text with graded relevance judgements (``qrels``: item id -> grade, 0 = not
relevant); a :class:`Dataset` groups items and queries into named :class:`Split` s (train / val / test
or any other view). Paths inside a dataset are relative to ``Dataset.root`` unless absolute.

Example::

    >>> item = Item(id="1f602", path="images/1f602.png", captions=["face with tears of joy"])
    >>> q = Query(id="q1", text="lol", qrels={"1f602": 1})
    >>> ds = Dataset(name="toy", splits={"test": Split("test", items=[item], queries=[q])})
    >>> ds["test"].relevant("q1")
    {'1f602': 1}
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from memesearch.objects.regions import Region

MediaType = Literal["image", "gif", "video"]
MEDIA_TYPES: tuple[str, ...] = ("image", "gif", "video")


@dataclass(frozen=True)
class OCRLine:
    """One line of text read from an image: the text, the recogniser's confidence, the box.

    ``box`` is ``(x0, y0, x1, y1)`` in pixels of the decoded frame the text was read from. For an
    animation or a video (OCR over its sampled frames, :mod:`memesearch.enrich.frame_text`) ``frame`` is the
    index of the sampled frame where the line first appears and ``time_ms`` that frame's time in
    milliseconds (None when the file gives no frame times); both are None for still images, and only
    written to JSON when set, so a still image's lines read as before.
    """

    text: str
    score: float
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    frame: int | None = None
    time_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "score": round(float(self.score), 4), "box": list(self.box)}
        if self.frame is not None:
            out["frame"] = int(self.frame)
        if self.time_ms is not None:
            out["time_ms"] = int(self.time_ms)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OCRLine:
        box = tuple(float(v) for v in data.get("box", (0, 0, 0, 0)))
        frame, time_ms = data.get("frame"), data.get("time_ms")
        return cls(
            text=str(data["text"]),
            score=float(data["score"]),
            box=box,  # type: ignore[arg-type]
            frame=None if frame is None else int(frame),
            time_ms=None if time_ms is None else int(time_ms),
        )


@dataclass(slots=True)
class Item:
    """One searchable image, GIF or video and what is known about it.

    ``ocr`` is ``None`` when no OCR was run or nothing was read: missing context is explicit, never an
    empty string that would be embedded as if it were text. ``captions`` may hold several descriptions
    (VLM captions, titles); ``meta`` holds anything format specific (style, category, licence, ...).
    ``objects`` are known objects of the image (:class:`~memesearch.objects.regions.Region`: box in
    pixels, optional label and RLE mask), e.g. the pasted emoji of a collage.
    """

    id: str
    path: str | None = None
    url: str | None = None
    media: MediaType = "image"
    captions: list[str] = field(default_factory=list)
    ocr: str | None = None
    emotions: list[str] = field(default_factory=list)
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    objects: list[Region] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"Item.id must be a non-empty string, got {self.id!r}")
        if self.media not in MEDIA_TYPES:
            raise ValueError(f"Item {self.id!r}: media must be one of {MEDIA_TYPES}, got {self.media!r}")

    @property
    def context_texts(self) -> list[str]:
        """The item's context text (captions then OCR), without empty entries."""
        return context_texts(self.captions, self.ocr)

    def passage(self, *, oracle_captions: bool = True) -> str:
        """:meth:`texts` joined by newlines (:func:`context_passage`; "" when the item has no text)."""
        return "\n".join(self.texts(oracle_captions=oracle_captions))

    def texts(self, *, oracle_captions: bool = True) -> list[str]:
        """The context texts a model may see: with ``oracle_captions=False`` the captions of an item whose
        ``meta["caption_kind"]`` is ``"oracle"`` (a benchmark's own answer, e.g. the CLDR name) are left
        out, so what is measured is what a plain folder of images gives."""
        if oracle_captions or self.meta.get("caption_kind") != "oracle":
            return self.context_texts
        return context_texts((), self.ocr)

    def resolve_path(self, root: str | Path | None) -> Path | None:
        """The item's file path, made absolute against ``root`` when it is relative."""
        if self.path is None:
            return None
        p = Path(self.path)
        if p.is_absolute() or root is None:
            return p
        return Path(root) / p


#: An OCR line needs at least this many letters (any script: Latin, CJK, ...) to count as text.
MIN_OCR_LETTERS = 2


def is_readable_text(line: str) -> bool:
    """Whether an OCR line says something: at least :data:`MIN_OCR_LETTERS` letters. Lines of symbols,
    digits or punctuation (``"$ $"``, ``"!?"``, ``"↑"``, ``"100%"``) and single characters are what OCR
    reads off icons and drawings; embedded, they sit close to every query (e5 cosines of unrelated texts
    are 0.80-0.90) and would win every search."""
    return sum(1 for ch in line if unicodedata.category(ch).startswith("L")) >= MIN_OCR_LETTERS


def context_texts(captions: Iterable[str], ocr: str | Iterable[str] | None) -> list[str]:
    """The one definition of an item's context text: its captions, then the text read from it (one
    string, its readable lines joined by newlines: :func:`is_readable_text`), empty entries left out.
    Evaluation, training and the index all call this, so what is measured is what is served."""
    texts = [c for c in captions if c and c.strip()]
    raw = ocr.split("\n") if isinstance(ocr, str) else list(ocr or ())
    joined = "\n".join(line for line in raw if line and line.strip() and is_readable_text(line))
    if joined.strip():
        texts.append(joined)
    return texts


def context_passage(captions: Iterable[str], ocr: str | Iterable[str] | None) -> str:
    """The context texts joined by newlines: the one text the text and lexical branches see ("" = none)."""
    return "\n".join(context_texts(captions, ocr))


class ReadContext:
    """Context text of a record that holds ``captions`` and OCR lines (``ocr``: a list of
    :class:`OCRLine` or None): the indexed item and the item on its way through ingest share it."""

    captions: list[str]
    ocr: list[OCRLine] | None

    @property
    def texts(self) -> list[str]:
        """The context texts (:func:`context_texts`: captions, then the OCR lines as one text)."""
        return context_texts(self.captions, [line.text for line in self.ocr or []])

    @property
    def passage(self) -> str:
        """The context texts joined by newlines: what the text and lexical branches see ("" = no text)."""
        return context_passage(self.captions, [line.text for line in self.ocr or []])


@dataclass(slots=True)
class Query:
    """A query text with graded relevance judgements (item id -> integer grade; 0 = not relevant)."""

    id: str
    text: str
    qrels: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"Query.id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.text, str):
            raise ValueError(f"Query {self.id!r}: text must be a string, got {type(self.text).__name__}")
        for item_id, grade in self.qrels.items():
            if isinstance(grade, bool) or not isinstance(grade, int):
                if isinstance(grade, float) and math.isfinite(grade) and grade == int(grade):
                    self.qrels[item_id] = int(grade)
                    continue
                raise ValueError(
                    f"Query {self.id!r}: grade of item {item_id!r} must be an integer, got {grade!r}"
                )

    def relevant(self, threshold: int = 1) -> dict[str, int]:
        """Judged items with grade >= ``threshold``."""
        return {i: g for i, g in self.qrels.items() if g >= threshold}


@dataclass(slots=True)
class Split:
    """A named view of a dataset: its gallery (items) and its queries."""

    name: str
    items: list[Item] = field(default_factory=list)
    queries: list[Query] = field(default_factory=list)

    def item_ids(self) -> list[str]:
        return [it.id for it in self.items]

    def item_index(self) -> dict[str, Item]:
        return {it.id: it for it in self.items}

    def query(self, query_id: str) -> Query:
        for q in self.queries:
            if q.id == query_id:
                return q
        raise KeyError(f"split {self.name!r} has no query {query_id!r}")

    def relevant(self, query_id: str, threshold: int = 1) -> dict[str, int]:
        return self.query(query_id).relevant(threshold)

    def qrels(self) -> dict[str, dict[str, int]]:
        """All judgements of this split as ``{query_id: {item_id: grade}}``."""
        return {q.id: dict(q.qrels) for q in self.queries}


@dataclass(slots=True)
class Dataset:
    """Items and queries grouped into named splits.

    ``root`` is the folder relative item paths are resolved against; ``meta`` holds the dataset card
    fields (name, version, licences, ...).
    """

    name: str
    splits: dict[str, Split] = field(default_factory=dict)
    root: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, split: str) -> Split:
        try:
            return self.splits[split]
        except KeyError:
            names = ", ".join(self.splits) or "(none)"
            raise KeyError(f"dataset {self.name!r} has no split {split!r}; its splits are: {names}") from None

    def __iter__(self) -> Iterator[Split]:
        return iter(self.splits.values())

    def __contains__(self, split: object) -> bool:
        return split in self.splits

    @property
    def split_names(self) -> list[str]:
        return list(self.splits)

    def all_items(self) -> list[Item]:
        """Every item once, in first-seen order across splits."""
        seen: dict[str, Item] = {}
        for split in self.splits.values():
            for it in split.items:
                seen.setdefault(it.id, it)
        return list(seen.values())

    def counts(self) -> dict[str, dict[str, int]]:
        """Per split: number of items, queries and judged (query, item) pairs with grade > 0."""
        out: dict[str, dict[str, int]] = {}
        for name, split in self.splits.items():
            out[name] = {
                "items": len(split.items),
                "queries": len(split.queries),
                "positives": sum(1 for q in split.queries for g in q.qrels.values() if g > 0),
            }
        return out


def group_queries_by_text(queries: Iterable[Query]) -> Mapping[str, list[Query]]:
    """Queries sharing the same text (e.g. several memes posted under one topic)."""
    out: dict[str, list[Query]] = {}
    for q in queries:
        out.setdefault(q.text, []).append(q)
    return out
