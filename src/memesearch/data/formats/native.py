"""The native memesearch manifest (SPEC §4.1): a folder with ``dataset.json`` and JSONL files per split.

Layout::

    my-dataset/
      dataset.json            {"format": "memesearch", "version": 1, "name": "...",
                               "splits": ["train", "test"], "meta": {...}}
      train/items.jsonl       one item per line
      train/queries.jsonl     one query per line (optional: a split may be a gallery only)
      test/items.jsonl
      test/queries.jsonl

Item line: ``{"id", "path" | "url", "media", "captions", "ocr", "emotions", "source", "meta",
"objects"}`` — only ``id`` is required (an item without ``path`` or ``url`` is text only: ``validate``
flags it); ``media`` defaults to ``"image"``, lists to ``[]``, ``ocr``, ``path``, ``url`` and ``source``
to ``null``, ``meta`` to ``{}``. ``objects`` are the known objects of the image: a list of
``{"box": [x0, y0, x1, y1], "label"?, "score"?, "mask_rle"?}`` in pixels of the item's image, the mask
as COCO uncompressed RLE (:mod:`memesearch.objects.regions`). Paths are relative to the dataset folder
(or absolute).
Query line: ``{"id", "text", "qrels": {item_id: grade}, "meta"}`` with integer grades >= 0 (0 = judged
not relevant). Any other top-level field is an error: put extra information under ``"meta"``. Ids are
unique per split. Blank lines are ignored.

A single ``.jsonl`` file holding items and/or queries is also a dataset, with one split ``"all"``; each
line is an item if it has ``path``/``url``, a query if it has ``text``/``qrels``, or says so with
``"type": "item" | "query"``. Its item paths are relative to the file's folder.

Writing leaves out fields that hold their default, so reading back gives equal records; a record the
reader would reject (an empty query text, a negative grade, meta that is not JSON) is refused when
writing, with its id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from memesearch.data.formats._io import (
    atomic_open,
    check_replace,
    load_json,
    parse_json,
    read_lines,
    relocate_path,
    require_file,
    write_json,
)
from memesearch.data.formats.report import BadRowReport, RowErrors
from memesearch.data.records import MEDIA_TYPES, Dataset, Item, Query, Split
from memesearch.errors import DataFormatError
from memesearch.objects.regions import Region

logger = logging.getLogger(__name__)

MANIFEST = "dataset.json"
FORMAT_NAME = "memesearch"
VERSION = 1
SINGLE_FILE_SPLIT = "all"

ITEM_FIELDS = ("id", "path", "url", "media", "captions", "ocr", "emotions", "source", "meta", "objects")
QUERY_FIELDS = ("id", "text", "qrels", "meta")
MANIFEST_FIELDS = ("format", "version", "name", "splits", "meta")

RecordKind = Literal["item", "query"]


class _BadRecord(Exception):
    """A record failed validation; the caller adds the file and line."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}.get(
        type(value), "an object" if isinstance(value, dict) else type(value).__name__
    )


def _string(obj: dict[str, Any], key: str, *, required: bool, nonempty: bool = False) -> str | None:
    """``obj[key]`` as a string; ``None`` when absent or null and not ``required``."""
    value = obj.get(key)
    if value is None:
        if required:
            raise _BadRecord(f'"{key}" is required and must be a non-empty string, got {_type_name(value)}')
        return None
    if not isinstance(value, str):
        hint = f'write it as a JSON string: "{value}"' if isinstance(value, int | float) else None
        raise _BadRecord(f'"{key}" must be a string, got {_type_name(value)} ({value!r})', hint)
    if (required or nonempty) and not value:
        raise _BadRecord(f'"{key}" must be a non-empty string, got ""', f'leave "{key}" out or give a value')
    return value


