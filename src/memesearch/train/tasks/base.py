"""The retrieval-Task contract and the plumbing every retrieval Task shares.

:class:`RetrievalTask` adds two things to :class:`~memesearch.train.task.Task`: a ``branch`` name
(the search branch it scores: ``"image"`` or ``"text"``) and :meth:`RetrievalTask.score_split`, the
``(Q, N)`` cosine matrix of a split's queries against its items (rows in ``split.queries`` order,
columns in ``split.items`` order; the item side never sees a query). ``memesearch evaluate --compare``
relies on exactly this. Validation
during training scores the dataset's validation split (``val_split``, never a test split) and reports
R@1/5/10, MdR, MnR and MAP (:func:`retrieval_metrics`).

Training data (:class:`RetrievalPairs`): every (query, relevant item) pair of the training split is
one sample — a query with three relevant memes gives three samples — and samples whose query texts
are equal share a group id (:func:`~memesearch.train.losses.stable_group_id`), so the multi-positive
loss treats all of them as positives of each other. A sample is a dict::

    {"image": (3, H, W) tensor | absent, "query": str, "captions": [str], "emotions": [str],
     "context": [str], "group": int, "item": int (index of the item in the split)}

``captions`` are the item's captions (oracle captions dropped when ``oracle_captions`` is False),
``context`` the texts of :meth:`memesearch.data.records.Item.texts` (captions, then OCR). Missing text
stays an empty list — never an empty string that would be embedded as if it were text.

CLIP towers (:func:`load_clip`, :func:`text_features`, :func:`image_features`) come from the encoder
registry (``clip:<dir>``, ``tiny-clip:<seed>``): a transformers ``CLIPModel`` or ``ChineseCLIPModel``
with its tokenizer and image preprocessing. :class:`TextTokenizer` pads every text to a fixed
``max_words`` tokens, so token features of different micro-batches can be concatenated.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import ConfigError, DataFormatError
from memesearch.train.losses import stable_group_id
from memesearch.train.task import Task

log = logging.getLogger(__name__)

#: the validation metrics :meth:`RetrievalTask.validate` reports (when defined)
VAL_METRICS: tuple[str, ...] = ("R@1", "R@5", "R@10", "MdR", "MnR", "MAP")


# ------------------------------------------------------------------------------------------------
# config


@dataclass(frozen=True)
class RetrievalConfig:
    """``task_config`` keys shared by the retrieval Tasks.

    Attributes:
        dataset: a dataset directory or file readable by :func:`memesearch.data.formats.read_dataset`
            (required; ``--set task_config.dataset=DIR``).
        model_name: the CLIP towers, an encoder name: ``clip:<dir>`` (CLIP or Chinese-CLIP in
            transformers layout) or ``tiny-clip:<seed>`` for tests (required).
        train_split: split whose (query, relevant item) pairs are the training samples.
        val_split: split used for validation and model selection; a test split is refused.
        max_words: text length in tokens (queries, captions, emotions), padded and truncated to it.
        oracle_captions: use captions marked ``meta.caption_kind == "oracle"`` (the emoji benchmark's
            ground-truth names); False drops them, as :meth:`memesearch.data.records.Item.texts` does.
        min_grade: lowest qrels grade that counts as relevant.
        eval_batch_size: batch size of :meth:`RetrievalTask.score_split` during validation.
    """

    dataset: str = ""
    model_name: str = ""
    train_split: str = "train"
    val_split: str = "val"
    max_words: int = 32
    oracle_captions: bool = True
    min_grade: int = 1
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        if not self.dataset:
            raise ConfigError(
                "task_config.dataset is not set; pass the dataset directory, e.g. "
                "--set task_config.dataset=data/emoji"
            )
        if not self.model_name:
            raise ConfigError(
                "task_config.model_name is not set; pass the CLIP towers as an encoder name, e.g. "
                "--set task_config.model_name=clip:/models/clip-vit-base-patch32 "
                "(or tiny-clip:0 for a smoke run)"
            )
        if self.val_split.lower().startswith("test"):
            raise ConfigError(
                f"task_config.val_split={self.val_split!r}: model selection must not use a test split; "
                "use a validation split (e.g. val)"
            )
        if self.max_words < 3:
            raise ConfigError(f"task_config.max_words: got {self.max_words}, expected an integer >= 3")
        if self.min_grade < 1:
            raise ConfigError(f"task_config.min_grade: got {self.min_grade}, expected an integer >= 1")
        if self.eval_batch_size < 1:
            raise ConfigError(f"task_config.eval_batch_size: got {self.eval_batch_size}, expected >= 1")


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


# ------------------------------------------------------------------------------------------------
# samples


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


# ------------------------------------------------------------------------------------------------
# CLIP towers


@dataclass
class ClipParts:
    """What :func:`load_clip` returns: the transformers model, its tokenizer and image preprocessing."""

    model: nn.Module
    tokenizer: Any
    preprocess: Callable[[Any], Tensor]
    kind: str  # "clip", "chinese_clip" or "tiny_clip"
    dim: int
    max_positions: int  # longest text the text tower takes

    def max_words(self, wanted: int) -> int:
        """``wanted`` capped at the text tower's limit (logged when capped)."""
        if wanted > self.max_positions:
            log.warning(
                "task_config.max_words=%d exceeds the text tower's %d positions; using %d",
                wanted, self.max_positions, self.max_positions,
            )  # fmt: skip
        return min(wanted, self.max_positions)


