"""UniCLIP's training samples: a cover, its query-like title text, its presence label and an OCR candidate.

One sample per training cover that has a title (CBVS trains on (title, cover) pairs, not on queries;
research/B §3.1). Fields::

    {"image": (3, H, W), "text": str, "group": int, "presence": 0 | 1, "candidate": str, "match": 0 | 1}

* ``text``: the title (``meta.title``, else the first caption) turned into query-like core terms
  (:func:`memesearch.data.core_terms.core_terms`, the seed's LAC substitute) or kept as it is;
  ``group`` its :func:`~memesearch.train.losses.stable_group_id` (equal texts are positives of each other).
* ``presence``: 1 when the cover carries text (its OCR is not None).
* ``candidate`` / ``match``: the OCR string the semantic head judges, drawn by
  :func:`sample_candidate` (research/B §1.3): a cover without text gets a uniformly random key of the
  neighbour table, label 0; a cover with text gets its own OCR with probability ``own_prob`` (0.7),
  label 1, else a uniform choice among the table's neighbours of its OCR, label 1 only if that equals its
  own OCR (own OCR, label 1, when the table has no entry for it).

Randomness: the candidate and the augmentation of sample ``i`` in epoch ``e`` come from a private
``random.Random`` seeded by ``(seed, e, i)`` (:func:`sample_seed`): ``seed`` is torch's initial seed when
the dataset is built (the run's seed: the loop seeds torch before it builds the data), ``e`` is set by the
loop (``set_epoch``, as torch's samplers). So every rank, every loader worker and a resumed run draw the
same candidates for the same sample, and each epoch draws new ones.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.utils.data import Dataset as TorchDataset

from memesearch.data.records import Item, Split
from memesearch.errors import ConfigError, DataFormatError
from memesearch.train.losses import stable_group_id
from memesearch.train.tasks.uniclip_ann import clean_ocr

log = logging.getLogger(__name__)


class Candidate(NamedTuple):
    """An OCR string for the semantic head and whether it is the cover's own text (1) or not (0)."""

    text: str
    label: int


def sample_candidate(
    own: str | None,
    table: Mapping[str, Sequence[str]],
    keys: Sequence[str],
    rng: random.Random,
    own_prob: float = 0.7,
) -> Candidate:
    """Draw the semantic head's candidate for a cover whose (cleaned) OCR is ``own`` (module docstring).

    ``keys`` are the table's first column in file order (the pool of random negatives).
    """
    if own is None:
        if not keys:
            raise ConfigError(
                "the OCR neighbour table is empty: no random OCR string for covers without text"
            )
        return Candidate(keys[rng.randrange(len(keys))], 0)
    if rng.random() < own_prob:
        return Candidate(own, 1)
    neighbours = table.get(own)
    if not neighbours:
        return Candidate(own, 1)
    pick = neighbours[rng.randrange(len(neighbours))]
    return Candidate(pick, int(pick == own))


def item_title(item: Item) -> str | None:
    """The cover's title: ``meta["title"]``, else its first non-empty caption; None without one."""
    title = item.meta.get("title")
    if isinstance(title, str) and title.strip():
        return title
    for caption in item.captions:
        if caption and caption.strip():
            return caption
    return None


def training_texts(items: Sequence[Item], how: str, core_method: str = "tfidf") -> list[str | None]:
    """Per item its training text: the title's core terms (``how="core_terms"``) or the title (or None)."""
    from memesearch.data.core_terms import CoreTermsConfig, core_terms, normalise_title

    if how not in ("core_terms", "title"):
        raise ConfigError(f"task_config.text: got {how!r}, expected 'core_terms' or 'title'")
    config = CoreTermsConfig(method=core_method)  # type: ignore[arg-type]
    out: list[str | None] = []
    for item in items:
        title = item_title(item)
        if title is None:
            out.append(None)
        else:
            out.append(core_terms(title, config) if how == "core_terms" else normalise_title(title))
    return out


@dataclass
class SampleSource:
    """What the samples are drawn from (built once by the Task)."""

    split: Split
    root: Path | None
    texts: list[str]  # per kept item
    item_index: list[int]  # index in split.items of each kept item
    table: Mapping[str, Sequence[str]]
    keys: Sequence[str]


def sample_source(
    split: Split, root: Path | None, texts: Sequence[str | None], table: Mapping[str, Sequence[str]]
) -> SampleSource:
    """The items with a training text (logged when some have none), with the neighbour table."""
    kept = [j for j, t in enumerate(texts) if t]
    if len(kept) < len(texts):
        log.info("%d of %d covers of split %r have no title and are left out", len(texts) - len(kept),
                 len(texts), split.name)  # fmt: skip
    if not kept:
        raise ConfigError(
            f"split {split.name!r} has no cover with a title (meta.title or a caption) to train on"
        )
    return SampleSource(split, root, [str(texts[j]) for j in kept], kept, table, list(table))


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 64-bit seed for sample ``index`` of ``epoch`` (stable across processes, unlike ``hash``)."""
    import hashlib

    digest = hashlib.blake2b(f"{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class UniClipSamples(TorchDataset[dict[str, Any]]):
    """The training samples (module docstring); ``augment(image, rng)`` runs before ``preprocess``."""

    def __init__(
        self,
        source: SampleSource,
        preprocess: Callable[[Any], Tensor],
        *,
        own_prob: float = 0.7,
        semantic: bool = True,
        augment: Callable[[Any, random.Random], Any] | None = None,
    ) -> None:
        self.source = source
        self.preprocess = preprocess
        self.own_prob = own_prob
        self.semantic = semantic
        self.augment = augment
        self.seed = int(torch.initial_seed())
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose draws ``__getitem__`` makes (called by the training loop before each epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.source.texts)

    def draw(self, index: int, rng: random.Random) -> dict[str, Any]:
        """The sample ``index`` with the candidate drawn from ``rng`` (no image; no candidate without
        the semantic head)."""
        src = self.source
        item = src.split.items[src.item_index[index]]
        own = clean_ocr(item.ocr)
        text = src.texts[index]
        sample: dict[str, Any] = {
            "text": text,
            "group": stable_group_id(text),
            "presence": int(own is not None),
        }
        if self.semantic:
            candidate = sample_candidate(own, src.table, src.keys, rng, self.own_prob)
            sample.update(candidate=candidate.text, match=candidate.label)
        return sample

    def __getitem__(self, index: int) -> dict[str, Any]:
        from memesearch.models import load_image

        rng = random.Random(sample_seed(self.seed, self.epoch, index))
        sample = self.draw(index, rng)
        item = self.source.split.items[self.source.item_index[index]]
        path = item.resolve_path(self.source.root)
        if path is None:
            raise DataFormatError(f"item {item.id!r} has no image path; UniCLIP trains on the cover image")
        image = load_image(path)
        if self.augment is not None:
            image = self.augment(image, rng)
        sample["image"] = self.preprocess(image)
        return sample
