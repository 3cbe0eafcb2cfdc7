"""Readers and writers for every dataset format of SPEC §4, behind one pair of functions.

=============  =====  =====  =====================================================================
name           read   write  what
=============  =====  =====  =====================================================================
native         yes    yes    memesearch manifest: folder with dataset.json + <split>/{items,queries}.jsonl,
                             or one .jsonl file (:mod:`.native`)
msrvtt         yes    yes    CLIP4Meme / IEF MSRVTT-style folder: train_ids.csv, train_data.json,
                             test_data.json, *_emotion.json, images/ (:mod:`.msrvtt`)
cbvs           yes    yes    CBVS test file: query, docid, url, label (:mod:`.cbvs`)
cbvs-train     yes    yes    CBVS training file: title, url, ocr with \\N (:mod:`.cbvs`)
folder         yes    no     any folder of images, GIFs and videos, recognised by content (:mod:`.folder`)
=============  =====  =====  =====================================================================

Example::

    >>> from memesearch.data.formats import read_dataset, write_dataset, BadRowReport
    >>> report = BadRowReport()
    >>> ds = read_dataset("cbvs20k.txt", skip_bad=True, report=report)     # doctest: +SKIP
    >>> print(report.summary())                                           # doctest: +SKIP
    >>> write_dataset(ds, "cbvs20k-native", "native")                     # doctest: +SKIP

A bad row is never dropped silently: it raises :class:`~memesearch.errors.DataFormatError` (file,
line or record, what was expected) unless ``skip_bad=True``, which skips it into the report.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from memesearch.data.formats import cbvs, folder, msrvtt, native
from memesearch.data.formats._io import check_replace, get_split
from memesearch.data.formats.media import detect_media, iter_files, scan_media
from memesearch.data.formats.report import BadRow, BadRowReport, RowErrors
from memesearch.data.records import Dataset, Split
from memesearch.errors import ConfigError, DataFormatError, UnknownNameError

__all__ = [
    "FORMATS",
    "BadRow",
    "BadRowReport",
    "FormatSpec",
    "detect_format",
    "detect_media",
    "get_format",
    "read_dataset",
    "scan_media",
    "select_splits",
    "write_dataset",
]

logger = logging.getLogger(__name__)

Reader = Callable[..., Dataset]  # (path: Path, errors: RowErrors, **options) -> Dataset
Writer = Callable[..., Path]  # (dataset: Dataset, path: Path, *, overwrite: bool, **options) -> Path


@dataclass(frozen=True)
class FormatSpec:
    """A dataset format: its name, what it is, and how it is read and written.

    ``target`` is what a written dataset is: a ``"folder"`` or a ``"file"`` (native writes a single
    file when the path ends in ``.jsonl``).
    """

    name: str
    description: str
    reader: Reader | None
    writer: Writer | None
    target: Literal["file", "folder"]

    @property
    def can_read(self) -> bool:
        return self.reader is not None

    @property
    def can_write(self) -> bool:
        return self.writer is not None

    def writes_file(self, path: Path) -> bool:
        return self.target == "file" or (self.name == "native" and path.suffix == ".jsonl")


FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec(
            "native",
            "memesearch manifest: folder with dataset.json and <split>/items.jsonl, queries.jsonl "
            "(or one .jsonl file)",
            native.read,
            native.write,
            "folder",
        ),
        FormatSpec(
            "msrvtt",
            "CLIP4Meme/IEF MSRVTT-style folder: train_ids.csv, train_data.json, test_data.json, "
            "*_emotion.json, images/",
            msrvtt.read,
            msrvtt.write,
            "folder",
        ),
        FormatSpec(
            "cbvs",
            "CBVS test file: query<TAB>docid<TAB>url<TAB>label",
            cbvs.read_test,
            cbvs.write_test,
            "file",
        ),
        FormatSpec(
            "cbvs-train",
            "CBVS training file: title<TAB>url<TAB>ocr (\\N = none)",
            cbvs.read_train,
            cbvs.write_train,
            "file",
        ),
        FormatSpec(
            "folder",
            "a folder of images, GIFs and videos, recognised by content (read only)",
            folder.read,
            None,
            "folder",
        ),
    )
}


def get_format(name: str) -> FormatSpec:
    """The :class:`FormatSpec` called ``name``; an unknown name lists the valid ones."""
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown dataset format {name!r}; valid formats: {', '.join(FORMATS)}"
        ) from None


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of a dataset file or folder, from its layout and content.

    >>> detect_format("cbvs20k.txt")      # doctest: +SKIP
    'cbvs'
    """
    p = Path(path)
    hint = f"pass the format explicitly (one of: {', '.join(FORMATS)})"
    if not p.exists():
        raise DataFormatError("no such file or folder", path=p, hint="check the path")
    if p.is_dir():
        if (p / native.MANIFEST).is_file():
            return "native"
        if msrvtt.is_msrvtt_folder(p):
            return "msrvtt"
        if next(iter_files(p), None) is not None:
            return "folder"
        raise DataFormatError("cannot tell the format: the folder holds no files", path=p, hint=hint)
    if p.name == native.MANIFEST or p.suffix == ".jsonl":
        return "native"
    if p.name in (msrvtt.TRAIN_IDS, msrvtt.TRAIN_DATA, msrvtt.TEST_DATA):
        return "msrvtt"
    kind = cbvs.sniff(p)
    if kind == "cbvs-run":
        raise DataFormatError(
            "this is a CBVS run file (label, query, docid, score), not a dataset",
            path=p,
            hint="score it with `memesearch evaluate --format cbvs --run FILE`",
        )
    if kind is not None:
        return kind
    raise DataFormatError("cannot tell the format of this file", path=p, hint=hint)


