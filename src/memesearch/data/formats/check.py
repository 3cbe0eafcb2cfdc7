"""Find what is suspicious in a dataset: the checks behind ``memesearch datasets validate``.

A reader rejects rows that break the format; these checks look at a dataset that was read fine but may
still be wrong for retrieval: queries nobody can answer, judgements of items that are not there, files
that are missing or are not media, items with no text to match.

>>> problems = check_dataset(ds)                                     # doctest: +SKIP
>>> [(p.split, p.kind, p.count) for p in problems]                   # doctest: +SKIP
[('test', 'queries without positives', 17)]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from memesearch.data.formats.media import detect_media
from memesearch.data.records import Dataset, Split
from memesearch.errors import DataFormatError
from memesearch.objects.regions import Region, check_region

Severity = Literal["warning", "note"]
MAX_EXAMPLES = 3


@dataclass(frozen=True)
class Problem:
    """One kind of problem in one split: how often it occurs and a few examples (ids or paths)."""

    split: str
    kind: str
    count: int
    examples: list[str] = field(default_factory=list)
    severity: Severity = "warning"


def _problem(split: Split, kind: str, found: Iterable[str], severity: Severity = "warning") -> Problem | None:
    found = list(found)
    if not found:
        return None
    return Problem(split.name, kind, len(found), found[:MAX_EXAMPLES], severity)


def _duplicates(ids: list[str]) -> list[str]:
    return [i for i, n in Counter(ids).items() if n > 1]


def _object_problems(item_id: str, objects: list[Region], path: Path) -> list[str]:
    """``"<item>: object <i> ..."`` per object whose box leaves the image or whose mask has another size."""
    from PIL import Image

    try:
        with Image.open(path) as im:  # reads the header only
            width, height = im.size
    except OSError:
        return []
    out: list[str] = []
    for i, region in enumerate(objects):
        try:
            fixed = check_region(region, width, height)
        except DataFormatError:
            h, w = region.mask.size if region.mask is not None else (0, 0)
            out.append(f"{item_id}: object {i} mask is {h}x{w}, image {height}x{width}")
            continue
        if fixed != region:
            out.append(f"{item_id}: object {i} box {list(region.box)} leaves the {width}x{height} image")
    return out


def check_split(split: Split, dataset: Dataset, *, check_files: bool = True) -> list[Problem]:
    """Problems of one split (see :func:`check_dataset`)."""
    index = split.item_index()
    judged = {i for q in split.queries for i in q.qrels}
    found: list[Problem | None] = [
        _problem(split, "split has no items", [split.name] if not split.items else []),
        _problem(split, "duplicate item ids", _duplicates(split.item_ids())),
        _problem(split, "duplicate query ids", _duplicates([q.id for q in split.queries])),
        _problem(split, "queries with the same text", _duplicates([q.text for q in split.queries])),
        _problem(split, "queries with empty text", (q.id for q in split.queries if not q.text.strip())),
        _problem(split, "queries without positives", (q.id for q in split.queries if not q.relevant(1))),
        _problem(
            split,
            "qrels pointing to unknown items",
            (f"{q.id} -> {i}" for q in split.queries for i in q.qrels if i not in index),
        ),
        _problem(
            split,
            "items with neither path nor url",
            (it.id for it in split.items if not it.path and not it.url),
        ),
        _problem(
            split, "items without captions or OCR", (it.id for it in split.items if not it.context_texts)
        ),
        _problem(
            split,
            "empty strings among captions",
            (it.id for it in split.items if any(not c.strip() for c in it.captions)),
        ),
        _problem(
            split,
            "items no query judges",
            (it.id for it in split.items if split.queries and it.id not in judged),
            severity="note",
        ),
    ]
    if check_files:
        missing: list[str] = []
        not_media: list[str] = []
        mismatched: list[str] = []
        bad_objects: list[str] = []
        for it in split.items:
            path = it.resolve_path(dataset.root)
            if path is None:
                continue
            if not path.is_file():
                missing.append(str(path))
                continue
            try:
                kind = detect_media(path)
            except OSError:
                kind = None
            if kind is None:
                not_media.append(str(path))
            elif kind != it.media:
                mismatched.append(f"{it.id} ({it.media}, file is {kind})")
            if it.objects and kind == "image":
                bad_objects += _object_problems(it.id, it.objects, path)
        found += [
            _problem(split, "items whose files are missing", missing),
            _problem(split, "items whose files are not images or videos", not_media),
            _problem(split, "items whose media type differs from the file", mismatched),
            _problem(split, "objects outside their image or with a mask of another size", bad_objects),
        ]
    return [p for p in found if p is not None]


def check_dataset(dataset: Dataset, *, check_files: bool = True) -> list[Problem]:
    """Everything suspicious in ``dataset``, split by split.

    Warnings: a split without items; duplicate item or query ids; queries with the same or an empty
    text; queries without positives (grade > 0); qrels naming items that are not in the split; items
    with neither path nor url; items without any caption or OCR text; empty caption strings; and with
    ``check_files``: missing files, files that are not media, media types that differ from the file,
    image objects whose box leaves the image or whose mask has another size than the image.
    Notes: items that no query judges (normal for a gallery with distractors).
    """
    return [p for split in dataset for p in check_split(split, dataset, check_files=check_files)]
