"""Reading an MSRVTT-style folder into a :class:`~memesearch.data.records.Dataset`: :func:`read`.

Each layout's files (train: ``train_ids.csv``, ``train_data.json``; test: ``test_data.json``; both: an
emotion file) are checked record by record; a bad record is reported through
:class:`~memesearch.data.formats.report.RowErrors` with its file and position. How records map onto
items and queries is described in :mod:`memesearch.data.formats.msrvtt`.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memesearch.data.formats._io import load_json, read_text, require_file
from memesearch.data.formats.media import detect_media, media_from_name
from memesearch.data.formats.msrvtt.layout import (
    ID_KEYS,
    IEF_FRAME,
    IMAGES_DIR,
    TEST_DATA,
    TEST_EMOTION,
    TRAIN_DATA,
    TRAIN_EMOTION,
    TRAIN_IDS,
    is_msrvtt_folder,
)
from memesearch.data.formats.report import RowErrors
from memesearch.data.records import Dataset, Item, MediaType, Query, Split
from memesearch.errors import DataFormatError

logger = logging.getLogger(__name__)


class _BadRecord(Exception):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _as_id(value: Any, what: str) -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _BadRecord(f"{what} must be a non-empty string or integer id, got {value!r}")


def _entry_id(entry: dict[str, Any]) -> str:
    for key in ID_KEYS:
        if key in entry:
            return _as_id(entry[key], f'"{key}"')
    raise _BadRecord(f"missing the id: expected a {' or '.join(repr(k) for k in ID_KEYS)} field")


def _texts(value: Any, what: str, *, allow_empty_list: bool = True) -> list[str]:
    """A list of non-empty strings (a single string is not accepted where a list is meant)."""
    if not isinstance(value, list):
        raise _BadRecord(f"{what} must be a list of strings, got {type(value).__name__}")
    for i, text in enumerate(value):
        if not isinstance(text, str):
            raise _BadRecord(f"{what}[{i}] must be a string, got {text!r}")
    if not value and not allow_empty_list:
        raise _BadRecord(f"{what} is empty")
    return list(value)


def _read_ids_csv(path: Path, errors: RowErrors) -> list[str]:
    text = read_text(path)
    if not text.strip():
        raise DataFormatError(
            "file is empty", path=path, hint="expected a header `video_id` and one id per line"
        )
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    columns = [c.strip() for c in header]
    col = next((columns.index(k) for k in ID_KEYS if k in columns), None)
    if col is None:
        raise DataFormatError(
            f"no id column: expected a header naming `video_id` or `image_id`, got {header}",
            path=path,
            line=1,
            hint="the first line is the header, e.g. `video_id`",
        )
    ids: list[str] = []
    first: dict[str, int] = {}
    for row in reader:
        lineno = reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            errors.bad(
                DataFormatError(
                    f"expected {len(header)} comma-separated columns ({', '.join(columns)}), got {len(row)}",
                    path=path,
                    line=lineno,
                )
            )
            continue
        image_id = row[col].strip()
        if not image_id:
            errors.bad(DataFormatError(f"empty {columns[col]}", path=path, line=lineno))
            continue
        if image_id in first:
            errors.bad(
                DataFormatError(
                    f"duplicate id {image_id!r} (first on line {first[image_id]})", path=path, line=lineno
                )
            )
            continue
        first[image_id] = lineno
        ids.append(image_id)
    return ids


def _read_emotions(path: Path, errors: RowErrors) -> dict[str, list[str]]:
    """``{id: [emotion words of all persons, in order]}`` from an emotion JSON file."""
    data = load_json(path, "emotion file", errors)
    if not isinstance(data, list):
        raise DataFormatError(
            f"expected a JSON list of {{video_id, emotion}} objects, got {type(data).__name__}", path=path
        )
    out: dict[str, list[str]] = {}
    for i, entry in enumerate(data):
        try:
            if not isinstance(entry, dict):
                raise _BadRecord(f"expected an object {{video_id, emotion}}, got {type(entry).__name__}")
            image_id = _entry_id(entry)
            persons = entry.get("emotion")
            if not isinstance(persons, list):
                raise _BadRecord(
                    f'"emotion" must be a list of {{person: word}} objects, got {type(persons).__name__}',
                    'e.g. "emotion": [{"person_1": "开心"}]',
                )
            words: list[str] = []
            for j, person in enumerate(persons):
                if not isinstance(person, dict) or not all(isinstance(w, str) for w in person.values()):
                    raise _BadRecord(
                        f'"emotion"[{j}] must be an object of person -> emotion word, got {person!r}'
                    )
                words.extend(person.values())
            if image_id in out:
                raise _BadRecord(f"id {image_id!r} appears twice")
        except _BadRecord as exc:
            errors.bad(DataFormatError(exc.message, path=path, record=f"[{i}]", hint=exc.hint))
            continue
        out[image_id] = words
    return out


@dataclass
class _Collected:
    """What one layout's files say, before items are built: ids in order, titles, query texts."""

    ids: list[str] = field(default_factory=list)
    titles: dict[str, list[str]] = field(default_factory=dict)
    # query text -> image ids in order (a dict used as an ordered set)
    positives: dict[str, dict[str, None]] = field(default_factory=dict)

    def add_positive(self, text: str, image_id: str) -> None:
        self.positives.setdefault(text, {})[image_id] = None


