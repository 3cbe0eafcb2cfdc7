"""UniCLIP (the CBVS seed's model) as a Task: contrastive training guided by the covers' text.

The model (:class:`~memesearch.models.uniclip.model.UniClipModel`) is a CLIP / Chinese-CLIP dual
encoder with two training-only heads on the image tower's token sequence (research/B §1):

* **ITC**: symmetric InfoNCE between the (query-like) title text and the cover, over the whole batch
  gathered across ranks and accumulation chunks (the loop's GradCache), temperature = the CLIP
  model's ``logit_scale`` clamped to ``[0, ln 100]``; titles of equal text are positives of each other.
* **IC** (presence head): does the cover carry text? Cross-entropy on 2-way logits.
* **ITM** (semantic head): is the candidate OCR string this cover's text? Candidates are the cover's own
  OCR (p = 0.7) or an ANN neighbour of it; covers without text get a random OCR string, label 0
  (:mod:`.uniclip_data`). The neighbour table is read from ``ann_table`` (the original
  ``ocr \\t nn_1 ... nn_k`` format) or built from the training split (:mod:`.uniclip_ann`).

Loss: ``0.8 ITC + 0.1 IC + 0.1 ITM``; with one head ``0.8 ITC + 0.2 head``; with none, ITC alone
(:func:`loss_weights`). Heads are per-sample terms, so they go through ``embed_batch`` as logits.
Serving needs none of it: ``memesearch export RUN --out DIR`` writes the plain dual encoder for
``clip:DIR`` (:mod:`memesearch.train.uniclip_export`).

Example::

    memesearch datasets build covers --out data/covers
    memesearch train --preset uniclip-small          # offline, from scratch (random-clip:chinese-clip-small)
    memesearch train --preset uniclip-small-itc      # the same run, ITC only (the ablation baseline)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memesearch.data.records import Dataset
from memesearch.errors import ConfigError
from memesearch.models.clip_towers import ClipParts, TextTokenizer
from memesearch.models.uniclip.model import UniClipArch, UniClipModel
from memesearch.train.losses import contrastive_loss
from memesearch.train.task import LossOutput, ParamRole, TaskSpec
from memesearch.train.tasks.base import retrieval_metrics
from memesearch.train.tasks.clip_towers import ClipTowersTask
from memesearch.train.tasks.retrieval_config import RetrievalConfig
from memesearch.train.tasks.samples import get_split, iterate_items, to_device, unique_texts
from memesearch.train.tasks.uniclip_ann import ANN_METHODS, build_neighbour_table
from memesearch.train.tasks.uniclip_data import (
    UniClipSamples,
    sample_source,
    training_texts,
)

log = logging.getLogger(__name__)


def loss_weights(presence: bool, semantic: bool) -> tuple[float, float, float]:
    """``(ITC, IC, ITM)`` weights of the original ``get_loss``: 0.8/0.1/0.1; 0.8/0.2 with one head; 1."""
    if presence and semantic:
        return 0.8, 0.1, 0.1
    if presence:
        return 0.8, 0.2, 0.0
    if semantic:
        return 0.8, 0.0, 0.2
    return 1.0, 0.0, 0.0


@dataclass(frozen=True)
class UniClipConfig(RetrievalConfig):
    """``task_config`` of ``uniclip`` (plus :class:`RetrievalConfig`'s keys).

    Attributes:
        presence, semantic: train the presence (IC) / semantic (ITM) head; both off = ITC alone.
        head_layers, head_heads: blocks of each head (3) and their heads (None: vision width / 64).
        ocr_context: candidate OCR length in tokens (20).
        own_ocr_prob: probability that a cover with text is shown its own OCR (0.7).
        text: training text of a cover: ``core_terms`` of its title (the seed's rule, jieba for LAC) or
            the ``title``; ``core_terms_method``: ``tfidf`` or ``textrank``.
        ann_table: the OCR neighbour table in the original format; empty = build it from the training
            split in memory; a path that does not exist = build it and write it there.
        ann_k, ann_method: neighbours per string and the embedding that builds the table (``tfidf``:
            character n-gram TF-IDF + SVD; ``e5-small``).
        augment: ``timm`` = the released recipe's augmentation (random resized crop, scale 0.9-1, flip,
            AutoAugment "original"; :mod:`.uniclip_augment`), ``none`` = the evaluation preprocessing.
        hflip: flip probability of ``augment=timm`` (timm's default 0.5).
        head_dropout: dropout of the semantic head's candidate embedding (BERT's 0.1).
    """

    max_words: int = 12
    presence: bool = True
    semantic: bool = True
    head_layers: int = 3
    head_heads: int | None = None
    ocr_context: int = 20
    own_ocr_prob: float = 0.7
    text: Literal["core_terms", "title"] = "core_terms"
    core_terms_method: Literal["tfidf", "textrank"] = "tfidf"
    ann_table: str = ""
    ann_k: int = 10
    ann_method: Literal["tfidf", "e5-small"] = "tfidf"
    augment: Literal["none", "timm"] = "none"
    hflip: float = 0.5
    head_dropout: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.own_ocr_prob <= 1:
            raise ConfigError(
                f"task_config.own_ocr_prob: got {self.own_ocr_prob!r}, expected a fraction in [0, 1]"
            )
        if self.head_layers < 1:
            raise ConfigError(f"task_config.head_layers: got {self.head_layers}, expected an integer >= 1")
        if self.ocr_context < 3:
            raise ConfigError(f"task_config.ocr_context: got {self.ocr_context}, expected an integer >= 3")
        if self.ann_k < 1:
            raise ConfigError(f"task_config.ann_k: got {self.ann_k}, expected an integer >= 1")
        if self.ann_method not in ANN_METHODS:
            raise ConfigError(
                f"task_config.ann_method: got {self.ann_method!r}, expected one of {ANN_METHODS}"
            )
        if not 0 <= self.head_dropout < 1:
            raise ConfigError(
                f"task_config.head_dropout: got {self.head_dropout!r}, expected a fraction in [0, 1)"
            )
        if not 0 <= self.hflip <= 1:
            raise ConfigError(f"task_config.hflip: got {self.hflip!r}, expected a fraction in [0, 1]")


def no_decay(name: str, param: nn.Parameter) -> bool:
    """The original's rule (no weight decay for norms, biases and the logit scale), by name and shape:
    a name part holding ``norm`` or starting with ``ln``/``bn``, a ``bias``, ``logit_scale``."""
    parts = name.lower().split(".")
    if parts[-1].endswith("bias") or "logit_scale" in parts[-1]:
        return True
    return any("norm" in p or p.startswith(("ln", "bn")) for p in parts)


class UniClipTask(ClipTowersTask):
    """UniCLIP: ITC + presence head + semantic head over CLIP towers (module docstring)."""

    branch = "image"
    config: UniClipConfig

    def __init__(self, config: UniClipConfig) -> None:
        super().__init__(config)
        self._table: dict[str, list[str]] | None = None

    def model_from_parts(self, parts: ClipParts) -> nn.Module:
        return UniClipModel(parts, UniClipArch.from_settings(self.config))

    @property
    def weights(self) -> tuple[float, float, float]:
        return loss_weights(self.config.presence, self.config.semantic)

    @property
    def candidate_tokenize(self) -> TextTokenizer:
        return TextTokenizer(self.parts().tokenizer, self.parts().max_words(self.config.ocr_context))

    def param_role(self, name: str, param: nn.Parameter) -> ParamRole:
        return ParamRole.PRETRAINED if name.startswith("clip.") else ParamRole.NEW

    def no_weight_decay(self, name: str, param: nn.Parameter) -> bool:
        return no_decay(name, param)

    def after_optimizer_step(self, model: nn.Module) -> None:
        assert isinstance(model, UniClipModel)
        model.clamp_logit_scale_()

    # ---- data

    def neighbour_table(self) -> dict[str, list[str]]:
        """The OCR neighbour table (read from ``ann_table``, or built from the training split)."""
        from memesearch.data.ocr_neighbours import read_neighbour_table, write_neighbour_table

        if self._table is None:
            path = Path(self.config.ann_table) if self.config.ann_table else None
            if path is not None and path.is_file():
                self._table = read_neighbour_table(path)
                log.info("OCR neighbour table: %d strings read from %s", len(self._table), path)
            else:
                split = get_split(self.dataset(), self.config.train_split)
                self._table = build_neighbour_table(
                    [it.ocr for it in split.items], k=self.config.ann_k, method=self.config.ann_method
                )
                if path is not None:
                    write_neighbour_table(self._table, path)
                    log.info("OCR neighbour table written to %s", path)
        return self._table

    def train_dataset(self) -> UniClipSamples:
        dataset = self.dataset()
        split = get_split(dataset, self.config.train_split)
        texts = training_texts(split.items, self.config.text, self.config.core_terms_method)
        table = self.neighbour_table() if self.config.semantic else {}
        source = sample_source(split, dataset.root, texts, table)
        augment = None
        if self.config.augment == "timm":
            from memesearch.train.tasks.uniclip_augment import TimmStyleAugment

            augment = TimmStyleAugment(hflip=self.config.hflip)
        log.info("UniCLIP training covers: %d (%d distinct texts), loss weights ITC/IC/ITM %s",
                 len(source.texts), len(set(source.texts)), self.weights)  # fmt: skip
        return UniClipSamples(
            source,
            self.parts().preprocess,
            own_prob=self.config.own_ocr_prob,
            semantic=self.config.semantic,
            augment=augment,
        )

    # ---- features and loss

    def encode_queries(self, model: UniClipModel, texts: list[str]) -> Tensor:
        ids, mask = self.tokenize(texts)
        device = next(model.parameters()).device
        return model.encode_text(ids.to(device), mask.to(device))

    def embed_batch(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        assert isinstance(model, UniClipModel)
        return self.head_features(model, model.encode_image(batch["image"]), batch)

    def head_features(self, model: Any, image: Any, batch: Any) -> dict[str, Tensor]:
        """The loss's features of a batch whose images ``model`` encoded to ``image`` (an
        :class:`~memesearch.models.uniclip.model.ImageOutput`): text and image embeddings, groups, and
        the heads' logits and labels when the model has them."""
        out = {
            "text": self.encode_queries(model, batch["text"]),
            "image": image.embedding,
            "group": batch["group"],
        }
        if model.presence is not None:
            out["presence_logits"] = model.presence_logits(image.tokens)
            out["presence_label"] = batch["presence"]
        if model.semantic is not None:
            ids, mask = self.candidate_tokenize(batch["candidate"])
            device = image.tokens.device
            out["semantic_logits"] = model.semantic_logits(image.tokens, ids.to(device), mask.to(device))
            out["semantic_label"] = batch["match"]
        return out

    def loss(self, model: nn.Module, features: Mapping[str, Tensor]) -> LossOutput:
        scale: Tensor = model.logit_scale()  # type: ignore[operator]  # UniClipModel or the starter's
        itc = contrastive_loss(features["text"], features["image"], features["group"], scale)
        w_itc, w_ic, w_itm = self.weights
        loss = w_itc * itc
        metrics: dict[str, Any] = {"itc": itc.detach(), "logit_scale": scale.detach()}
        for key, weight in (("presence", w_ic), ("semantic", w_itm)):
            if f"{key}_logits" not in features:
                continue
            logits, labels = features[f"{key}_logits"], features[f"{key}_label"]
            part = F.cross_entropy(logits.float(), labels)
            loss = loss + weight * part
            metrics[key] = part.detach()
            metrics[f"{key}_acc"] = (logits.argmax(dim=1) == labels).float().mean().detach()
        return LossOutput(loss, metrics)

    # ---- scoring and validation

    @torch.no_grad()
    def encode_split(
        self,
        model: UniClipModel,
        dataset: Dataset,
        split: str,
        *,
        device: str | torch.device,
        batch_size: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(queries (Q, D), items (N, D), presence probability of each item (N,) or None)``, unit rows."""
        sp = get_split(dataset, split)
        was_training = model.training
        model.eval()
        try:
            loader = iterate_items(
                dataset, sp, self.parts().preprocess, oracle_captions=True, batch_size=batch_size
            )
            items, present = [], []
            for batch in loader:
                image = model.encode_image(to_device(batch, device)["image"])
                items.append(image.embedding.float().cpu())
                if model.presence is not None:
                    present.append(model.presence_logits(image.tokens).float().softmax(dim=1)[:, 1].cpu())
            distinct, where = unique_texts([q.text for q in sp.queries])
            chunks = [self.encode_queries(model, distinct[i : i + batch_size]).float().cpu()
                      for i in range(0, len(distinct), batch_size)]  # fmt: skip
        finally:
            model.train(was_training)
        clip: Any = model.clip
        dim = int(clip.config.projection_dim)
        v = torch.cat(items).numpy() if items else np.zeros((0, dim), np.float32)
        q = torch.cat(chunks).numpy()[where] if chunks else np.zeros((0, dim), np.float32)
        p = torch.cat(present).numpy() if present else None
        return q, v, p

    def score_split(
        self,
        model: nn.Module,
        dataset: Dataset,
        split: str,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ) -> np.ndarray:
        assert isinstance(model, UniClipModel)
        q, v, _ = self.encode_split(model, dataset, split, device=device, batch_size=batch_size)
        return np.asarray(q @ v.T, dtype=np.float32)

    @torch.no_grad()
    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """R@1/5/10, MdR, MnR, MAP on the validation split, and the presence head's accuracy there."""
        assert isinstance(model, UniClipModel)
        dataset = self.dataset()
        sp = get_split(dataset, self.config.val_split)
        q, v, p = self.encode_split(
            model, dataset, sp.name, device=device, batch_size=self.config.eval_batch_size
        )
        metrics = retrieval_metrics(np.asarray(q @ v.T, dtype=np.float32), sp)
        if p is not None:
            metrics["presence_acc"] = presence_accuracy(p, [it.ocr for it in sp.items])
        return metrics


def presence_accuracy(probability: np.ndarray, ocr: list[str | None]) -> float:
    """Accuracy of "carries text" (probability > 0.5) against ``ocr is not None``."""
    truth = np.array([o is not None and bool(o.strip()) for o in ocr])
    return float(np.mean((probability > 0.5) == truth)) if len(truth) else float("nan")


TASK_SPEC = TaskSpec(
    name="uniclip",
    factory=UniClipTask,
    config_cls=UniClipConfig,
    description="UniCLIP (CBVS): ITC + OCR presence head (IC) + OCR semantic head (ITM, ANN negatives)",
)
