"""The MSRVTT-style meme format of CLIP4Meme / IEF (SPEC §4.2, research/A §1.2, §2.2), read and written.

Layout of a dataset folder (the train and the test layout may be present together)::

    train_ids.csv         header `video_id` (or `image_id`), then one image id per line: the train split
    train_data.json       {"sentences": [{"video_id": id, "caption": query text}, ...],
                           "titles": {id: [description, ...]}}
    train_emotion.json    [{"video_id": id, "emotion": [{"person_1": "开心"}, {"person_2": "幽默"}]}, ...]
    test_data.json        {id: {"gt": query text, "titles": [description, ...]}, ...}
    test_emotion.json     as train_emotion.json
    images/<id>.jpg       the image of each id; an id that already contains a "." is the file name itself

How it maps onto records:

- one item per image id, ``captions`` = its titles, ``emotions`` = the emotion words of all persons,
  flattened in order;
- one query per **unique** query text (``caption`` of a sentence, or ``gt``); every image with that text
  is a positive with grade 1. *All* sentences of an image are kept (the seed code kept only the last);
  query ids are ``q1, q2, ...`` in order of first appearance;
- extension: ``gt`` may be a list of texts for an image posted under several queries (``[]`` for an
  image with none);
- ``video_id`` or ``image_id`` are accepted wherever an id is named; numeric ids become strings;
- when ``train_ids.csv`` exists it defines the train split (as in MSRVTT, the JSON may hold more ids);
  without it the train split is every id in ``titles`` and ``sentences``;
- images are looked up in ``images/`` (or the folder itself, or ``images=``), also in the IEF frame
  layout ``<id>/img_00001.jpg``; the media type comes from the file content.

Writing (``write``) maps the split ``train`` to the train layout and ``test`` to the test layout (a
dataset with a single split of another name is written as the test layout) and copies each item's
file into ``images/``. Canonicalisation, so that reading back finds everything:

- an id without a ``.`` is stored as ``<id>.jpg`` when its file is a ``.jpg``/``.jpeg`` (or there is no
  file); otherwise the id becomes ``<id><suffix>`` (``1f602`` with ``1f602.png`` -> ``1f602.png``), so that
  files keep their real extension; qrels follow the rename;
- grades > 0 become positives (grade 1); query ids are not stored (reading numbers them again);
  grade-0 judgements, queries without positives, query ``meta``, and item ``url``, ``ocr``, ``source``
  and ``meta`` have no place in the format and are dropped with a warning; emotions are written as
  ``person_1, person_2, ...``; items without a local file are listed but get no image.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memesearch.data.formats._io import (
    atomic_open,
    check_replace,
    get_split,
    load_json,
    progress,
    read_text,
    require_file,
    write_json,
)
from memesearch.data.formats.media import detect_media, media_from_name
from memesearch.data.formats.report import RowErrors
from memesearch.data.records import Dataset, Item, MediaType, Query, Split
from memesearch.errors import ConfigError, DataFormatError

logger = logging.getLogger(__name__)

TRAIN_IDS = "train_ids.csv"
TRAIN_DATA = "train_data.json"
TRAIN_EMOTION = "train_emotion.json"
TEST_DATA = "test_data.json"
TEST_EMOTION = "test_emotion.json"
ALL_FILES = (TRAIN_IDS, TRAIN_DATA, TRAIN_EMOTION, TEST_DATA, TEST_EMOTION)
IMAGES_DIR = "images"
ID_KEYS = ("video_id", "image_id")
IEF_FRAME = "img_00001.jpg"


class _BadRecord(Exception):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def is_msrvtt_folder(path: Path) -> bool:
    """Whether ``path`` is a folder holding MSRVTT-style data files."""
    return path.is_dir() and any((path / name).is_file() for name in (TRAIN_IDS, TRAIN_DATA, TEST_DATA))


# --------------------------------------------------------------------------------------------- reading


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


# --------------------------------------------------------------------------------------------- writing


def _layouts(dataset: Dataset, splits: Mapping[str, str] | None) -> dict[str, Split]:
    """``{"train"|"test": split}``: which split of the dataset goes into which layout."""
    if splits is None:
        names = dataset.split_names
        if len(names) == 1 and names[0] not in ("train", "test"):
            mapping = {names[0]: "test"}
        else:
            extra = [n for n in names if n not in ("train", "test")]
            if extra:
                raise ConfigError(
                    f"the MSRVTT-style format has a train and a test layout only; dataset {dataset.name!r} "
                    f"also has split(s) {', '.join(extra)}. Choose the splits to write "
                    "(`datasets convert --split train --split val=test`, or splits={'val': 'test'})"
                )
            mapping = {n: n for n in names}
    else:
        mapping = dict(splits)
    out: dict[str, Split] = {}
    for source, layout in mapping.items():
        if layout not in ("train", "test"):
            raise ConfigError(f"split {source!r} must map to 'train' or 'test', got {layout!r}")
        if layout in out:
            raise ConfigError(f"two splits map to the {layout} layout; keep one")
        out[layout] = get_split(dataset, source)
    dropped = [n for n in dataset.split_names if n not in mapping]
    if dropped:
        logger.warning("MSRVTT-style output leaves out split(s) %s", ", ".join(dropped))
    return out


@dataclass
class _Placed:
    """An item's id and image file name in the written folder."""

    id: str
    file_name: str