def _collect_train(folder: Path, errors: RowErrors) -> _Collected:
    data_path = folder / TRAIN_DATA
    require_file(
        data_path, TRAIN_DATA, hint=f"{TRAIN_IDS} names the train ids; {TRAIN_DATA} holds their data"
    )
    data = load_json(data_path, TRAIN_DATA, errors)
    if not isinstance(data, dict) or not isinstance(data.get("sentences"), list):
        raise DataFormatError(
            'expected an object with "sentences": [{video_id, caption}, ...] and "titles": {id: [...]}',
            path=data_path,
        )
    titles_raw = data.get("titles", {})
    if not isinstance(titles_raw, dict):
        raise DataFormatError(
            '"titles" must be an object {id: [description, ...]}', path=data_path, record="titles"
        )
    got = _Collected()
    for image_id, value in titles_raw.items():
        try:
            got.titles[image_id] = _texts(value, f"titles[{image_id!r}]")
        except _BadRecord as exc:
            errors.bad(
                DataFormatError(exc.message, path=data_path, record=f"titles[{image_id!r}]", hint=exc.hint)
            )
    sentences: list[tuple[str, str]] = []
    for i, entry in enumerate(data["sentences"]):
        try:
            if not isinstance(entry, dict):
                raise _BadRecord(f"expected an object {{video_id, caption}}, got {type(entry).__name__}")
            image_id = _entry_id(entry)
            caption = entry.get("caption")
            if not isinstance(caption, str) or not caption.strip():
                raise _BadRecord(f'"caption" (the query text) must be a non-empty string, got {caption!r}')
        except _BadRecord as exc:
            errors.bad(DataFormatError(exc.message, path=data_path, record=f"sentences[{i}]", hint=exc.hint))
            continue
        sentences.append((image_id, caption))

    ids_path = folder / TRAIN_IDS
    if ids_path.exists():
        require_file(ids_path, TRAIN_IDS)
        got.ids = _read_ids_csv(ids_path, errors)
        in_split = set(got.ids)
        outside = {i for i, _ in sentences if i not in in_split} | {
            i for i in got.titles if i not in in_split
        }
        if outside:
            logger.info(
                "%d ids of %s are not in %s and belong to no train item", len(outside), data_path, TRAIN_IDS
            )
    else:
        order = dict.fromkeys(got.titles)
        order.update(dict.fromkeys(i for i, _ in sentences))
        got.ids = list(order)
        in_split = set(got.ids)
    for image_id, caption in sentences:
        if image_id in in_split:
            got.add_positive(caption, image_id)
    return got


