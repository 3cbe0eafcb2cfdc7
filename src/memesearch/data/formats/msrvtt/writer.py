"""Writing a :class:`~memesearch.data.records.Dataset` as an MSRVTT-style folder: :func:`write`.

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
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memesearch.data.formats._io import atomic_open, check_replace, get_split, progress, write_json
from memesearch.data.formats.msrvtt.layout import (
    ALL_FILES,
    ID_KEYS,
    IMAGES_DIR,
    TEST_DATA,
    TEST_EMOTION,
    TRAIN_DATA,
    TRAIN_EMOTION,
    TRAIN_IDS,
)
from memesearch.data.records import Dataset, Item, Split
from memesearch.errors import ConfigError, DataFormatError

logger = logging.getLogger(__name__)


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
