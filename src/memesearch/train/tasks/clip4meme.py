"""CLIP4Meme rebuilt as two Tasks: ``clip4meme-qi`` (stage 1) and ``clip4meme-qc`` (stage 2).

The networks are :mod:`memesearch.models.clip4meme` (so ``memesearch index --model checkpoint:RUN`` serves
them without importing training); this module holds what training adds: data, losses, frozen parameters.

**Stage 1, QI** (:class:`~memesearch.models.clip4meme.Clip4MemeQI`): towers from a CLIP checkpoint
(``model_name``).

- item = :class:`~memesearch.models.qi.QIHead` over
  - the projected image feature of the CLIP vision tower (trainable, ``lr * coef_lr``);
  - the item's emotion words (joined with ", ") encoded by a **frozen copy** of the CLIP text tower
    (pooled, projected). Items without emotions get ``emotion_mask`` False — no placeholder text;
  - the token states of the item's context text (captions, then its readable OCR text, joined by
    newlines, or the first one: :func:`~memesearch.models.clip4meme.item_text`) from the same frozen
    copy, projected by ``text_projection`` into the joint space, with the key padding mask taken from
    the tokenizer's attention mask (real tokens True). Items without context text skip the
    co-attention. (CLIP4Meme read titles only; a person's folder has OCR text and no titles, so the
    co-attention reads what the index holds.)
- query = the pooled, projected text of the trainable CLIP text tower; score = cosine times a
  learnable, clamped temperature; multi-positive symmetric InfoNCE over groups of equal query texts.

Why a frozen copy for emotions and captions: the item side then depends on the trainable towers only
through the image, and the caption token space cannot collapse while the query tower moves (the
seed's BERT emotion encoder was frozen too; CLIP's text tower avoids a second model and a second
tokenizer and works for any CLIP checkpoint, Chinese-CLIP included).

**Stage 2, QC** (:class:`~memesearch.models.clip4meme.Clip4MemeQC`): query vs the item's context text
(captions + OCR, :meth:`memesearch.data.records.Item.passage`: joined by newlines, what the index
embeds) with a **separate copy** of the CLIP text tower (``qc_text``, trainable at ``lr * coef_lr``) and
its own temperature. The model holds the whole stage-1 model under the same names, so
``init_from: <stage-1 run>`` loads it, and every QI-branch parameter is ``FROZEN``: stage 2 cannot
change what stage 1 selected (CLIP4Meme's QC fine-tuned the shared text tower, so its QI branch
drifted; research/A §1.10 bug 3). ``qc_text`` starts from the pretrained CLIP weights of
``model_name`` (not from the stage-1 text tower, which ``init_from`` loads only after the model is
built). Items without context text are left out of QC training (logged) and get
:data:`~memesearch.models.fusion.NO_SCORE` at scoring — never an empty-string embedding.

Example::

    memesearch train --preset clip4meme-qi --set task_config.model_name=clip:/models/clip-b32 \\
        --set task_config.dataset=data/emoji --set run_name=qi
    memesearch train --preset clip4meme-qc --set task_config.model_name=clip:/models/clip-b32 \\
        --set task_config.dataset=data/emoji --set init_from=runs/qi
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from memesearch.data.records import Dataset
from memesearch.errors import ConfigError
from memesearch.models.clip4meme import Clip4MemeArch, Clip4MemeQC, Clip4MemeQI, emotion_words, item_text
from memesearch.models.clip_towers import ClipParts
from memesearch.models.qi import QIOutput
from memesearch.train.losses import contrastive_loss
from memesearch.train.task import LossOutput, ParamRole, TaskSpec
from memesearch.train.tasks.clip_towers import ClipTowersTask
from memesearch.train.tasks.retrieval_config import RetrievalConfig
from memesearch.train.tasks.samples import (
    RetrievalPairs,
    get_split,
    iterate_items,
    pairs_dataset,
    to_device,
    unique_texts,
)

# ------------------------------------------------------------------------------------------------
# config


@dataclass(frozen=True)
class Clip4MemeConfig(RetrievalConfig):
    """``task_config`` of ``clip4meme-qi`` and ``clip4meme-qc`` (plus :class:`RetrievalConfig`'s keys).

    Attributes:
        captions: ``"all"`` joins the item's context texts by newlines for the co-attention; ``"first"``
            uses the first one only (CLIP4Meme used ``titles[0]``).
        use_emotions: feed emotion words through the gate (False: no emotion term at all).
        use_captions: feed context-text tokens to the co-attention (False: no co-attention block).
        heads, dropout, gate_init: of the QI head (:class:`~memesearch.models.qi.QIConfig`).
        logit_scale_init: initial temperature ``1 / tau`` (CLIP4Meme: 1 / 0.07).
    """

    captions: Literal["all", "first"] = "all"
    use_emotions: bool = True
    use_captions: bool = True
    heads: int = 8
    dropout: float = 0.1
    gate_init: float = 0.1
    logit_scale_init: float = 1 / 0.07

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"task_config.dropout: got {self.dropout!r}, expected a fraction in [0, 1)")
        if not 1 <= self.logit_scale_init <= 100:
            raise ConfigError(
                f"task_config.logit_scale_init: got {self.logit_scale_init!r}, expected a number in [1, 100]"
            )


# ------------------------------------------------------------------------------------------------
# tasks


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


class Clip4MemeQITask(ClipTowersTask):
    """Stage 1: multi-positive InfoNCE between query text and the QI item embedding."""

    branch = "image"
    model_cls: type[Clip4MemeQI] = Clip4MemeQI
    config: Clip4MemeConfig

    def model_from_parts(self, parts: ClipParts) -> nn.Module:
        return self.model_cls(parts, Clip4MemeArch.from_settings(self.config))

    def param_role(self, name: str, param: nn.Parameter) -> ParamRole:
        if name.startswith("frozen_text.") or name == "clip.logit_scale":  # CLIP's own scale is unused
            return ParamRole.FROZEN
        if name.startswith("clip."):
            return ParamRole.PRETRAINED
        return ParamRole.NEW

    def set_train_mode(self, model: nn.Module) -> None:
        model.train()
        assert isinstance(model, Clip4MemeQI)
        model.frozen_text.eval()

    def train_dataset(self) -> RetrievalPairs:
        return pairs_dataset(self.config, self.parts().preprocess)

    # ---- features

    def item_inputs(self, model: Clip4MemeQI, batch: Mapping[str, Any]) -> dict[str, Tensor | None]:
        """Frozen emotion and context-text features of a batch of items (nothing for items without them):
        the same :meth:`~memesearch.models.clip4meme.Clip4MemeQI.item_inputs` serving calls."""
        device = batch["image"].device
        n = batch["image"].shape[0]
        emotions = [emotion_words(e) for e in batch["emotions"]] if self.config.use_emotions else None
        texts = None
        if self.config.use_captions:
            texts = [item_text(c, self.config.captions) for c in batch["context"]]
        return model.item_inputs(self.tokenize, emotions, texts, n=n, device=device)

    def encode_items(self, model: Clip4MemeQI, batch: Mapping[str, Any]) -> QIOutput:
        """(B, D) unit QI embeddings of a batch of items (no query involved)."""
        return model.encode_item(batch["image"], **self.item_inputs(model, batch))

    def encode_queries(self, model: Clip4MemeQI, texts: list[str]) -> Tensor:
        ids, mask = self.tokenize(texts)
        device = _model_device(model)
        return model.encode_query(ids.to(device), mask.to(device))

    def embed_batch(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        assert isinstance(model, Clip4MemeQI)
        return {
            "query": self.encode_queries(model, batch["query"]),
            "item": self.encode_items(model, batch).embedding,
            "group": batch["group"],
        }

    def loss(self, model: nn.Module, features: Mapping[str, Tensor]) -> LossOutput:
        assert isinstance(model, Clip4MemeQI)
        scale = model.logit_scale()
        loss = contrastive_loss(features["query"], features["item"], features["group"], scale)
        return LossOutput(loss, {"logit_scale": scale.detach()})

    # ---- scoring

    def _query_matrix(self, model: Clip4MemeQI, texts: list[str], batch_size: int, encode: Any) -> np.ndarray:
        distinct, where = unique_texts(texts)
        chunks = [encode(model, distinct[i : i + batch_size]) for i in range(0, len(distinct), batch_size)]
        q = torch.cat(chunks).float().cpu().numpy() if chunks else np.zeros((0, 1), np.float32)
        return np.asarray(q[where], dtype=np.float32)

    @torch.no_grad()
    def score_qi(
        self, model: Clip4MemeQI, dataset: Dataset, split: str, *, device: str | torch.device, batch_size: int
    ) -> np.ndarray:
        """(Q, N) QI cosine scores of ``split``."""
        sp = get_split(dataset, split)
        was_training = model.training
        model.eval()
        try:
            loader = iterate_items(
                dataset, sp, self.parts().preprocess, oracle_captions=self.config.oracle_captions,
                batch_size=batch_size,
            )  # fmt: skip
            items = [self.encode_items(model, to_device(b, device)).embedding.float().cpu() for b in loader]
            v = torch.cat(items).numpy() if items else np.zeros((0, self.parts().dim), np.float32)
            q = self._query_matrix(model, [x.text for x in sp.queries], batch_size, self.encode_queries)
        finally:
            model.train(was_training)
        return np.asarray(q @ v.T, dtype=np.float32).reshape(len(sp.queries), len(sp.items))

    def score_split(
        self,
        model: nn.Module,
        dataset: Dataset,
        split: str,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ) -> np.ndarray:
        assert isinstance(model, Clip4MemeQI)
        return self.score_qi(model, dataset, split, device=device, batch_size=batch_size)


class Clip4MemeQCTask(Clip4MemeQITask):
    """Stage 2: multi-positive InfoNCE between query and context text; the QI branch is frozen."""

    branch = "text"
    model_cls = Clip4MemeQC

    def param_role(self, name: str, param: nn.Parameter) -> ParamRole:
        if name.startswith("qc_text."):
            return ParamRole.PRETRAINED
        if name.startswith("qc_logit_scale."):
            return ParamRole.NEW
        return ParamRole.FROZEN  # the whole stage-1 model: clip, frozen_text, qi_head, logit_scale

    def set_train_mode(self, model: nn.Module) -> None:
        model.eval()  # frozen stage-1 parts: dropout off
        assert isinstance(model, Clip4MemeQC)
        model.qc_text.train()

    def train_dataset(self) -> RetrievalPairs:
        # no images needed; pairs whose item has no context text cannot train QC

        oracle = self.config.oracle_captions
        return pairs_dataset(
            self.config,
            None,
            keep=lambda item: bool(item.texts(oracle_captions=oracle)),
            what="their item has no context text (no caption, no OCR)",
        )

    def encode_qc(self, model: Clip4MemeQC, texts: list[str]) -> Tensor:
        ids, mask = self.tokenize(texts)
        device = _model_device(model)
        return model.encode_qc_text(ids.to(device), mask.to(device))

    def embed_batch(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        assert isinstance(model, Clip4MemeQC)
        return {
            "query": self.encode_qc(model, batch["query"]),
            "context": self.encode_qc(model, ["\n".join(c) for c in batch["context"]]),
            "group": batch["group"],
        }

    def loss(self, model: nn.Module, features: Mapping[str, Tensor]) -> LossOutput:
        assert isinstance(model, Clip4MemeQC)
        scale = model.qc_logit_scale()
        loss = contrastive_loss(features["query"], features["context"], features["group"], scale)
        return LossOutput(loss, {"logit_scale": scale.detach()})

    @torch.no_grad()
    def score_qc(
        self, model: Clip4MemeQC, dataset: Dataset, split: str, *, device: str | torch.device, batch_size: int
    ) -> np.ndarray:
        """(Q, N) QC cosine scores; items without context text get ``NO_SCORE``."""
        from memesearch.models.fusion import NO_SCORE

        sp = get_split(dataset, split)
        contexts = [it.texts(oracle_captions=self.config.oracle_captions) for it in sp.items]
        has = [j for j, c in enumerate(contexts) if c]
        scores = np.full((len(sp.queries), len(sp.items)), NO_SCORE, dtype=np.float32)
        was_training = model.training
        model.eval()
        try:
            texts = ["\n".join(contexts[j]) for j in has]
            chunks = [
                self.encode_qc(model, texts[i : i + batch_size]).float().cpu()
                for i in range(0, len(texts), batch_size)
            ]
            q = self._query_matrix(model, [x.text for x in sp.queries], batch_size, self.encode_qc)
        finally:
            model.train(was_training)
        if chunks and len(sp.queries):
            scores[:, has] = q @ torch.cat(chunks).numpy().T
        return scores

    def score_split(
        self,
        model: nn.Module,
        dataset: Dataset,
        split: str,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ) -> np.ndarray:
        assert isinstance(model, Clip4MemeQC)
        return self.score_qc(model, dataset, split, device=device, batch_size=batch_size)

    def score_branches(
        self,
        model: nn.Module,
        dataset: Dataset,
        split: str,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ) -> dict[str, np.ndarray]:
        assert isinstance(model, Clip4MemeQC)
        return {
            "image": self.score_qi(model, dataset, split, device=device, batch_size=batch_size),
            "text": self.score_qc(model, dataset, split, device=device, batch_size=batch_size),
        }


QI_TASK_SPEC = TaskSpec(
    name="clip4meme-qi",
    factory=Clip4MemeQITask,
    config_cls=Clip4MemeConfig,
    description="CLIP4Meme stage 1: query vs image + emotion gate + caption co-attention (QI)",
)
QC_TASK_SPEC = TaskSpec(
    name="clip4meme-qc",
    factory=Clip4MemeQCTask,
    config_cls=Clip4MemeConfig,
    description="CLIP4Meme stage 2: query vs context text (QC), stage-1 QI branch frozen (init_from)",
)