def _collect_test(folder: Path, errors: RowErrors) -> _Collected:
    data_path = folder / TEST_DATA
    data = load_json(data_path, TEST_DATA, errors)
    if not isinstance(data, dict):
        raise DataFormatError('expected an object {id: {"gt": query text, "titles": [...]}}', path=data_path)
    got = _Collected()
    for image_id, entry in data.items():
        try:
            if not image_id:
                raise _BadRecord("empty id")
            if not isinstance(entry, dict):
                raise _BadRecord(f'expected an object {{"gt", "titles"}}, got {type(entry).__name__}')
            if "gt" not in entry:
                raise _BadRecord(
                    'missing "gt" (the query text)', 'e.g. {"gt": "query text", "titles": [...]}'
                )
            gt = entry["gt"]
            texts = [gt] if isinstance(gt, str) else _texts(gt, '"gt"')
            if any(not t.strip() for t in texts):
                raise _BadRecord('"gt" holds an empty query text')
            titles = _texts(entry.get("titles", []), '"titles"')
        except _BadRecord as exc:
            errors.bad(DataFormatError(exc.message, path=data_path, record=repr(image_id), hint=exc.hint))
            continue
        got.ids.append(image_id)
        got.titles[image_id] = titles
        for text in texts:
            got.add_positive(text, image_id)
    return got


def _image_file(images: Path, image_id: str) -> Path:
    """The image file of ``image_id``: ``<id>.jpg``, ``<id>`` when it has a dot, or the IEF frame folder."""
    candidate = images / (image_id if "." in image_id else f"{image_id}.jpg")
    if not candidate.exists():
        frame = images / image_id / IEF_FRAME
        if frame.is_file():
            return frame
    return candidate


def _relative_to(file: Path, folder: Path) -> str:
    """``file`` relative to ``folder`` when inside it (POSIX), else absolute."""
    try:
        return file.relative_to(folder).as_posix()
    except ValueError:
        return file.resolve().as_posix()


def _media_of(path: Path) -> MediaType:
    if path.is_file():
        try:
            kind = detect_media(path)
        except OSError:
            kind = None
        if kind is not None:
            return kind
    return media_from_name(path.name)


def _build_split(
    name: str, got: _Collected, emotions: dict[str, list[str]], folder: Path, images: Path
) -> Split:
    items = []
    for image_id in got.ids:
        file = _image_file(images, image_id)
        items.append(
            Item(
                id=image_id,
                path=_relative_to(file, folder),
                media=_media_of(file),
                captions=got.titles.get(image_id, []),
                emotions=emotions.get(image_id, []),
            )
        )
    queries = [
        Query(id=f"q{n}", text=text, qrels=dict.fromkeys(ids, 1))
        for n, (text, ids) in enumerate(got.positives.items(), start=1)
    ]
    return Split(name, items=items, queries=queries)


def read(path: Path, errors: RowErrors, *, images: str | os.PathLike[str] | None = None) -> Dataset:
    """Read an MSRVTT-style folder (or one of its files) into splits ``train`` and/or ``test``.

    ``images``: the image folder (default: ``<folder>/images`` if it exists, else the folder itself).
    """
    folder = (path.parent if path.is_file() else path).resolve()
    if not is_msrvtt_folder(folder):
        raise DataFormatError(
            f"no MSRVTT-style data here: expected {TRAIN_DATA} (with {TRAIN_IDS}) and/or {TEST_DATA}",
            path=folder,
            hint="point at the folder holding the .json/.csv files",
        )
    if images is not None:
        image_dir = Path(images).resolve()
    else:
        image_dir = folder / IMAGES_DIR if (folder / IMAGES_DIR).is_dir() else folder
    splits: dict[str, Split] = {}
    layouts = (
        ("train", TRAIN_DATA, TRAIN_EMOTION, _collect_train),
        ("test", TEST_DATA, TEST_EMOTION, _collect_test),
    )
    for name, data_file, emotion_file, collect in layouts:
        has_data = (folder / data_file).exists() or (name == "train" and (folder / TRAIN_IDS).exists())
        if not has_data:
            if (folder / emotion_file).exists():
                raise DataFormatError(f"{emotion_file} found without {data_file}", path=folder / emotion_file)
            continue
        got = collect(folder, errors)
        emotion_path = folder / emotion_file
        emotions = _read_emotions(emotion_path, errors) if emotion_path.exists() else {}
        splits[name] = _build_split(name, got, emotions, folder, image_dir)
    return Dataset(name=folder.name, splits=splits, root=folder)
