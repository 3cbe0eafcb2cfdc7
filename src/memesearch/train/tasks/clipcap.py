"""Task ``clipcap``: train a CLIP-prefix captioner (:mod:`memesearch.caption`) on a dataset's captions.

Samples are (item, caption) pairs of the training split: every given caption of every item, in the
languages the captioner writes (a caption's language is ``meta["caption_langs"]`` where the dataset says,
else its script: :func:`~memesearch.data.captions.item_captions`). The image encoder is frozen, so
each image is embedded once per dataset and encoder (:class:`ImageFeatureCache`, kept on disk); only the
mapping network, the language vectors and (unless ``decoder.freeze``) the decoder train. The loss is the
mean token cross-entropy over the batch's caption tokens, end tokens included, padding excluded
(:meth:`~memesearch.caption.model.ClipCapModel.caption_nll`).

A decoder built from config gets a byte-level BPE tokenizer trained on the training captions. Every
checkpoint carries ``captioner.json`` and ``tokenizer/`` beside its weights, so a run (or one of its
checkpoints) loads with :func:`memesearch.caption.load_captioner` and ``memesearch caption --model RUN``.

Validation (the ``val`` split, never test): the teacher-forced ``loss``, and greedy captions of every
item in each language scored against its references (``BLEU-4``, ``CIDEr-D``, ``exact``: the share of
captions equal to a reference). On the emoji benchmark val holds unseen concepts: there the loss rises
early (the decoder learns the training names) while CIDEr-D keeps rising (it learns to write names), so
``starter-caption`` selects by CIDEr-D.

Example::

    memesearch train --preset starter-caption        # the emoji benchmark, ~6 min of CPU
    memesearch export runs/clipcap-... --dataset data/emoji
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset as TorchDataset

from memesearch.caption.captioner import Captioner, new_captioner
from memesearch.caption.config import CaptionerConfig
from memesearch.caption.decoder import load_tokenizer, special_ids, train_tokenizer
from memesearch.caption.decoding import DecodeConfig, generate_captions
from memesearch.caption.model import ClipCapModel, encode_captions, pad_rows
from memesearch.data.captions import item_captions
from memesearch.data.records import Dataset, Split
from memesearch.errors import ConfigError, DataFormatError
from memesearch.train.task import LossOutput, ParamRole, Task, TaskSpec
from memesearch.train.tasks.image_features import ImageFeatureCache
from memesearch.train.tasks.samples import get_split, load_dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipCapTaskConfig:
    """``task_config`` of ``clipcap``.

    ``captioner``: the model (:class:`~memesearch.caption.config.CaptionerConfig`: encoder, mapper,
    decoder, languages). ``feature_noise``: standard deviation of Gaussian noise added to each coordinate
    of the (unit) image embedding in training, so that the mapping network tolerates the embedding shift
    of an unseen drawing style. ``max_train_captions``: keep a seeded subset (smoke runs).
    ``val_max_items``: items whose captions are decoded in validation (0: all). ``cache_dir``: the image
    feature cache (default ``~/.cache/memesearch``).
    """

    dataset: str = "data/emoji"
    train_split: str = "train"
    val_split: str = "val"
    captioner: CaptionerConfig = field(default_factory=CaptionerConfig)
    feature_noise: float = 0.0
    max_train_captions: int | None = None
    val_max_items: int = 0
    eval_batch_size: int = 64
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.feature_noise < 0:
            raise ConfigError(f"task_config.feature_noise: got {self.feature_noise!r}, expected >= 0")
        if self.max_train_captions is not None and self.max_train_captions < 1:
            raise ConfigError(
                f"task_config.max_train_captions: got {self.max_train_captions}, expected >= 1 or null"
            )
        if self.val_max_items < 0 or self.eval_batch_size < 1:
            raise ConfigError("task_config.val_max_items must be >= 0 and eval_batch_size >= 1")


class CaptionPairs(TorchDataset[dict[str, Any]]):
    """One (item row, token ids, language index) per training caption."""

    def __init__(self, items: np.ndarray, tokens: list[list[int]], langs: np.ndarray) -> None:
        self.items, self.tokens, self.langs = items, tokens, langs

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"item": int(self.items[index]), "tokens": self.tokens[index], "lang": int(self.langs[index])}


class ClipCapTask(Task):
    """Train the mapping network (and the decoder unless frozen) on frozen image embeddings."""

    def __init__(self, config: ClipCapTaskConfig) -> None:
        self.config = config
        self.features_cache = ImageFeatureCache(config.cache_dir)
        self._encoder: Any = None
        self._tokenizer: Any = None
        self._captioner_config: CaptionerConfig | None = None
        self._features: dict[str, Tensor] = {}  # split name -> (N, F) float32

    # ---- data ------------------------------------------------------------------------------------

    def dataset(self) -> Dataset:
        return load_dataset(self.config.dataset)

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from memesearch.models.encoders.registry import create_encoder

            self._encoder = create_encoder(self.config.captioner.encoder)
        return self._encoder

    @property
    def captioner_config(self) -> CaptionerConfig:
        """The captioner's config with ``feature_dim`` filled in from the encoder."""
        if self._captioner_config is None:
            cfg = self.config.captioner
            dim = int(self.encoder.dim)
            if cfg.feature_dim and cfg.feature_dim != dim:
                raise ConfigError(
                    f"task_config.captioner.feature_dim is {cfg.feature_dim} but {cfg.encoder!r} gives "
                    f"{dim}-d embeddings; leave feature_dim at 0"
                )
            self._captioner_config = replace(cfg, feature_dim=dim)
        return self._captioner_config

    def split_features(self, dataset: Dataset, split: Split) -> Tensor:
        """``(N, F)`` image embeddings of the split's items (cached once per dataset and encoder)."""
        if split.name not in self._features:
            paths = []
            for it in split.items:
                path = it.resolve_path(dataset.root)
                if path is None:
                    raise DataFormatError(f"item {it.id!r} of split {split.name!r} has no image file")
                paths.append(path)
            vectors = self.features_cache.features(
                self.encoder, paths, normalize=self.config.captioner.normalize_features
            )
            self._features[split.name] = torch.from_numpy(np.array(vectors, dtype=np.float32))
        return self._features[split.name]

    def _captions(self, split: Split) -> list[tuple[int, str, str]]:
        langs = self.config.captioner.languages
        return [
            (row, text, lang) for row, it in enumerate(split.items) for text, lang in item_captions(it, langs)
        ]

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self.train_dataset()
        return self._tokenizer

    def _make_tokenizer(self, texts: list[str]) -> Any:
        decoder = self.config.captioner.decoder
        if decoder.pretrained or decoder.tokenizer:
            return load_tokenizer(decoder.tokenizer or decoder.source)
        log.info("clipcap: training a %d-token BPE tokenizer on %d captions", decoder.vocab_size, len(texts))
        return train_tokenizer(texts, decoder.vocab_size)

    def train_dataset(self) -> CaptionPairs:
        cfg = self.config
        dataset = self.dataset()
        split = get_split(dataset, cfg.train_split)
        captions = self._captions(split)
        if cfg.max_train_captions is not None and len(captions) > cfg.max_train_captions:
            keep = np.random.default_rng(0).permutation(len(captions))[: cfg.max_train_captions]
            captions = [captions[i] for i in sorted(keep)]
        if not captions:
            wanted = ", ".join(cfg.captioner.languages)
            raise ConfigError(f"split {split.name!r} of {cfg.dataset} has no caption in {wanted}")
        if self._tokenizer is None:
            self._tokenizer = self._make_tokenizer([text for _, text, _ in captions])
        tokens = encode_captions(
            self._tokenizer, [t for _, t, _ in captions], cfg.captioner.max_caption_tokens
        )
        langs = cfg.captioner.languages
        self.split_features(dataset, split)
        log.info("clipcap: %d captions of %d items (%s)", len(captions), len(split.items), ", ".join(langs))
        return CaptionPairs(
            np.array([row for row, _, _ in captions], dtype=np.int64),
            tokens,
            np.array([langs.index(lang) for _, _, lang in captions], dtype=np.int64),
        )

    def collate(self, samples: list[Any]) -> dict[str, Tensor]:
        """Pad the captions, look up (and, with ``feature_noise``, perturb) the image embeddings."""
        features = self._features[self.config.train_split]
        item = torch.tensor([s["item"] for s in samples], dtype=torch.long)
        feats = features[item]  # (B, F)
        if self.config.feature_noise > 0:
            feats = feats + torch.randn_like(feats) * self.config.feature_noise
        _, pad = special_ids(self.tokenizer)
        ids, mask = pad_rows([s["tokens"] for s in samples], pad)
        return {
            "features": feats,
            "input_ids": ids,
            "attention_mask": mask,
            "lang": torch.tensor([s["lang"] for s in samples], dtype=torch.long),
        }

    # ---- model -----------------------------------------------------------------------------------

    def build_model(self) -> nn.Module:
        captioner = new_captioner(self.captioner_config, self.tokenizer, encoder=self.encoder)
        return captioner.model

    def param_role(self, name: str, param: nn.Parameter) -> ParamRole:
        if not name.startswith("decoder."):
            return ParamRole.NEW
        decoder = self.config.captioner.decoder
        if decoder.freeze:
            return ParamRole.FROZEN
        return ParamRole.PRETRAINED if decoder.pretrained else ParamRole.NEW

    def set_train_mode(self, model: nn.Module) -> None:
        model.train()
        if self.config.captioner.decoder.freeze:
            model.decoder.eval()  # type: ignore[union-attr]

    def checkpoint_files(self, model: nn.Module) -> dict[str, bytes]:
        """``captioner.json`` and the tokenizer: every checkpoint loads as a captioner."""
        assert isinstance(model, ClipCapModel)
        cfg = self.config
        trained_on = {"task": "clipcap", "dataset": cfg.dataset, "train_split": cfg.train_split}
        return Captioner(model, self.tokenizer).files(trained_on)

    # ---- step --------------------------------------------------------------------------------------

    def embed_batch(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        assert isinstance(model, ClipCapModel)
        lang = batch["lang"] if model.language is not None else None
        nll, count = model.caption_nll(batch["features"], batch["input_ids"], batch["attention_mask"], lang)
        return {"nll": nll, "count": count.long()}  # (B,) each

    def loss(self, model: nn.Module, features: Mapping[str, Tensor]) -> LossOutput:
        count = features["count"].sum().clamp_min(1)
        loss = features["nll"].sum() / count
        return LossOutput(loss, {"tokens": float(count)})

    # ---- validation ------------------------------------------------------------------------------

    @torch.no_grad()
    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        assert isinstance(model, ClipCapModel)
        dataset = self.dataset()
        split = get_split(dataset, self.config.val_split)
        features = self.split_features(dataset, split).to(device)
        captions = self._captions(split)
        return {
            "loss": self._mean_loss(model, features, captions),
            **self._decoded(model, features, captions),
        }

    def _mean_loss(
        self, model: ClipCapModel, features: Tensor, captions: list[tuple[int, str, str]]
    ) -> float:
        """Teacher-forced mean token loss of the captions (their items' rows in ``features``)."""
        _, pad = special_ids(self.tokenizer)
        rows = encode_captions(
            self.tokenizer, [t for _, t, _ in captions], self.config.captioner.max_caption_tokens
        )
        total = count = 0.0
        bs = self.config.eval_batch_size
        for start in range(0, len(captions), bs):
            chunk = captions[start : start + bs]
            ids, mask = pad_rows(rows[start : start + bs], pad)
            item = torch.tensor([r for r, _, _ in chunk], device=features.device)
            lang = model.language_ids([lg for _, _, lg in chunk], len(chunk))
            nll, n = model.caption_nll(
                features[item], ids.to(features.device), mask.to(features.device), lang
            )
            total, count = total + float(nll.sum()), count + float(n.sum())
        return total / max(count, 1.0)

    def _decoded(
        self, model: ClipCapModel, features: Tensor, captions: list[tuple[int, str, str]]
    ) -> dict[str, float]:
        """Greedy captions of the first ``val_max_items`` items in each language against their references."""
        from memesearch.eval.caption_metrics import caption_scores

        limit = self.config.val_max_items or len(features)
        references: dict[tuple[int, str], list[str]] = {}
        for row, text, lang in captions:
            if row < limit:
                references.setdefault((row, lang), []).append(text)
        cands: list[str] = []
        refs: list[list[str]] = []
        bs = self.config.eval_batch_size
        for code in self.config.captioner.languages:
            keys = sorted(k for k in references if k[1] == code)
            for start in range(0, len(keys), bs):
                rows = [r for r, _ in keys[start : start + bs]]
                item = torch.tensor(rows, device=features.device)
                out = generate_captions(model, self.tokenizer, features[item], DecodeConfig(lang=code))
                cands.extend(best[0].text for best in out)
                refs.extend(references[(r, code)] for r in rows)
        scores = caption_scores(cands, refs)
        exact = sum(c in r for c, r in zip(cands, refs, strict=True)) / max(1, len(cands))
        return {"BLEU-4": scores["BLEU-4"], "CIDEr-D": scores["CIDEr-D"], "exact": exact}


TASK_SPEC = TaskSpec(
    name="clipcap",
    factory=ClipCapTask,
    config_cls=ClipCapTaskConfig,
    description="CLIP-prefix captioner (ClipCap): frozen image encoder -> mapping network -> causal LM",
)
