"""Carve a validation split out of another split of a dataset (``memesearch datasets split``).

CLIP4Meme / IEF data comes with train and test only, but model selection and fusion weights need a
validation split that is neither (research/A). :func:`carve_split` moves a seeded fraction of one split
(``train``) into a new one (``val``) and returns a new :class:`~memesearch.data.records.Dataset`; the
input is not changed. Two ways to carve:

- ``by="query"`` (default): a seeded fraction of the source split's queries move. Queries with the same
  text (the multi-positive groups of CLIP4Meme: several posts under one topic) move together, so no
  query text is on both sides; the fraction is of these text groups. The gallery is **shared**: the new
  split lists every item of the source split (written as a copy of the item records into its own
  ``items.jsonl``; the media files are not copied), so every item a moved query judges is there. Val then
  measures new queries over the same images.
- ``by="item"``: a seeded fraction of the source split's items move (leaving the source gallery), and
  with them every query whose relevant items (grade > 0) all moved. A query with relevant items on both
  sides stays in the source split; its judgements of moved items are dropped (counted in
  :attr:`CarveResult.dropped_qrels`, and such queries in :attr:`CarveResult.split_queries`). Judgements
  of grade 0 follow the item: a judgement of an item that is on the other side is dropped and counted
  too. Val then measures unseen images.

Selection is deterministic: the same dataset, fraction and seed give the same split (a
``random.Random(seed)`` sample of positions; records keep their order on both sides). Test splits are
never carved from or written to (:func:`is_test_split`).

Example::

    >>> from memesearch.data.records import Dataset, Item, Query, Split
    >>> items = [Item(id=f"i{k}", path=f"{k}.png") for k in range(4)]
    >>> queries = [Query(id=f"q{k}", text=f"text {k}", qrels={f"i{k}": 1}) for k in range(4)]
    >>> ds = Dataset("toy", {"train": Split("train", items, queries)})
    >>> res = carve_split(ds, source="train", target="val", fraction=0.5, seed=0)
    >>> {name: (c["items"], c["queries"]) for name, c in res.dataset.counts().items()}
    {'train': (4, 2), 'val': (4, 2)}
"""

from __future__ import annotations

import ctypes
import logging
import os
import random
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import ConfigError

log = logging.getLogger(__name__)

CarveBy = Literal["query", "item"]
CARVE_BY: tuple[str, ...] = ("query", "item")

# The one rule for test splits (fusion-weight selection, tuning and split carving all ask it):
# "test" as a word of the name, e.g. "test", "test-seen", "emoji_test".
_TEST_NAME = re.compile(r"(?<![a-z])test(?![a-z])")


def is_test_split(name: str) -> bool:
    """True when ``name`` names a test split ("test", "test-seen", "emoji_test", ...).

    >>> is_test_split("test-seen"), is_test_split("val")
    (True, False)
    """
    return bool(_TEST_NAME.search(name.lower()))