def _place(item: Item, source: Path | None) -> _Placed:
    if "." in item.id:
        return _Placed(item.id, item.id)
    suffix = source.suffix.lower() if source is not None else ""
    if suffix in ("", ".jpg", ".jpeg"):
        return _Placed(item.id, f"{item.id}.jpg")
    return _Placed(item.id + suffix, item.id + suffix)


class _Writer:
    """Places the items of every split in one images folder and records the losses worth a warning."""

    def __init__(self, dataset: Dataset, out: Path) -> None:
        self.dataset = dataset
        self.out = out
        self.images = out / IMAGES_DIR
        self.copies: dict[Path, Path] = {}  # destination -> source
        self.lost: dict[str, int] = {}

    def lose(self, what: str, n: int = 1) -> None:
        if n:
            self.lost[what] = self.lost.get(what, 0) + n

    def place_items(self, split: Split) -> dict[str, str]:
        """Plan the copies of the split's files; returns old id -> written id."""
        ids: dict[str, str] = {}
        taken: dict[str, str] = {}
        for item in split.items:
            source = item.resolve_path(self.dataset.root)
            placed = _place(item, source)
            if placed.id in taken:
                raise DataFormatError(
                    f"items {taken[placed.id]!r} and {item.id!r} would both be written as {placed.id!r}",
                    record=item.id,
                    hint="give the items distinct ids (an id with an extension is used as the file name)",
                )
            taken[placed.id] = item.id
            dest = (self.images / placed.file_name).resolve()
            if not dest.is_relative_to(self.images.resolve()):
                raise DataFormatError(
                    f"item id {item.id!r} would write its image outside {self.images}",
                    record=item.id,
                    hint="ids are file names relative to the images folder (no '..', not absolute)",
                )
            ids[item.id] = placed.id
            self.lose("item urls", item.url is not None)
            self.lose("item OCR texts", item.ocr is not None)
            self.lose("item sources", item.source is not None)
            self.lose("item meta", bool(item.meta))
            if source is None or not source.is_file():
                self.lose("items with no local file (their images are expected at images/<id>)")
                continue
            previous = self.copies.get(dest)
            if previous is not None and previous.resolve() != source.resolve():
                raise DataFormatError(
                    f"two different files would be written as {dest}: {previous} and {source}",
                    record=item.id,
                    hint="the same id in two splits must be the same image",
                )
            self.copies[dest] = source
        return ids

    def positives(self, split: Split, ids: dict[str, str]) -> list[tuple[str, list[str]]]:
        """``[(query text, [written ids of its positives])]``, in query order."""
        out = []
        for query in split.queries:
            pos = [ids[i] for i, g in query.qrels.items() if g > 0 and i in ids]
            self.lose(
                "judgements of items outside the split",
                sum(1 for i, g in query.qrels.items() if g > 0 and i not in ids),
            )
            self.lose("grade-0 judgements", sum(1 for g in query.qrels.values() if g == 0))
            self.lose("grades above 1 (written as 1)", sum(1 for g in query.qrels.values() if g > 1))
            self.lose("query meta", bool(query.meta))
            if pos:
                out.append((query.text, pos))
            else:
                self.lose("queries without positives")
        return out

    def copy_files(self) -> None:
        for dest, source in progress(self.copies.items(), len(self.copies), "copying images"):
            if dest.exists() and dest.samefile(source):
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)

    def warn_losses(self) -> None:
        if self.lost:
            what = "; ".join(f"{n} {kind}" for kind, n in self.lost.items())
            logger.warning("MSRVTT-style output of %r cannot hold: %s", self.dataset.name, what)


