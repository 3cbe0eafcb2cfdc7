"""Task ``starter``: train the small image tower of :mod:`memesearch.models.starter` from scratch, LiT-style.

The text side is locked: every query text of the training split is embedded once by ``e5-small``
(``kind="query"``, cached on disk by
:class:`~memesearch.models.starter.text_cache.TextEmbeddingCache`), and the
item's emotion words too (``kind="passage"``). Only the image tower, the QI emotion gate and the
logit scale train. Samples are the training split's (query, relevant item) pairs
(:func:`~memesearch.train.tasks.samples.positive_pairs`); pairs with equal query texts share a group id
and are positives of each other (multi-positive symmetric InfoNCE). A batch item that is relevant to a
query of another group (an emoji matching two keywords that both landed in the batch) is a *false
negative*: with ``mask_false_negatives`` its logit is removed from that query's softmax (and the
item's) instead of being pushed away.

All training images are decoded once into memory (``(N, 3, S, S)`` uint8); augmentation runs batched
in :meth:`StarterTask.collate`, so that the tower generalises from the train styles (google, twitter)
to an unseen drawing style: random zoom, shift and rotation (filled with white), gamma, contrast and
saturation jitter and random down-up sampling (line width / blur). No flips: many emoji are
directional ("left arrow"), and no hue shifts: colours are in their names ("blue heart").

Example::

    memesearch train --preset starter                      # ~25 min on 2 CPU cores
    memesearch export runs/starter-... --dataset data/emoji   # memesearch.train.starter_export
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset as TorchDataset

from memesearch.data.records import Dataset, Split
from memesearch.errors import ConfigError, DataFormatError
from memesearch.models.starter.model import (
    StarterConfig,
    build_model,
    is_starter_model,
    normalize_pixels,
    to_pixels,
)
from memesearch.models.starter.text_cache import TextEmbeddingCache, emotion_features
from memesearch.train.losses import multi_positive_infonce, stable_group_id
from memesearch.train.task import LossOutput, TaskSpec
from memesearch.train.tasks.base import RetrievalTask
from memesearch.train.tasks.retrieval_config import RetrievalConfig
from memesearch.train.tasks.samples import get_split, positive_pairs
from memesearch.train.tasks.sticker_augment import StickerAugmentConfig, augment_stickers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StarterTaskConfig(RetrievalConfig):
    """``task_config`` of ``starter`` (the shared :class:`RetrievalConfig` keys plus these).

    ``model`` is the architecture, the model's own config
    (:class:`~memesearch.models.starter.model.StarterConfig`: ``task_config.model.widths=[8,16]``);
    ``model_name`` is the frozen text encoder (``e5-small``) and must equal ``model.text_encoder``.

    Augmentation: ``zoom`` range of the content scale (< 1 shrinks it into a white margin), ``shift``
    (fraction of the side), ``rotate`` (degrees), ``gamma`` (max |log gamma|), ``contrast`` and
    ``saturation`` (max relative change), ``downsample_prob`` with sides in ``downsample_sizes``.
    ``max_train_pairs`` keeps a seeded subset of the pairs (smoke runs); ``cache_dir`` holds the text
    embedding cache (default ``~/.cache/memesearch``).
    """

    #: the architecture keys that lived directly under task_config before the model config was nested
    MOVED_KEYS: ClassVar[dict[str, str]] = {
        k: f"model.{k}" for k in ("image_size", "stem", "widths", "depths", "head_hidden")
    } | {k: f"model.{k}" for k in ("gate_init", "logit_scale_init", "emotion_kind")}

    dataset: str = "data/emoji"
    model_name: str = "e5-small"
    model: StarterConfig = field(default_factory=StarterConfig)
    mask_false_negatives: bool = True
    augment: bool = True
    zoom: tuple[float, float] = (0.8, 1.15)
    shift: float = 0.08
    rotate: float = 10.0
    gamma: float = 0.3
    contrast: float = 0.2
    saturation: float = 0.4
    downsample_prob: float = 0.3
    downsample_sizes: tuple[int, int] = (24, 48)
    brightness: float = 0.0
    outline_prob: float = 0.0
    outline_width: tuple[int, int] = (1, 3)
    background_prob: float = 0.0
    background_kinds: tuple[str, ...] = ("flat", "gradient", "noise")
    jpeg_prob: float = 0.0
    jpeg_quality: tuple[int, int] = (30, 90)
    emotion_queries: bool = False
    max_train_pairs: int | None = None
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model_name != "e5-small":
            log.warning(
                "starter: text encoder %r instead of e5-small; the tower must match its dim", self.model_name
            )
        lo, hi = self.zoom
        if not 0 < lo <= hi:
            raise ConfigError(
                f"task_config.zoom: got {self.zoom!r}, expected [low, high] with 0 < low <= high"
            )
        if not 0 <= self.downsample_prob <= 1:
            raise ConfigError(f"task_config.downsample_prob: got {self.downsample_prob!r}, expected [0, 1]")
        if self.max_train_pairs is not None and self.max_train_pairs < 1:
            raise ConfigError(
                f"task_config.max_train_pairs: got {self.max_train_pairs}, expected >= 1 or null"
            )
        self.sticker_augment()  # checks the augmentation keys
        if self.model.text_encoder != self.model_name:
            raise ConfigError(
                f"task_config.model_name is {self.model_name!r} but task_config.model.text_encoder is "
                f"{self.model.text_encoder!r}: the tower maps into the text encoder's space; set both to one "
                "name"
            )

    def model_config(self) -> StarterConfig:
        """The :class:`StarterConfig` of the model this Task trains."""
        return self.model

    def sticker_augment(self) -> StickerAugmentConfig:
        """The augmentation keys as a :class:`StickerAugmentConfig`."""
        return StickerAugmentConfig(
            zoom=tuple(self.zoom),  # type: ignore[arg-type]
            shift=self.shift,
            rotate=self.rotate,
            outline_prob=self.outline_prob,
            outline_width=tuple(self.outline_width),  # type: ignore[arg-type]
            background_prob=self.background_prob,
            background_kinds=tuple(self.background_kinds),
            downsample_prob=self.downsample_prob,
            downsample_sizes=tuple(self.downsample_sizes),  # type: ignore[arg-type]
            gamma=self.gamma,
            brightness=self.brightness,
            contrast=self.contrast,
            saturation=self.saturation,
            jpeg_prob=self.jpeg_prob,
            jpeg_quality=tuple(self.jpeg_quality),  # type: ignore[arg-type]
        )


class StarterPairs(TorchDataset[dict[str, int]]):
    """(query text index, item index, group id) per training pair; the tensors live on the Task."""

    def __init__(self, texts: np.ndarray, items: np.ndarray, groups: np.ndarray) -> None:
        self.texts, self.items, self.groups = texts, items, groups

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, int]:
        return {
            "text": int(self.texts[index]),
            "item": int(self.items[index]),
            "group": int(self.groups[index]),
        }


@dataclass
class TrainTensors:
    """Everything the training batches are built from (CPU tensors)."""

    images: Tensor  # (N, 4, S, S) uint8 RGBA, the split's items
    queries: Tensor  # (U, D) float32 e5 embeddings of the distinct query texts
    emotions: Tensor  # (N, E) float32 e5 embeddings of the items' emotion words (zeros where none)
    emotion_mask: Tensor  # (N,) bool
    relevant: Tensor  # (U, N) bool: the text is relevant to the item (some query with that text judges it)


class StarterTask(RetrievalTask):
    """LiT-style training of the starter image tower + QI emotion gate against frozen e5-small queries."""

    branch = "image"
    config: StarterTaskConfig

    def __init__(self, config: StarterTaskConfig) -> None:
        self.config = config
        self.text_cache = TextEmbeddingCache(config.model_name, config.cache_dir)
        self._data: TrainTensors | None = None
        self._images: dict[str, Tensor] = {}  # split name -> (N, 3, S, S) uint8 (validation / scoring)

    # ---- model and data -------------------------------------------------------------------------

    def build_model(self) -> nn.Module:
        return build_model(self.config.model_config())

    def _load_images(self, dataset: Dataset, split: Split) -> Tensor:
        from memesearch.models import load_image

        size = self.config.model.image_size
        out = torch.empty((len(split.items), 3, size, size), dtype=torch.uint8)
        for start in range(0, len(split.items), 256):
            batch = []
            for it in split.items[start : start + 256]:
                path = it.resolve_path(dataset.root)
                if path is None:
                    raise DataFormatError(f"item {it.id!r} of split {split.name!r} has no image file")
                batch.append(load_image(path))
            out[start : start + len(batch)] = (to_pixels(batch, size) * 255).round().to(torch.uint8)
        return out

    def _load_rgba(self, dataset: Dataset, split: Split) -> Tensor:
        """The split's images as ``(N, 4, S, S)`` uint8 RGBA (alpha 255 for images without transparency):
        training images, whose alpha places the sticker outline and background."""
        from PIL import Image

        from memesearch.models.encoders.images import to_rgb

        size = self.config.model.image_size
        out = torch.empty((len(split.items), 4, size, size), dtype=torch.uint8)
        for j, it in enumerate(split.items):
            path = it.resolve_path(dataset.root)
            if path is None:
                raise DataFormatError(f"item {it.id!r} of split {split.name!r} has no image file")
            with Image.open(path) as opened:
                opened.load()
                has_alpha = opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info
                im = opened.convert("RGBA") if has_alpha else to_rgb(opened).convert("RGBA")
            if im.size != (size, size):  # RGBA is resampled premultiplied by Pillow
                im = im.resize((size, size), Image.Resampling.BICUBIC)
            out[j] = torch.from_numpy(np.array(im, dtype=np.uint8)).permute(2, 0, 1)
        return out

    def _split_images(self, dataset: Dataset, split: Split) -> Tensor:
        key = f"{dataset.root}:{split.name}:{len(split.items)}"
        if key not in self._images:
            self._images[key] = self._load_images(dataset, split)
        return self._images[key]

    def _emotions(self, split: Split) -> tuple[Tensor, Tensor]:
        feats, mask = emotion_features(
            self.text_cache,
            [it.emotions for it in split.items],
            kind="query" if self.config.model.emotion_kind == "query" else "passage",
        )
        if not mask.any():
            feats = np.zeros((len(split.items), self.config.model_config().emotion_dim), dtype=np.float32)
        return torch.from_numpy(feats), torch.from_numpy(mask)

    def train_dataset(self) -> StarterPairs:
        cfg = self.config
        dataset = self.dataset()
        split = get_split(dataset, cfg.train_split)
        pairs = positive_pairs(split, cfg.min_grade)
        if cfg.max_train_pairs is not None and len(pairs) > cfg.max_train_pairs:
            keep = np.random.default_rng(0).permutation(len(pairs))[: cfg.max_train_pairs]
            pairs = [pairs[i] for i in sorted(keep)]
        if not pairs:
            raise ConfigError(f"split {split.name!r} of {cfg.dataset} has no (query, relevant item) pair")
        text_pairs = [(q.text, j) for q, j in pairs]
        emotion_relevant: dict[str, set[int]] = {}
        if cfg.emotion_queries:  # the items' emotion words, en and zh, as extra queries
            from memesearch.data.emotions import chinese_word

            for j, it in enumerate(split.items):
                for word in it.emotions or []:
                    for text in (word, chinese_word(word)):
                        emotion_relevant.setdefault(text, set()).add(j)
            text_pairs += [(t, j) for t, js in sorted(emotion_relevant.items()) for j in sorted(js)]
        text_index: dict[str, int] = {}
        texts = np.array([text_index.setdefault(t, len(text_index)) for t, _ in text_pairs], dtype=np.int64)
        items = np.array([j for _, j in text_pairs], dtype=np.int64)
        groups = np.array([stable_group_id(t) for t, _ in text_pairs], dtype=np.int64)
        distinct = list(text_index)
        log.info(
            "starter: %d training pairs (%d from emotion words), %d query texts, %d items",
            len(text_pairs),
            len(text_pairs) - len(pairs),
            len(distinct),
            len(split.items),
        )
        queries = torch.from_numpy(self.text_cache.embed(distinct, kind="query"))
        relevant = torch.zeros((len(distinct), len(split.items)), dtype=torch.bool)
        index = {it.id: j for j, it in enumerate(split.items)}
        for q in split.queries:
            t = text_index.get(q.text)
            if t is None:
                continue
            for item_id in q.relevant(cfg.min_grade):
                relevant[t, index[item_id]] = True
        for text, js in emotion_relevant.items():
            relevant[text_index[text], sorted(js)] = True
        emotions, emotion_mask = self._emotions(split)
        images = self._load_rgba(dataset, split)
        self._data = TrainTensors(images, queries, emotions, emotion_mask, relevant)
        return StarterPairs(texts, items, groups)

    def train_tensors(self) -> TrainTensors:
        """The train split as in-memory tensors (images, query and emotion embeddings, relevance), built on
        first use; what batches are made of, and what :mod:`memesearch.train.backbone_branch` reads."""
        if self._data is None:
            self.train_dataset()
        assert self._data is not None
        return self._data

    def collate(self, samples: list[Any]) -> dict[str, Tensor]:
        """Index the in-memory tensors and augment the images (batched, global torch RNG)."""
        data = self.train_tensors()
        text = torch.tensor([s["text"] for s in samples], dtype=torch.int64)
        item = torch.tensor([s["item"] for s in samples], dtype=torch.int64)
        rgba = data.images[item].float().div_(255.0)  # (B, 4, S, S) in [0, 1]
        if self.config.augment:
            pixels = augment(rgba, self.config)
        else:  # composited on white, as the evaluation images are
            alpha = rgba[:, 3:4]
            pixels = rgba[:, :3] * alpha + (1 - alpha)
        return {
            "pixels": normalize_pixels(pixels),
            "query": data.queries[text],  # (B, D)
            "emotion": data.emotions[item],  # (B, E)
            "emotion_mask": data.emotion_mask[item],  # (B,)
            "group": torch.tensor([s["group"] for s in samples], dtype=torch.int64),
            "text": text,
            "item": item,
        }

    # ---- training step --------------------------------------------------------------------------

    def embed_batch(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        assert is_starter_model(model)
        item = model.items(batch["pixels"], batch["emotion"], batch["emotion_mask"])  # type: ignore[operator]
        return {
            "query": batch["query"],  # frozen e5 embeddings, unit length (B, D)
            "item": item,  # (B, D), unit length
            "group": batch["group"],
            "text": batch["text"],
            "item_index": batch["item"],
        }

    def loss(self, model: nn.Module, features: Mapping[str, Tensor]) -> LossOutput:
        assert is_starter_model(model)
        scale = model.logit_scale()  # type: ignore[operator]
        logits = scale * (features["query"].float() @ features["item"].float().t())  # (B, B)
        groups = features["group"]
        masked = 0.0
        if self.config.mask_false_negatives:
            relevant = self.train_tensors().relevant
            rel = relevant[features["text"].cpu()][:, features["item_index"].cpu()].to(
                logits.device
            )  # (B, B)
            false_negative = rel & (groups[:, None] != groups[None, :])
            logits = logits.masked_fill(false_negative, -math.inf)
            masked = float(false_negative.float().mean())
        loss = multi_positive_infonce(logits, groups)
        gate: Any = model.qi.gate  # type: ignore[union-attr]
        metrics: dict[str, Any] = {"logit_scale": scale.detach(), "masked": masked}
        if gate is not None:
            metrics["gate"] = gate.detach()
        return LossOutput(loss, metrics)

    # ---- scoring --------------------------------------------------------------------------------

    @torch.no_grad()
    def score_split(
        self,
        model: nn.Module,
        dataset: Dataset,
        split: str,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ) -> np.ndarray:
        """(Q, N) cosines: e5-small queries (``kind="query"``) vs image tower + emotion gate items."""
        assert is_starter_model(model)
        part = get_split(dataset, split)
        queries = self.text_cache.embed([q.text for q in part.queries], kind="query")  # (Q, D)
        images = self._split_images(dataset, part)
        emotions, mask = self._emotions(part)
        dtype = next(model.parameters()).dtype
        items = np.empty((len(part.items), self.config.model_config().dim), dtype=np.float32)  # (N, D)
        for start in range(0, len(part.items), batch_size):
            stop = start + batch_size
            pixels = normalize_pixels(images[start:stop].float().div_(255.0)).to(device, dtype)
            out = model.items(  # type: ignore[operator]
                pixels, emotions[start:stop].to(device, dtype), mask[start:stop].to(device)
            )
            items[start:stop] = out.float().cpu().numpy()
        return np.asarray(queries @ items.T, dtype=np.float32)


def augment(pixels: Tensor, config: StarterTaskConfig) -> Tensor:
    """Augment a ``(B, 3 or 4, S, S)`` batch in [0, 1] (RGBA: the alpha places outline and background)
    into ``(B, 3, S, S)`` with the config's :meth:`~StarterTaskConfig.sticker_augment` settings (global
    torch RNG; returns a new tensor; :func:`~memesearch.train.tasks.sticker_augment.augment_stickers`)."""
    return augment_stickers(pixels, config.sticker_augment())


TASK_SPEC = TaskSpec(
    name="starter",
    factory=StarterTask,
    config_cls=StarterTaskConfig,
    description="the starter image tower (small CNN + QI emotion gate) aligned to frozen e5-small, LiT-style",
)