def load_clip(model_name: str) -> ClipParts:
    """Load CLIP towers by encoder name (``clip:<dir>`` or ``tiny-clip:<seed>``) on CPU in float32."""
    from memesearch.models import create_encoder

    if not model_name.startswith(("clip:", "tiny-clip")):
        raise ConfigError(
            f"task_config.model_name={model_name!r}: expected a CLIP encoder name, "
            "clip:<dir> or tiny-clip:<seed>"
        )
    encoder: Any = create_encoder(model_name, device="cpu", dtype="float32")
    model = encoder.model
    model.train()
    limit = int(model.config.text_config.max_position_embeddings)
    return ClipParts(
        model, encoder.tokenizer, encoder.preprocess, encoder.config.kind, encoder.config.dim, limit
    )


class TextTokenizer:
    """Texts -> ``(input_ids, attention_mask)`` of shape ``(B, max_words)`` (padded and truncated)."""

    def __init__(self, tokenizer: Any, max_words: int) -> None:
        self.tokenizer = tokenizer
        self.max_words = max_words

    def __call__(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        from memesearch.models.encoders.tiny import ByteTokenizer

        texts = list(texts)
        if isinstance(self.tokenizer, ByteTokenizer):
            enc = self.tokenizer(texts)
            ids, mask = enc["input_ids"][:, : self.max_words], enc["attention_mask"][:, : self.max_words]
            pad = self.max_words - ids.shape[1]
            if pad > 0:
                ids = nn.functional.pad(ids, (0, pad), value=self.tokenizer.pad_token_id)
                mask = nn.functional.pad(mask, (0, pad), value=0)
            return ids, mask
        enc = self.tokenizer(
            texts, padding="max_length", truncation=True, max_length=self.max_words, return_tensors="pt"
        )
        return enc["input_ids"], enc["attention_mask"]


def text_features(
    text_model: nn.Module, projection: nn.Module, kind: str, ids: Tensor, mask: Tensor
) -> tuple[Tensor, Tensor]:
    """``(tokens (B, T, D), pooled (B, D))``: projected token states and the projected pooled text.

    The pooled text is what CLIP's ``get_text_features`` returns (EOT state for CLIP, first token for
    Chinese-CLIP). Token states are projected with the same ``text_projection`` so that they live in
    the joint space (CLIP4Meme fed unprojected states, research/A §1.10 bug 2).
    """
    out = text_model(input_ids=ids, attention_mask=mask)
    hidden = out.last_hidden_state  # (B, T, W)
    pooled = hidden[:, 0] if kind == "chinese_clip" else out.pooler_output  # (B, W)
    return projection(hidden), projection(pooled)


def image_features(clip: nn.Module, pixels: Tensor) -> tuple[Tensor, Tensor]:
    """``(tokens (B, 1 + P, D), pooled (B, D))``: projected CLS + patch states and the projected CLS."""
    model: Any = clip
    vision = model.vision_model
    out = vision(pixel_values=pixels)
    tokens = model.visual_projection(vision.post_layernorm(out.last_hidden_state))
    pooled = model.visual_projection(out.pooler_output)
    return tokens, pooled


# ------------------------------------------------------------------------------------------------
# the contract


class RetrievalTask(Task):
    """A Task that retrieves a split's items for its queries (module docstring).

    Subclasses set ``branch`` and ``config`` (a :class:`RetrievalConfig`) and implement
    :meth:`score_split`; :meth:`validate` is done here.
    """

    branch: str = "image"
    config: RetrievalConfig

    @abstractmethod
    def score_split(
        self,
        model: nn.Module,
        dataset: Dataset,
        split: str,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ) -> np.ndarray:
        """(Q, N) scores (cosine, NOT multiplied by the temperature) of the split's queries vs its items,
        rows in ``split.queries`` order, columns in ``split.items`` order. The item side never sees queries.
        Items a branch cannot score get :data:`memesearch.models.fusion.NO_SCORE`."""

    def score_branches(
        self,
        model: nn.Module,
        dataset: Dataset,
        split: str,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ) -> dict[str, np.ndarray]:
        """Scores of every branch the model has (``{"image": .., "text": ..}``, the search branch names of
        :data:`memesearch.index.config.BRANCHES`); default: only ``branch``."""
        return {self.branch: self.score_split(model, dataset, split, device=device, batch_size=batch_size)}

    def dataset(self) -> Dataset:
        """The Task's dataset (read once per process)."""
        return load_dataset(self.config.dataset)

    def collate(self, samples: list[Any]) -> Any:
        return collate_samples(samples)

    @torch.no_grad()
    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        dataset = self.dataset()
        split = get_split(dataset, self.config.val_split)
        scores = self.score_split(
            model, dataset, split.name, device=device, batch_size=self.config.eval_batch_size
        )
        return retrieval_metrics(scores, split)


def retrieval_metrics(scores: np.ndarray, split: Split) -> dict[str, float]:
    """:data:`VAL_METRICS` of a ``(Q, N)`` score matrix over the split's whole gallery."""
    from memesearch.eval.retrieval import evaluate_scores

    report = evaluate_scores(
        scores, split.qrels(), [q.id for q in split.queries], split.item_ids(), curve=False
    )
    return {k: float(report.metrics[k]) for k in VAL_METRICS if k in report.metrics}


def unique_texts(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Distinct texts in first-seen order and, per input, the index of its distinct text."""
    index: dict[str, int] = {}
    where = np.array([index.setdefault(t, len(index)) for t in texts], dtype=np.int64)
    return list(index), where


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


# ------------------------------------------------------------------------------------------------
# a toy dataset for smoke runs and tests

_TOY_TOPICS: tuple[tuple[str, str, tuple[int, int, int]], ...] = (
    ("red circle", "happy", (220, 40, 40)),
    ("green square", "calm", (40, 200, 60)),
    ("blue triangle", "sad", (40, 60, 220)),
    ("yellow star", "excited", (230, 210, 40)),
    ("purple ring", "confused", (150, 50, 180)),
    ("orange bar", "angry", (240, 130, 20)),
)


def write_toy_dataset(root: str | Path, *, items_per_topic: int = 3, seed: int = 0) -> Path:
    """Write a small native dataset of drawn PNGs (splits train, val, test) and return its folder.

    Every topic (a coloured shape) has ``items_per_topic`` images per split. Some items lack captions,
    emotions or OCR, so code paths for missing context run; in each split two queries share one text
    (multi-positive groups). Meant for smoke runs of the retrieval Tasks with ``tiny-clip``::

        >>> path = write_toy_dataset(tmp_path)        # doctest: +SKIP
    """
    from PIL import Image, ImageDraw

    from memesearch.data.formats import write_dataset

    root = Path(root)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    splits: dict[str, Split] = {}
    for split_name in ("train", "val", "test"):
        items: list[Item] = []
        queries: list[Query] = []
        for t, (name, emotion, colour) in enumerate(_TOY_TOPICS):
            ids = []
            for k in range(items_per_topic):
                item_id = f"{split_name}-{t}-{k}"
                img = Image.new("RGB", (32, 32), tuple(int(c) for c in rng.integers(0, 60, 3)))
                draw = ImageDraw.Draw(img)
                x, y = (int(v) for v in rng.integers(2, 10, 2))
                draw.ellipse((x, y, x + 20, y + 20), fill=colour) if t % 2 else draw.rectangle(
                    (x, y, x + 20, y + 20), fill=colour
                )
                img.save(images / f"{item_id}.png")
                n = len(items)
                items.append(
                    Item(
                        id=item_id,
                        path=f"images/{item_id}.png",
                        captions=[] if n % 5 == 4 else [f"a {name}", f"{name} number {k}"],
                        ocr=f"{name.split()[0]} text" if n % 3 == 0 else None,
                        emotions=[] if n % 4 == 3 else [emotion, "meme"],
                    )
                )
                ids.append(item_id)
            queries.append(
                Query(id=f"{split_name}-q{t}", text=f"{emotion} {name}", qrels=dict.fromkeys(ids, 1))
            )
        # a second query with the text of topic 0, relevant to topic 0's first item: equal texts, one group
        queries.append(
            Query(id=f"{split_name}-q-dup", text=queries[0].text, qrels={items[0].id: 1, items[-1].id: 0})
        )
        splits[split_name] = Split(split_name, items=items, queries=queries)
    dataset = Dataset(name="toy-shapes", splits=splits, root=root)
    write_dataset(dataset, root, "native", overwrite=True)
    return root