def _emotion_records(split: Split, ids: dict[str, str], id_key: str) -> list[dict[str, Any]]:
    return [
        {id_key: ids[it.id], "emotion": [{f"person_{k}": e} for k, e in enumerate(it.emotions, start=1)]}
        for it in split.items
    ]


def write(
    dataset: Dataset,
    path: Path,
    *,
    splits: Mapping[str, str] | None = None,
    id_column: str = "video_id",
    overwrite: bool = False,
) -> Path:
    """Write ``dataset`` as an MSRVTT-style folder at ``path`` and copy its images into ``images/``.

    ``splits`` maps dataset split names to ``"train"`` / ``"test"`` (default: by name; see the module doc);
    ``id_column`` is ``"video_id"`` (CLIP4Meme) or ``"image_id"`` (IEF). Existing data files and images
    are replaced only with ``overwrite``; other files in the folder are left alone.
    """
    if id_column not in ID_KEYS:
        raise ConfigError(f"id_column must be one of {', '.join(ID_KEYS)}, got {id_column!r}")
    layouts = _layouts(dataset, splits)
    writer = _Writer(dataset, path)
    files: dict[str, Any] = {}  # file name -> JSON value, or list of csv rows for the ids file
    for layout, split in layouts.items():
        ids = writer.place_items(split)
        positives = writer.positives(split, ids)
        titles = {ids[it.id]: list(it.captions) for it in split.items}
        emotions = _emotion_records(split, ids, id_column)
        if layout == "train":
            files[TRAIN_IDS] = [[id_column]] + [[ids[it.id]] for it in split.items]
            sentences = [{id_column: i, "caption": text} for text, pos in positives for i in pos]
            files[TRAIN_DATA] = {"sentences": sentences, "titles": titles}
            files[TRAIN_EMOTION] = emotions
        else:
            gts: dict[str, list[str]] = {ids[it.id]: [] for it in split.items}
            for text, pos in positives:
                for i in pos:
                    gts[i].append(text)
            files[TEST_DATA] = {
                i: {"gt": texts[0] if len(texts) == 1 else texts, "titles": titles[i]}
                for i, texts in gts.items()
            }
            files[TEST_EMOTION] = emotions
    # every data file counts: one left from an older dataset would be read back as an extra split
    replaced = [path / name for name in ALL_FILES]
    replaced += [
        dest for dest, source in writer.copies.items() if dest.exists() and not dest.samefile(source)
    ]
    check_replace(replaced, overwrite)
    path.mkdir(parents=True, exist_ok=True)
    for name in ALL_FILES:
        target = path / name
        if name not in files:
            target.unlink(missing_ok=True)
        elif name == TRAIN_IDS:
            with atomic_open(target) as fh:
                csv.writer(fh, lineterminator="\n").writerows(files[name])
        else:
            write_json(target, files[name])
    writer.copy_files()
    writer.warn_losses()
    return path
