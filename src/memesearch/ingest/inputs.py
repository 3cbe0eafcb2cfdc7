"""What ``memesearch index PATH...`` accepts, expanded into one record per file.

* a media file (image, animated image, video — recognised by content, not by extension);
* a folder: every file below it, recursively (hidden files and folders and the index's own directory
  are skipped); files that are not media are reported as failures with reason ``not-media``;
* a CSV list (``.csv``, a header with a ``path`` column; optional ``captions`` and ``emotions`` columns
  with ``|``-separated values and a ``source`` column) — relative paths are relative to the list file;
* a JSONL list (``.jsonl``, one object per line with ``path`` and optional ``captions``, ``emotions``,
  ``source``, ``meta``, ``objects``) — this is also the native manifest format (SPEC §4.1);
* a dataset folder (one with ``dataset.json``): every item of every split, with its captions and emotions.
  Captions a benchmark marks as its own ground truth (``meta.caption_kind == "oracle"``) are dropped unless
  ``oracle_captions=True``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memesearch.errors import DataFormatError, printable
from memesearch.ingest.records import IngestFailure
from memesearch.objects.regions import Region
from memesearch.utils.io import loads_json

LIST_SUFFIXES = (".csv", ".jsonl")


@dataclass
class InputRecord:
    """One file to index plus what the input said about it."""

    path: Path
    captions: list[str] = field(default_factory=list)
    emotions: list[str] | None = None
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    objects: list[Region] = field(default_factory=list)


@dataclass
class ExpandedInputs:
    records: list[InputRecord] = field(default_factory=list)
    failures: list[IngestFailure] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)


def expand_inputs(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    exclude: Path | None = None,
    oracle_captions: bool = False,
    source: str | None = None,
    splits: Sequence[str] | None = None,
) -> ExpandedInputs:
    """Expand ``inputs`` (files, folders, lists, dataset folders) into records, in a stable order.

    ``splits`` restricts dataset folders to those splits. A path that does not exist is a failure
    (``missing``), not an exception; an empty folder gives a message. Malformed list files raise
    :class:`DataFormatError` with file and line.
    """
    out = ExpandedInputs()
    seen: set[Path] = set()
    excl = exclude.resolve() if exclude is not None else None

    def push(rec: InputRecord) -> None:
        key = rec.path
        if key in seen:
            return
        seen.add(key)
        if source is not None and rec.source is None:
            rec.source = source
        out.records.append(rec)

    for raw in inputs:
        path = Path(os.fspath(raw)).expanduser()
        if not path.exists():
            out.failures.append(
                IngestFailure(str(path), "missing", f"{path}: no such file or folder; check the path")
            )
            continue
        path = _absolute(path)
        if path.is_dir():
            if (path / "dataset.json").is_file():
                no_file: list[str] = []
                for rec in _dataset_records(path, oracle_captions, splits, no_file):
                    push(rec)
                if no_file:
                    shown = ", ".join(printable(i) for i in no_file[:5]) + (
                        ", ..." if len(no_file) > 5 else ""
                    )
                    out.messages.append(
                        f"{path}: {len(no_file)} item(s) have no local file (only a URL, or no path) and "
                        f"are not indexed: {shown}"
                    )
                continue
            out.folders.append(path)
            n = 0
            for file in _walk(path, excl):
                push(InputRecord(file))
                n += 1
            if n == 0:
                out.messages.append(f"{path}: the folder holds no files to index")
        elif path.suffix.lower() == ".csv":
            for rec in _csv_records(path):
                push(rec)
        elif path.suffix.lower() == ".jsonl":
            for rec in _jsonl_records(path):
                push(rec)
        else:
            push(InputRecord(path))
    return out


def _absolute(path: Path) -> Path:
    # absolute and normalised ('a/../b' -> 'b') but symlinks kept: the user's path is what we record
    return Path(os.path.normpath(os.path.abspath(path)))


def _walk(folder: Path, exclude: Path | None) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        root_path = Path(root)
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and (exclude is None or (root_path / d).resolve() != exclude)
        )
        for name in sorted(files):
            if name.startswith("."):
                continue
            yield root_path / name


def _split_values(value: str | None) -> list[str]:
    if value is None:
        return []
    return [v.strip() for v in value.split("|") if v.strip()]


def _require_regular(path: Path) -> None:
    # opening a named pipe or a device blocks or never ends: a list must be a plain file
    if not path.is_file():
        raise DataFormatError(
            "a list file must be a regular file (this is a pipe, a device or a socket)",
            path=path,
            hint="copy the list into a regular .csv or .jsonl file",
        )


def _csv_records(path: Path) -> Iterator[InputRecord]:
    _require_regular(path)
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DataFormatError(f"cannot read the list file: {exc}", path=path) from None
    with fh:
        reader = csv.DictReader(fh)
        try:
            yield from _csv_rows(path, reader)
        except UnicodeDecodeError as exc:
            raise DataFormatError(
                f"not valid UTF-8 (byte 0x{exc.object[exc.start : exc.start + 1].hex()})",
                path=path,
                line=_first_non_utf8_line(path),  # the decoder reads ahead: its position is not the row's
                hint="save the list as UTF-8",
            ) from None
        except csv.Error as exc:
            raise DataFormatError(
                f"not a valid CSV list ({exc})", path=path, line=reader.line_num, hint="check quotes"
            ) from None


def _first_non_utf8_line(path: Path) -> int | None:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def _csv_rows(path: Path, reader: csv.DictReader[str]) -> Iterator[InputRecord]:
    base = path.parent
    if reader.fieldnames is None or "path" not in reader.fieldnames:
        raise DataFormatError(
            f"a CSV list needs a header row with a 'path' column, got columns {reader.fieldnames}",
            path=path,
            line=1,
            hint="first line like: path,captions,emotions,source",
        )
    for line_no, row in enumerate(reader, start=2):
        value = (row.get("path") or "").strip()
        if not value:
            raise DataFormatError(
                "empty 'path' value", path=path, line=line_no, hint="every row needs a path"
            )
        emotions = _split_values(row.get("emotions"))
        yield InputRecord(
            path=_absolute(base / value),
            captions=_split_values(row.get("captions")),
            emotions=emotions or None,
            source=(row.get("source") or "").strip() or None,
        )


def _jsonl_records(path: Path) -> Iterator[InputRecord]:
    base = path.parent
    _require_regular(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"cannot read the list file: {exc}", path=path) from None
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = loads_json(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(
                f"not valid JSON ({exc.msg})", path=path, line=line_no, record=line[:200]
            ) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("path"), str) or not obj["path"].strip():
            raise DataFormatError(
                "each line must be an object with a non-empty string 'path'",
                path=path,
                line=line_no,
                record=line[:200],
                hint='{"path": "memes/cat.png", "captions": ["..."], "emotions": ["happy"]}',
            )
        captions = obj.get("captions") or []
        emotions = obj.get("emotions")
        if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
            raise DataFormatError("'captions' must be a list of strings", path=path, line=line_no)
        if emotions is not None and (
            not isinstance(emotions, list) or not all(isinstance(e, str) for e in emotions)
        ):
            raise DataFormatError("'emotions' must be a list of strings", path=path, line=line_no)
        raw_meta = obj.get("meta")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        objects = obj.get("objects") or []
        if not isinstance(objects, list):
            raise DataFormatError(
                "'objects' must be a list of {box, label?, mask_rle?}", path=path, line=line_no
            )
        try:
            regions = [Region.from_dict(o) for o in objects]
        except DataFormatError as exc:
            raise DataFormatError(f"'objects': {exc}", path=path, line=line_no) from None
        yield InputRecord(
            path=_absolute(base / obj["path"]),
            captions=[c for c in captions if c.strip()],
            emotions=list(emotions) if emotions else None,
            source=obj.get("source") if isinstance(obj.get("source"), str) else None,
            meta=dict(meta),
            objects=regions,
        )


def _dataset_records(
    folder: Path, oracle_captions: bool, splits: Sequence[str] | None, no_file: list[str]
) -> Iterator[InputRecord]:
    from memesearch.data.formats import read_dataset

    ds = read_dataset(folder)
    seen: set[str] = set()
    chosen = [ds[name] for name in splits] if splits else list(ds.splits.values())
    for split in chosen:
        for item in split.items:
            src = item.resolve_path(ds.root)
            if item.id in seen:
                continue
            if src is None:
                no_file.append(item.id)
                seen.add(item.id)
                continue
            seen.add(item.id)
            oracle = item.meta.get("caption_kind") == "oracle"
            captions = list(item.captions) if (oracle_captions or not oracle) else []
            meta = {k: v for k, v in item.meta.items() if isinstance(v, str | int | float | bool)}
            for key in ("generated_captions", "captioner"):  # a captioned copy: generated stays apart
                if key in item.meta:
                    meta[key] = item.meta[key]
            meta["dataset_item_id"] = item.id
            yield InputRecord(
                path=_absolute(src),
                captions=captions,
                emotions=list(item.emotions) or None,
                source=item.source or ds.name,
                meta=meta,
                objects=list(item.objects),
            )
