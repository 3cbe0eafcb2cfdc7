"""The dataset plumbing every retrieval Task shares: splits, training pairs, item batches.

Training data (:class:`RetrievalPairs`): every (query, relevant item) pair of the training split is
one sample — a query with three relevant memes gives three samples — and samples whose query texts
are equal share a group id (:func:`~memesearch.train.losses.stable_group_id`), so the multi-positive
loss treats all of them as positives of each other. A sample is a dict::

    {"image": (3, H, W) tensor | absent, "query": str, "captions": [str], "emotions": [str],
     "context": [str], "group": int, "item": int (index of the item in the split)}

``captions`` are the item's captions (oracle captions dropped when ``oracle_captions`` is False),
``context`` the texts of :meth:`memesearch.data.records.Item.texts` (captions, then OCR). Missing text
stays an empty list — never an empty string that would be embedded as if it were text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import ConfigError, DataFormatError
from memesearch.train.losses import stable_group_id
from memesearch.train.tasks.retrieval_config import RetrievalConfig

log = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _read_dataset(path: str) -> Dataset:
    from memesearch.data.formats import read_dataset

    return read_dataset(path)


def load_dataset(path: str | Path) -> Dataset:
    """Read a dataset once per process (cached by resolved path)."""
    return _read_dataset(str(Path(path).resolve()))


def get_split(dataset: Dataset, name: str) -> Split:
    """``dataset[name]`` with a :class:`ConfigError` listing the splits it has."""
    if name not in dataset:
        raise ConfigError(
            f"dataset {dataset.name!r} has no split {name!r}; "
            f"its splits are: {', '.join(dataset.split_names)}"
        )
    return dataset[name]


def item_captions(item: Item, *, oracle_captions: bool = True) -> list[str]:
    """The item's non-empty captions; oracle captions left out when ``oracle_captions`` is False."""
    if not oracle_captions and item.meta.get("caption_kind") == "oracle":
        return []
    return [c for c in item.captions if c and c.strip()]


def positive_pairs(split: Split, min_grade: int = 1) -> list[tuple[Query, int]]:
    """Every (query, index of a relevant item in ``split.items``) pair, in query then qrels order.

    A qrels entry naming an item the split does not have is a data error (raised, not skipped).
    """
    index = {it.id: j for j, it in enumerate(split.items)}
    pairs: list[tuple[Query, int]] = []
    for q in split.queries:
        for item_id, grade in q.qrels.items():
            if grade < min_grade:
                continue
            if item_id not in index:
                raise DataFormatError(
                    f"split {split.name!r}: query {q.id!r} judges item {item_id!r}, "
                    "which is not in the split",
                    hint="every qrels item must be one of the split's items",
                )
            pairs.append((q, index[item_id]))
    return pairs


class SampleBuilder:
    """Turns an item of a split into its sample fields (image tensor, captions, emotions, context)."""

    def __init__(
        self,
        root: Path | None,
        preprocess: Callable[[Any], Tensor] | None,
        *,
        oracle_captions: bool = True,
    ) -> None:
        self.root = root
        self.preprocess = preprocess
        self.oracle_captions = oracle_captions

    def item_fields(self, item: Item) -> dict[str, Any]:

        out: dict[str, Any] = {
            "captions": item_captions(item, oracle_captions=self.oracle_captions),
            "emotions": [e for e in item.emotions if e and e.strip()],
            "context": item.texts(oracle_captions=self.oracle_captions),
        }
        if self.preprocess is not None:
            from memesearch.models import load_image

            path = item.resolve_path(self.root)
            if path is None:
                raise DataFormatError(f"item {item.id!r} has no image path; the QI branch needs its image")
            out["image"] = self.preprocess(load_image(path))
        return out


class RetrievalPairs(TorchDataset[dict[str, Any]]):
    """Multi-positive training samples of one split (module docstring): one per (query, relevant item)."""

    def __init__(self, split: Split, builder: SampleBuilder, pairs: Sequence[tuple[Query, int]]) -> None:
        self.split = split
        self.builder = builder
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        query, j = self.pairs[index]
        sample = self.builder.item_fields(self.split.items[j])
        sample.update({"query": query.text, "group": stable_group_id(query.text), "item": j})
        return sample


class SplitItems(TorchDataset[dict[str, Any]]):
    """The items of a split as samples without a query (for scoring: the item side sees no query)."""

    def __init__(self, split: Split, builder: SampleBuilder) -> None:
        self.split = split
        self.builder = builder

    def __len__(self) -> int:
        return len(self.split.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**self.builder.item_fields(self.split.items[index]), "item": index}


def collate_samples(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors and ints; keep strings and lists of strings as Python lists."""
    out: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if isinstance(values[0], Tensor):
            out[key] = torch.stack(values)
        elif isinstance(values[0], int):
            out[key] = torch.tensor(values, dtype=torch.int64)
        else:
            out[key] = values
    return out


def pairs_dataset(
    config: RetrievalConfig,
    preprocess: Callable[[Any], Tensor] | None,
    *,
    keep: Callable[[Item], bool] | None = None,
    what: str = "",
) -> RetrievalPairs:
    """The training pairs of ``config.train_split``; ``keep`` drops items a branch cannot use (logged)."""
    dataset = load_dataset(config.dataset)
    split = get_split(dataset, config.train_split)
    builder = SampleBuilder(dataset.root, preprocess, oracle_captions=config.oracle_captions)
    pairs = positive_pairs(split, config.min_grade)
    if keep is not None:
        kept = [(q, j) for q, j in pairs if keep(split.items[j])]
        if len(kept) < len(pairs):
            log.info(
                "%d of %d training pairs of split %r are left out: %s",
                len(pairs) - len(kept), len(pairs), split.name, what,
            )  # fmt: skip
        pairs = kept
    if not pairs:
        raise ConfigError(
            f"split {split.name!r} of {config.dataset} has no usable (query, relevant item) pair to train on"
        )
    groups = len({q.text for q, _ in pairs})
    log.info("training pairs: %d (%d distinct query texts) from split %r", len(pairs), groups, split.name)
    return RetrievalPairs(split, builder, pairs)


def iterate_items(
    dataset: Dataset,
    split: Split,
    preprocess: Callable[[Any], Tensor] | None,
    *,
    oracle_captions: bool,
    batch_size: int,
) -> DataLoader[dict[str, Any]]:
    """Batches of the split's items (no query), in ``split.items`` order."""
    builder = SampleBuilder(dataset.root, preprocess, oracle_captions=oracle_captions)
    return DataLoader(SplitItems(split, builder), batch_size=batch_size, collate_fn=collate_samples)


def to_device(batch: dict[str, Any], device: str | torch.device) -> dict[str, Any]:
    """Move the tensors of a batch to ``device`` (lists of strings stay)."""
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}


def unique_texts(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Distinct texts in first-seen order and, per input, the index of its distinct text."""
    index: dict[str, int] = {}
    where = np.array([index.setdefault(t, len(index)) for t in texts], dtype=np.int64)
    return list(index), where