@dataclass(frozen=True)
class CarveResult:
    """What :func:`carve_split` made: the new dataset and what moved.

    Attributes:
        dataset: the input's splits with ``source`` reduced and ``target`` added (after ``source``, or in
            the place of an existing ``target`` replaced with ``overwrite``).
        moved_items / moved_queries: ids that went to ``target`` (``by="query"``: no item moves; the
            gallery is shared).
        dropped_qrels: judgements removed because their item ended on the other side (``by="item"``).
        split_queries: queries that judged relevant items on both sides and stayed in ``source``.
    """

    dataset: Dataset
    source: str
    target: str
    by: CarveBy
    fraction: float
    seed: int
    moved_items: list[str] = field(default_factory=list)
    moved_queries: list[str] = field(default_factory=list)
    dropped_qrels: int = 0
    split_queries: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what moved and what was dropped."""
        gallery = (
            f"gallery shared ({len(self.dataset[self.target].items)} items in both)"
            if self.by == "query"
            else f"{len(self.moved_items)} items moved"
        )
        text = (
            f"{self.source} -> {self.target} by {self.by} (fraction {self.fraction:g}, seed {self.seed}): "
            f"{len(self.moved_queries)} queries moved, {gallery}"
        )
        if self.by == "item":
            text += (
                f"; {len(self.split_queries)} queries judged relevant items on both sides and stayed in "
                f"{self.source!r}; {self.dropped_qrels} judgements of items on the other side dropped"
            )
        return text


def _check_names(dataset: Dataset, source: str, target: str, overwrite: bool) -> Split:
    for option, name in (("source", source), ("target", target)):
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise ConfigError(f"{option} split name {name!r} is not valid; use a short name such as val")
        if is_test_split(name):
            raise ConfigError(
                f"refusing to use test split {name!r} as the {option}: a test split is never carved from "
                "or written to (choose e.g. --from train --to val)"
            )
    if source == target:
        raise ConfigError(f"the source and target splits are both {source!r}; give two different names")
    if source not in dataset:
        names = ", ".join(dataset.split_names) or "(none)"
        raise ConfigError(f"dataset {dataset.name!r} has no split {source!r}; its splits are: {names}")
    if target in dataset and not overwrite:
        raise ConfigError(
            f"dataset {dataset.name!r} already has a split {target!r}; pass --overwrite (overwrite=True) "
            "to replace it, or choose another --to name"
        )
    return dataset[source]


def _sample(n: int, fraction: float, seed: int, what: str, source: str) -> set[int]:
    """A seeded sample of ``round(fraction * n)`` positions out of ``n``; both sides must be non-empty."""
    k = round(fraction * n)
    if n < 2:
        raise ConfigError(f"split {source!r} has {n} {what}: too few to split in two")
    if k < 1 or k > n - 1:
        side = "nothing would move" if k < 1 else f"nothing would be left in {source!r}"
        raise ConfigError(
            f"--fraction {fraction:g} of the {n} {what} of split {source!r} is {k}: {side}; "
            f"choose a fraction between {1 / n:.3g} and {(n - 1) / n:.3g}"
        )
    return set(random.Random(seed).sample(range(n), k))


def _by_query(split: Split, fraction: float, seed: int) -> tuple[list[Query], list[Query]]:
    groups: dict[str, list[int]] = {}
    for i, q in enumerate(split.queries):
        groups.setdefault(q.text, []).append(i)
    texts = list(groups)
    chosen = _sample(len(texts), fraction, seed, "query texts", split.name)
    moved = {i for g, text in enumerate(texts) if g in chosen for i in groups[text]}
    keep = [q for i, q in enumerate(split.queries) if i not in moved]
    move = [q for i, q in enumerate(split.queries) if i in moved]
    return keep, move


def _with_qrels(query: Query, qrels: dict[str, int]) -> Query:
    return Query(id=query.id, text=query.text, qrels=qrels, meta=dict(query.meta))


def _by_item(
    split: Split, fraction: float, seed: int
) -> tuple[list[Item], list[Item], list[Query], list[Query], int, list[str]]:
    chosen = _sample(len(split.items), fraction, seed, "items", split.name)
    keep_items = [it for i, it in enumerate(split.items) if i not in chosen]
    move_items = [it for i, it in enumerate(split.items) if i in chosen]
    moved_ids = {it.id for it in move_items}
    keep_q: list[Query] = []
    move_q: list[Query] = []
    dropped = 0
    both: list[str] = []
    for q in split.queries:
        relevant = [i for i, g in q.qrels.items() if g > 0]
        goes = bool(relevant) and all(i in moved_ids for i in relevant)
        if not goes and any(i in moved_ids for i in relevant):
            both.append(q.id)
        # a judgement follows its query; one of an item now on the other side is dropped
        qrels = {i: g for i, g in q.qrels.items() if (i in moved_ids) == goes}
        dropped += len(q.qrels) - len(qrels)
        (move_q if goes else keep_q).append(_with_qrels(q, qrels))
    return keep_items, move_items, keep_q, move_q, dropped, both


def carve_split(
    dataset: Dataset,
    *,
    source: str = "train",
    target: str = "val",
    fraction: float,
    by: str = "query",
    seed: int = 0,
    overwrite: bool = False,
) -> CarveResult:
    """Move a seeded ``fraction`` of split ``source`` into a new split ``target`` (module docstring).

    Raises :class:`~memesearch.errors.ConfigError` (one readable line) for a test split on either side,
    an unknown ``source``, an existing ``target`` without ``overwrite``, a fraction outside (0, 1), an
    unknown ``by``, or a split that would be empty (nothing moved, nothing left, or no query moving).
    ``dataset`` is not modified; unchanged splits are shared with the result.
    """
    if by not in CARVE_BY:
        raise ConfigError(f"--by must be one of {', '.join(CARVE_BY)}, got {by!r}")
    if isinstance(fraction, bool) or not 0 < fraction < 1:
        raise ConfigError(f"--fraction must be a number in (0, 1) (e.g. 0.1), got {fraction!r}")
    split = _check_names(dataset, source, target, overwrite)
    if not split.queries:
        raise ConfigError(
            f"split {source!r} has no queries: a validation split carved from it would have none"
        )
    moved_items: list[str] = []
    dropped = 0
    both: list[str] = []
    if by == "query":
        keep_q, move_q = _by_query(split, fraction, seed)
        keep_items = list(split.items)
        move_items = list(split.items)  # shared gallery
    else:
        keep_items, move_items, keep_q, move_q, dropped, both = _by_item(split, fraction, seed)
        moved_items = [it.id for it in move_items]
        if not move_q:
            raise ConfigError(
                f"no query of split {source!r} has all its relevant items among the {len(move_items)} "
                f"moved items, so split {target!r} would have no queries; raise --fraction or use --by query"
            )
        if not keep_q:
            raise ConfigError(
                f"every query of split {source!r} would move to {target!r}, leaving {source!r} without "
                "queries; lower --fraction"
            )
    carved = Split(target, move_items, move_q)
    splits: dict[str, Split] = {}
    for name, sp in dataset.splits.items():
        if name == target:  # replaced (overwrite) where it was
            splits[name] = carved
        elif name == source:
            splits[name] = Split(source, keep_items, keep_q)
            if target not in dataset:
                splits[target] = carved
        else:
            splits[name] = sp
    result = CarveResult(
        dataset=Dataset(name=dataset.name, splits=splits, root=dataset.root, meta=dict(dataset.meta)),
        source=source,
        target=target,
        by=by,  # type: ignore[arg-type]
        fraction=fraction,
        seed=seed,
        moved_items=moved_items,
        moved_queries=[q.id for q in move_q],
        dropped_qrels=dropped,
        split_queries=both,
    )
    log.info("%s", result.summary())
    return result


# ------------------------------------------------------------------------------------------------
# writing a native folder in place


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link ``src`` at ``dst`` (no data copied, the original untouched); copy where links fail."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # glibc < 2.28, musl
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    return int(fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)) == 0


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def rewrite_native_folder(dataset: Dataset, folder: str | os.PathLike[str]) -> Path:
    """Replace the native dataset in ``folder`` by ``dataset``, atomically; every other file is kept.

    The new dataset is written into a staging folder beside ``folder`` that holds hard links to all of
    ``folder``'s other files (media, cards; copies where the file system cannot link) — no media data is
    copied. The staging folder and ``folder`` are then exchanged in one step (Linux
    ``renameat2(RENAME_EXCHANGE)``); elsewhere by two renames, between which ``folder`` is briefly absent
    (a reader then fails loudly; it never sees half of the old and half of the new dataset). A crash
    before the swap leaves ``folder`` as it was (and a hidden ``.NAME.split-*`` folder to remove).
    Item paths are written as they are (relative to ``folder``).
    """
    from memesearch.data.formats import native, write_dataset
    from memesearch.data.formats._io import load_json
    from memesearch.data.formats.report import RowErrors

    folder = Path(folder).resolve()
    manifest = load_json(folder / native.MANIFEST, "dataset manifest", RowErrors(False, None))
    old_splits = {str(s) for s in manifest.get("splits", [])} if isinstance(manifest, dict) else set()
    for name in dataset.split_names:
        if name not in old_splits and (folder / name).exists():
            raise ConfigError(
                f"{folder / name} exists but is not a split of {folder / native.MANIFEST}; "
                "move it away or choose another split name"
            )
    written = {native.MANIFEST} | {
        f"{name}/{f}" for name in old_splits for f in ("items.jsonl", "queries.jsonl")
    }
    stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.split-", dir=folder.parent))
    try:
        os.chmod(stage, folder.stat().st_mode & 0o7777)

        def skip(src: str, names: list[str]) -> set[str]:
            rel = Path(src).relative_to(folder)
            return {n for n in names if (rel / n).as_posix() in written}

        for entry in folder.iterdir():
            if entry.name == native.MANIFEST:
                continue
            dst = stage / entry.name
            if entry.is_symlink():
                os.symlink(os.readlink(entry), dst)
            elif entry.is_dir():
                shutil.copytree(entry, dst, symlinks=True, copy_function=_link_or_copy, ignore=skip)
            else:
                _link_or_copy(str(entry), str(dst))
        staged = Dataset(name=dataset.name, splits=dataset.splits, root=stage, meta=dataset.meta)
        write_dataset(staged, stage, "native", overwrite=True)
        _fsync_dir(stage)
        if _exchange(stage, folder):
            _fsync_dir(folder.parent)
            shutil.rmtree(stage, ignore_errors=True)  # now the old files; the media live on as links
            return folder
        backup = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        os.rename(folder, backup)
        try:
            os.rename(stage, folder)
        except OSError:
            os.rename(backup, folder)
            raise
        _fsync_dir(folder.parent)
        shutil.rmtree(backup, ignore_errors=True)
        return folder
    except BaseException:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
        raise


__all__ = ["CARVE_BY", "CarveResult", "carve_split", "is_test_split", "rewrite_native_folder"]