def _string_list(obj: dict[str, Any], key: str) -> list[str]:
    value = obj.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise _BadRecord(
            f'"{key}" must be a list of strings, got {_type_name(value)}',
            f'e.g. "{key}": ["first", "second"]',
        )
    for i, entry in enumerate(value):
        if not isinstance(entry, str):
            raise _BadRecord(f'"{key}"[{i}] must be a string, got {_type_name(entry)} ({entry!r})')
    return list(value)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    value = obj.get("meta", {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _BadRecord(f'"meta" must be an object, got {_type_name(value)}')
    return value


def _objects(obj: dict[str, Any]) -> list[Region]:
    value = obj.get("objects", [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise _BadRecord(
            f'"objects" must be a list of objects, got {_type_name(value)}',
            '"objects": [{"box": [x0, y0, x1, y1], "label": "cat"}]',
        )
    out: list[Region] = []
    for i, entry in enumerate(value):
        try:
            out.append(Region.from_dict(entry))
        except DataFormatError as exc:
            raise _BadRecord(f'"objects"[{i}]: {exc}') from None
    return out


def _check_fields(obj: dict[str, Any], allowed: Iterable[str]) -> None:
    unknown = [k for k in obj if k not in allowed and k != "type"]
    if unknown:
        names = ", ".join(f'"{k}"' for k in unknown)
        raise _BadRecord(
            f"unknown field(s) {names}; allowed: {', '.join(allowed)}",
            'put extra information under "meta", e.g. "meta": {"' + unknown[0] + '": ...}',
        )


def item_from_record(obj: Any) -> Item:
    """Validate one decoded item line and build the :class:`Item` (raises ``_BadRecord``)."""
    if not isinstance(obj, dict):
        raise _BadRecord(f"expected a JSON object, got {_type_name(obj)}")
    _check_fields(obj, ITEM_FIELDS)
    item_id = _string(obj, "id", required=True)
    path = _string(obj, "path", required=False, nonempty=True)
    url = _string(obj, "url", required=False, nonempty=True)
    media = obj.get("media", "image")
    if media not in MEDIA_TYPES:
        raise _BadRecord(f'"media" must be one of {", ".join(MEDIA_TYPES)}, got {media!r}')
    assert item_id is not None
    return Item(
        id=item_id,
        path=path,
        url=url,
        media=media,
        captions=_string_list(obj, "captions"),
        ocr=_string(obj, "ocr", required=False),
        emotions=_string_list(obj, "emotions"),
        source=_string(obj, "source", required=False),
        meta=_meta(obj),
        objects=_objects(obj),
    )


def query_from_record(obj: Any) -> Query:
    """Validate one decoded query line and build the :class:`Query` (raises ``_BadRecord``)."""
    if not isinstance(obj, dict):
        raise _BadRecord(f"expected a JSON object, got {_type_name(obj)}")
    _check_fields(obj, QUERY_FIELDS)
    query_id = _string(obj, "id", required=True)
    text = _string(obj, "text", required=True)
    qrels = obj.get("qrels", {})
    if qrels is None:
        qrels = {}
    if not isinstance(qrels, dict):
        raise _BadRecord(f'"qrels" must be an object {{item_id: grade}}, got {_type_name(qrels)}')
    for item_id, grade in qrels.items():
        if not item_id:
            raise _BadRecord('"qrels" has an empty item id')
        if isinstance(grade, bool) or not isinstance(grade, int) or grade < 0:
            raise _BadRecord(
                f'grade of item "{item_id}" must be an integer >= 0, got {grade!r}',
                "grades are integers; 0 means judged not relevant",
            )
    assert query_id is not None and text is not None
    return Query(id=query_id, text=text, qrels=dict(qrels), meta=_meta(obj))


def item_to_record(item: Item) -> dict[str, Any]:
    """The JSON object of an item line; fields holding their default are left out."""
    rec: dict[str, Any] = {"id": item.id}
    if item.path is not None:
        rec["path"] = item.path
    if item.url is not None:
        rec["url"] = item.url
    rec["media"] = item.media
    if item.captions:
        rec["captions"] = list(item.captions)
    if item.ocr is not None:
        rec["ocr"] = item.ocr
    if item.emotions:
        rec["emotions"] = list(item.emotions)
    if item.source is not None:
        rec["source"] = item.source
    if item.meta:
        rec["meta"] = item.meta
    if item.objects:
        rec["objects"] = [region.to_dict() for region in item.objects]
    return rec


def query_to_record(query: Query) -> dict[str, Any]:
    """The JSON object of a query line (``meta`` left out when empty)."""
    rec: dict[str, Any] = {"id": query.id, "text": query.text, "qrels": dict(query.qrels)}
    if query.meta:
        rec["meta"] = query.meta
    return rec


def _classify(obj: Any) -> RecordKind:
    """Item or query, for a line of a mixed single-file dataset."""
    if isinstance(obj, dict):
        kind = obj.get("type")
        if kind in ("item", "query"):
            return "item" if kind == "item" else "query"
        if kind is not None:
            raise _BadRecord(f'"type" must be "item" or "query", got {kind!r}')
        if "path" in obj or "url" in obj:
            return "item"
        if "text" in obj or "qrels" in obj:
            return "query"
        raise _BadRecord(
            "cannot tell whether this line is an item or a query",
            'items have "path" or "url"; queries have "text" and "qrels"; or add "type": "item" | "query"',
        )
    raise _BadRecord(f"expected a JSON object, got {_type_name(obj)}")


def _read_records(
    path: Path, errors: RowErrors, expect: RecordKind | None, *, allow_empty: bool
) -> tuple[list[Item], list[Query]]:
    """Read a JSONL file of items, queries or both (``expect=None``), checking ids are unique."""
    items: list[Item] = []
    queries: list[Query] = []
    first_line: dict[tuple[RecordKind, str], int] = {}
    for lineno, text in read_lines(path, errors, allow_empty=allow_empty):
        try:
            obj, repeats = parse_json(text, path, line=lineno)
        except DataFormatError as exc:
            errors.bad(exc)
            continue
        try:
            if repeats:
                raise _BadRecord(f'field "{repeats[0]}" appears twice in this line')
            kind = _classify(obj) if expect is None else expect
            if expect is not None and isinstance(obj, dict) and obj.get("type", expect) != expect:
                raise _BadRecord(f'this file holds {expect}s, but the line says "type": {obj.get("type")!r}')
            record: Item | Query = item_from_record(obj) if kind == "item" else query_from_record(obj)
            key = (kind, record.id)
            if key in first_line:
                raise _BadRecord(
                    f"duplicate {kind} id {record.id!r} (first on line {first_line[key]})",
                    f"{kind} ids must be unique within a split",
                )
        except _BadRecord as exc:
            errors.bad(DataFormatError(exc.message, path=path, line=lineno, hint=exc.hint))
            continue
        first_line[key] = lineno
        if isinstance(record, Item):
            items.append(record)
        else:
            queries.append(record)
    return items, queries


def read_items(path: str | Path, *, skip_bad: bool = False, report: BadRowReport | None = None) -> list[Item]:
    """Read a JSONL file of items (one per line; an empty file is an empty list).

    >>> items = read_items("my-dataset/test/items.jsonl")   # doctest: +SKIP
    """
    p = Path(path)
    require_file(p, "items file")
    items, _ = _read_records(p, RowErrors(skip_bad, report), "item", allow_empty=True)
    return items


def read_queries(
    path: str | Path, *, skip_bad: bool = False, report: BadRowReport | None = None
) -> list[Query]:
    """Read a JSONL file of queries with their qrels (one per line; an empty file is an empty list)."""
    p = Path(path)
    require_file(p, "queries file")
    _, queries = _read_records(p, RowErrors(skip_bad, report), "query", allow_empty=True)
    return queries


def _checked(record: dict[str, Any], kind: RecordKind, path: Path) -> dict[str, Any]:
    """``record`` after the reader's own validation: a file is never written that would not read back."""
    try:
        if kind == "item":
            item_from_record(record)
        else:
            query_from_record(record)
    except _BadRecord as exc:
        raise DataFormatError(
            f"cannot write {kind} {record.get('id')!r}: {exc.message}", path=path, hint=exc.hint
        ) from None
    return record


def _write_jsonl(records: Iterable[tuple[RecordKind, dict[str, Any]]], path: Path) -> None:
    import json

    with atomic_open(path) as fh:
        for kind, rec in records:
            try:
                line = json.dumps(_checked(rec, kind, path), ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                raise DataFormatError(
                    f"cannot write {kind} {rec.get('id')!r}: {exc}",
                    path=path,
                    hint="meta values must be JSON data",
                ) from None
            fh.write(line + "\n")


def write_items(items: Iterable[Item], path: str | Path) -> None:
    """Write items as JSONL (paths written as they are), atomically."""
    _write_jsonl((("item", item_to_record(it)) for it in items), Path(path))


def write_queries(queries: Iterable[Query], path: str | Path) -> None:
    """Write queries with their qrels as JSONL, atomically."""
    _write_jsonl((("query", query_to_record(q)) for q in queries), Path(path))


def _check_split_name(name: Any, manifest: Path) -> str:
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name:
        raise DataFormatError(
            f"split name {name!r} is not a valid folder name",
            path=manifest,
            record="splits",
            hint="use short names such as train, val, test",
        )
    return name


def _read_manifest(path: Path, errors: RowErrors) -> dict[str, Any]:
    manifest = load_json(path, "dataset manifest", errors)
    if not isinstance(manifest, dict):
        raise DataFormatError(f"expected a JSON object, got {_type_name(manifest)}", path=path)
    unknown = [k for k in manifest if k not in MANIFEST_FIELDS]
    if unknown:
        raise DataFormatError(
            f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(MANIFEST_FIELDS)}",
            path=path,
            hint='put extra information under "meta"',
        )
    if manifest.get("format") != FORMAT_NAME:
        raise DataFormatError(
            f'"format" must be "{FORMAT_NAME}", got {manifest.get("format")!r}',
            path=path,
            hint="not a memesearch manifest; pass the right format (`memesearch datasets formats`)",
        )
    version = manifest.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DataFormatError(f'"version" must be a positive integer, got {version!r}', path=path)
    if version > VERSION:
        raise DataFormatError(
            f"manifest version {version} is newer than this memesearch reads (up to {VERSION})",
            path=path,
            hint="upgrade memesearch",
        )
    if not isinstance(manifest.get("name"), str) or not manifest["name"]:
        raise DataFormatError(f'"name" must be a non-empty string, got {manifest.get("name")!r}', path=path)
    splits = manifest.get("splits")
    if not isinstance(splits, list):
        raise DataFormatError(f'"splits" must be a list of split names, got {_type_name(splits)}', path=path)
    names = [_check_split_name(s, path) for s in splits]
    if len(set(names)) != len(names):
        raise DataFormatError(f'"splits" lists a split twice: {names}', path=path)
    meta = manifest.get("meta", {})
    if not isinstance(meta, dict):
        raise DataFormatError(f'"meta" must be an object, got {_type_name(meta)}', path=path)
    return manifest


def read(path: Path, errors: RowErrors) -> Dataset:
    """Read a native dataset: a folder with ``dataset.json`` (or that file), or a single ``.jsonl`` file."""
    if path.is_file() and path.suffix == ".jsonl":
        all_items, all_queries = _read_records(path, errors, None, allow_empty=False)
        split = Split(SINGLE_FILE_SPLIT, items=all_items, queries=all_queries)
        return Dataset(name=path.stem, splits={split.name: split}, root=path.parent.resolve())
    folder = path.parent if path.is_file() and path.name == MANIFEST else path
    manifest_path = folder / MANIFEST
    require_file(
        manifest_path,
        "dataset manifest",
        hint="a native dataset is a folder with dataset.json, or a single .jsonl file",
    )
    manifest = _read_manifest(manifest_path, errors)
    splits: dict[str, Split] = {}
    for name in manifest["splits"]:
        items_path = folder / name / "items.jsonl"
        require_file(items_path, f"items of split {name!r}", hint=f"dataset.json lists split {name!r}")
        items, _ = _read_records(items_path, errors, "item", allow_empty=True)
        queries_path = folder / name / "queries.jsonl"
        queries: list[Query] = []
        if queries_path.exists():
            require_file(queries_path, f"queries of split {name!r}")
            _, queries = _read_records(queries_path, errors, "query", allow_empty=True)
        splits[name] = Split(name, items=items, queries=queries)
    return Dataset(
        name=manifest["name"], splits=splits, root=folder.resolve(), meta=dict(manifest.get("meta", {}))
    )


def _relocated(items: list[Item], src_root: Path | None, dst_root: Path) -> list[Item]:
    return [
        it if it.path is None else replace(it, path=relocate_path(it.path, src_root, dst_root))
        for it in items
    ]


def _check_unique(split: Split) -> None:
    for kind, ids in (("item", split.item_ids()), ("query", [q.id for q in split.queries])):
        seen: set[str] = set()
        for record_id in ids:
            if record_id in seen:
                raise DataFormatError(
                    f"split {split.name!r} has two {kind}s with id {record_id!r}",
                    record=record_id,
                    hint=f"{kind} ids must be unique within a split",
                )
            seen.add(record_id)


def write(dataset: Dataset, path: Path, *, overwrite: bool = False) -> Path:
    """Write ``dataset`` as a native folder (or, when ``path`` ends in ``.jsonl``, a single file).

    Item paths are rewritten to resolve from the new location (relative when possible); media files are
    not copied. A single ``.jsonl`` file holds one split only, with a ``"type"`` on every line. Existing
    files (``dataset.json``, split files) are replaced only with ``overwrite``.
    """
    for split in dataset:
        _check_unique(split)
    if path.suffix == ".jsonl":
        if len(dataset.splits) != 1:
            raise DataFormatError(
                f"a single .jsonl file holds one split, but dataset {dataset.name!r} has "
                f"{len(dataset.splits)}: {', '.join(dataset.split_names)}",
                path=path,
                hint="write to a folder instead (a path without .jsonl)",
            )
        check_replace([path], overwrite)
        split = next(iter(dataset))
        items = _relocated(split.items, dataset.root, path.parent.resolve())
        records: list[tuple[RecordKind, dict[str, Any]]] = [
            ("item", {**item_to_record(it), "type": "item"}) for it in items
        ]
        records += [("query", {**query_to_record(q), "type": "query"}) for q in split.queries]
        _write_jsonl(records, path)
        return path
    for split in dataset:
        _check_split_name(split.name, path / MANIFEST)
    outputs = [path / MANIFEST] + [
        path / s.name / f for s in dataset for f in ("items.jsonl", "queries.jsonl")
    ]
    check_replace(outputs, overwrite)
    path.mkdir(parents=True, exist_ok=True)
    for split in dataset:
        write_items(_relocated(split.items, dataset.root, path), path / split.name / "items.jsonl")
        write_queries(split.queries, path / split.name / "queries.jsonl")
    # The manifest last: an interrupted write leaves no manifest pointing at missing splits.
    manifest = {
        "format": FORMAT_NAME,
        "version": VERSION,
        "name": dataset.name,
        "splits": dataset.split_names,
        "meta": dataset.meta,
    }
    write_json(path / MANIFEST, manifest, indent=2)
    return path