def _check_options(
    spec: FormatSpec, func: Callable[..., Any], options: Mapping[str, Any], action: str
) -> None:
    accepted = [
        name
        for name, param in inspect.signature(func).parameters.items()
        if param.kind is param.KEYWORD_ONLY and name != "overwrite"
    ]
    unknown = [name for name in options if name not in accepted]
    if unknown:
        raise ConfigError(
            f"format {spec.name!r} has no {action} option {', '.join(map(repr, unknown))}; "
            f"its {action} options: {', '.join(accepted) or '(none)'}"
        )


def read_dataset(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    skip_bad: bool = False,
    report: BadRowReport | None = None,
    **options: Any,
) -> Dataset:
    """Read a dataset in any readable format (detected when ``fmt`` is ``None``).

    ``skip_bad``: skip bad rows into ``report`` (created and logged when not given) instead of raising.
    ``options``: format-specific keywords (``msrvtt``: ``images``; ``folder``: ``recursive``).

    >>> ds = read_dataset("memes/")                          # doctest: +SKIP
    >>> ds.counts()                                          # doctest: +SKIP
    {'all': {'items': 120, 'queries': 0, 'positives': 0}}
    """
    p = Path(path)
    if not p.exists():
        raise DataFormatError("no such file or folder", path=p, hint="check the path")
    spec = get_format(fmt if fmt is not None else detect_format(p))
    if spec.reader is None:
        raise ConfigError(f"format {spec.name!r} cannot be read")
    _check_options(spec, spec.reader, options, "read")
    errors = RowErrors(skip_bad, report)
    dataset = spec.reader(p, errors, **options)
    if errors.skipped:
        logger.warning("%s: %d bad rows skipped", p, errors.skipped)
    return dataset


def write_dataset(
    dataset: Dataset,
    path: str | os.PathLike[str],
    fmt: str = "native",
    *,
    overwrite: bool = False,
    **options: Any,
) -> Path:
    """Write ``dataset`` in a writable format and return the path written.

    Files that already exist are replaced only with ``overwrite=True``; other files in a target folder
    are left alone (so a manifest can be written next to the media it lists).
    ``options``: format-specific keywords (``msrvtt``: ``splits``, ``id_column``; ``cbvs`` and
    ``cbvs-train``: ``split``). Conversions that lose information log a warning that says what.
    """
    spec = get_format(fmt)
    if spec.writer is None:
        writable = ", ".join(name for name, s in FORMATS.items() if s.can_write)
        raise ConfigError(f"format {spec.name!r} is read only; formats that can be written: {writable}")
    _check_options(spec, spec.writer, options, "write")
    p = Path(path)
    wants_file = spec.writes_file(p)
    if p.exists() and p.is_dir() == wants_file:
        kind = "a folder" if p.is_dir() else "a file"
        raise ConfigError(
            f"{p} is {kind}, but format {spec.name!r} writes {'a file' if wants_file else 'a folder'}"
        )
    if wants_file:
        check_replace([p], overwrite)
    return spec.writer(dataset, p, overwrite=overwrite, **options)


def select_splits(dataset: Dataset, selection: Mapping[str, str]) -> Dataset:
    """A dataset with only the splits named in ``selection`` (old name -> new name), in that order.

    >>> select_splits(ds, {"val": "test"})    # doctest: +SKIP
    """
    splits: dict[str, Split] = {}
    for old, new in selection.items():
        split = get_split(dataset, old)
        if new in splits:
            raise ConfigError(f"two splits would both be named {new!r}")
        splits[new] = Split(new, items=split.items, queries=split.queries)
    return Dataset(name=dataset.name, splits=splits, root=dataset.root, meta=dict(dataset.meta))
