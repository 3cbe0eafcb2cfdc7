"""File helpers shared by the format modules: strict UTF-8 line reading, JSON with locations, atomic writes.

Every problem becomes a :class:`~memesearch.errors.DataFormatError` naming the file and the line (or
record), so that a user can open the file at the right place.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from memesearch.data.formats.report import RowErrors
from memesearch.data.records import Dataset, Split
from memesearch.errors import ConfigError, DataFormatError
from memesearch.utils.io import atomic_open, loads_json

T = TypeVar("T")

UTF8_HINT = "save the file as UTF-8 (e.g. `iconv -f GBK -t UTF-8 in.txt > out.txt`)"


def require_file(path: Path, what: str, hint: str | None = None) -> None:
    """Raise a clear error when ``path`` is not an existing regular file."""
    if path.is_file():
        return
    if path.exists():
        raise DataFormatError(f"expected {what} to be a file, but it is a folder", path=path, hint=hint)
    raise DataFormatError(f"{what} not found", path=path, hint=hint)


def _decode(raw: bytes, path: Path, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        raise DataFormatError(
            f"line is not valid UTF-8 (byte 0x{bad} at column {exc.start + 1})",
            path=path,
            line=lineno,
            hint=UTF8_HINT,
        ) from None


def read_lines(path: Path, errors: RowErrors, *, allow_empty: bool = False) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each non-blank line, 1-based, without the line ending.

    Lines are decoded one by one so that a single non-UTF-8 line is a bad row (skippable), not a
    failure of the whole file. A UTF-8 byte-order mark on the first line is removed. Blank lines carry
    no data and are not rows. A file without any row is an error unless ``allow_empty``.
    """
    rows = 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip(b" \r\n"):  # blank; a line of tabs is a (bad) row
                continue
            rows += 1
            try:
                text = _decode(raw, path, lineno)
            except DataFormatError as exc:
                errors.bad(exc)
                continue
            yield lineno, text.rstrip("\r\n")
    if rows == 0 and not allow_empty:
        raise DataFormatError("file is empty", path=path, hint="check that the right file was given")


def read_text(path: Path) -> str:
    """The whole file as text; a non-UTF-8 byte is an error naming its line."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        lineno = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = raw[exc.start : exc.start + 1].hex()
        raise DataFormatError(
            f"file is not valid UTF-8 (byte 0x{bad} at column {column})",
            path=path,
            line=lineno,
            hint=UTF8_HINT,
        ) from None


class _DuplicateKeys:
    """``object_pairs_hook`` that keeps the first value of a repeated key and remembers the repeats.

    ``json`` silently keeps the last value of a repeated key; a repeated id in a JSON object is a bad
    record, so the repeats are collected and reported by the caller.
    """

    def __init__(self) -> None:
        self.repeats: list[str] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                self.repeats.append(key)
                continue
            out[key] = value
        return out


def parse_json(text: str, path: Path, *, line: int | None = None) -> tuple[Any, list[str]]:
    """Parse one JSON text; returns the value and the keys that were repeated inside an object.

    Raises :class:`DataFormatError` with the line (``line`` for a JSONL row, the JSON error's line for
    a whole document) on invalid JSON.
    """
    hook = _DuplicateKeys()
    try:
        value = loads_json(text, object_pairs_hook=hook)
    except json.JSONDecodeError as exc:
        where = line if line is not None else exc.lineno
        raise DataFormatError(
            f"invalid JSON: {exc.msg} (column {exc.colno})",
            path=path,
            line=where,
            hint="each line must be one JSON object" if line is not None else "fix the JSON syntax",
        ) from None
    return value, hook.repeats


def load_json(path: Path, what: str, errors: RowErrors) -> Any:
    """Load a JSON document; a key repeated inside one object is a bad record (the first value is kept)."""
    require_file(path, what)
    text = read_text(path)
    if not text.strip():
        raise DataFormatError(f"{what} is empty", path=path, hint="expected a JSON document")
    value, repeats = parse_json(text, path)
    for key in repeats:
        errors.bad(
            DataFormatError(
                "key appears more than once in one JSON object; the first occurrence is kept",
                path=path,
                record=repr(key),
                hint="merge or rename the repeated entries",
            )
        )
    return value


def write_json(path: Path, value: Any, *, indent: int | None = None) -> None:
    """Write ``value`` as UTF-8 JSON (non-ASCII kept as is), atomically."""
    try:
        text = json.dumps(value, ensure_ascii=False, indent=indent)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cannot write {path}: {exc}; meta values must be JSON serialisable") from None
    with atomic_open(path) as fh:
        fh.write(text + "\n")


def progress(items: Iterable[T], total: int, description: str) -> Iterable[T]:
    """Wrap ``items`` in a rich progress bar when stderr is a terminal (and only then: logs and tests)."""
    from memesearch.utils.io import progress_iter

    return progress_iter(items, total, description, enabled=total >= 1000 and sys.stderr.isatty())


def get_split(dataset: Dataset, name: str) -> Split:
    """``dataset[name]``, or a :class:`ConfigError` listing the splits there are."""
    if name not in dataset:
        names = ", ".join(dataset.split_names) or "(none)"
        raise ConfigError(f"dataset {dataset.name!r} has no split {name!r}; its splits are: {names}")
    return dataset[name]


def check_replace(paths: Iterable[Path], overwrite: bool) -> None:
    """Refuse to replace existing files unless ``overwrite`` (the error names them)."""
    if overwrite:
        return
    existing = [p for p in paths if p.exists()]
    if existing:
        shown = ", ".join(str(p) for p in existing[:3]) + (
            f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        )
        raise ConfigError(f"would replace existing {shown}; pass overwrite=True (--overwrite) to replace")


def relocate_path(path: str, src_root: Path | None, dst_root: Path) -> str:
    """Rewrite an item path that is relative to ``src_root`` so that it resolves from ``dst_root``.

    Absolute paths are kept. A relative path with no ``src_root`` is taken relative to the current
    directory. The result is relative (POSIX separators) when possible, so that a dataset and its media
    can be moved together; absolute otherwise (e.g. another drive on Windows).
    """
    p = Path(path)
    if p.is_absolute():
        return p.as_posix()
    src_base = (src_root if src_root is not None else Path.cwd()).resolve()
    dst_base = dst_root.resolve()
    if src_base == dst_base:
        return p.as_posix()
    target = src_base / p
    try:
        return Path(os.path.relpath(target, dst_base)).as_posix()
    except ValueError:
        return target.as_posix()
