"""CLIP4Meme rebuilt as two Tasks: ``clip4meme-qi`` (stage 1) and ``clip4meme-qc`` (stage 2).

**Stage 1, QI** (:class:`Clip4MemeQI`): towers from a CLIP checkpoint (``model_name``).

- item = :class:`~memesearch.models.qi.QIHead` over
  - the projected image feature of the CLIP vision tower (trainable, ``lr * coef_lr``);
  - the item's emotion words (joined with ", ") encoded by a **frozen copy** of the CLIP text tower
    (pooled, projected). Items without emotions get ``emotion_mask`` False — no placeholder text;
  - the item's caption tokens (captions joined with " / ", or the first one) from the same frozen copy,
    projected by ``text_projection`` into the joint space, with the key padding mask taken from the
    tokenizer's attention mask (real tokens True). Items without a caption skip the co-attention.
- query = the pooled, projected text of the trainable CLIP text tower; score = cosine times a
  learnable, clamped temperature; multi-positive symmetric InfoNCE over groups of equal query texts.

Why a frozen copy for emotions and captions: the item side then depends on the trainable towers only
through the image, and the caption token space cannot collapse while the query tower moves (the
seed's BERT emotion encoder was frozen too; CLIP's text tower avoids a second model and a second
tokenizer and works for any CLIP checkpoint, Chinese-CLIP included).

**Stage 2, QC** (:class:`Clip4MemeQC`): query vs the item's context text (captions + OCR, via
:meth:`memesearch.data.records.Item.texts`, joined with " / ") with a **separate copy** of the CLIP
text tower (``qc_text``, trainable at ``lr * coef_lr``) and its own temperature. The model holds the
whole stage-1 model under the same names, so ``init_from: <stage-1 run>`` loads it, and every QI-branch
parameter is ``FROZEN``: stage 2 cannot change what stage 1 selected (CLIP4Meme's QC fine-tuned the
shared text tower, so its QI branch drifted; research/A §1.10 bug 3). ``qc_text`` starts from the
pretrained CLIP weights of ``model_name`` (not from the stage-1 text tower, which ``init_from`` loads
only after the model is built). Items without context text are left out of QC training (logged) and
get :data:`~memesearch.models.fusion.NO_SCORE` at scoring — never an empty-string embedding.

Example::

    memesearch train --preset clip4meme-qi --set task_config.model_name=clip:/models/clip-b32 \\
        --set task_config.dataset=data/emoji --set run_name=qi
    memesearch train --preset clip4meme-qc --set task_config.model_name=clip:/models/clip-b32 \\
        --set task_config.dataset=data/emoji --set init_from=runs/qi
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memesearch.data.records import Dataset
from memesearch.errors import ConfigError
from memesearch.models.logit_scale import LogitScale
from memesearch.models.qi import QIConfig, QIHead, QIOutput
from memesearch.train.losses import contrastive_loss
from memesearch.train.task import LossOutput, ParamRole, TaskSpec
from memesearch.train.tasks.clip_towers import ClipParts, ClipTowersTask, text_features
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
        captions: ``"all"`` joins the item's captions with " / " for the co-attention; ``"first"`` uses
            the first caption only (CLIP4Meme used ``titles[0]``).
        use_emotions: feed emotion words through the gate (False: no emotion term at all).
        use_captions: feed caption tokens to the co-attention (False: no co-attention block).
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
# models


def _frozen_text_copy(clip: nn.Module) -> nn.ModuleDict:
    """A copy of the CLIP text tower and its projection with ``requires_grad`` False."""
    tower = _text_copy(clip)
    tower.requires_grad_(False)
    return tower


def _text_copy(clip: nn.Module) -> nn.ModuleDict:
    source: Any = clip
    return nn.ModuleDict(
        {"model": copy.deepcopy(source.text_model), "proj": copy.deepcopy(source.text_projection)}
    )


class Clip4MemeQI(nn.Module):
    """CLIP towers + QI head (module docstring). Texts come in as token ids; see :class:`Clip4MemeQITask`."""

    def __init__(self, parts: ClipParts, config: Clip4MemeConfig) -> None:
        super().__init__()
        self.kind = parts.kind
        self.clip = parts.model
        self.frozen_text = _frozen_text_copy(self.clip)
        dim = parts.dim
        self.qi_head = QIHead(
            QIConfig(
                dim=dim,
                emotion_dim=dim if config.use_emotions else None,
                caption_dim=dim if config.use_captions else None,
                heads=config.heads,
                dropout=config.dropout,
                gate_init=config.gate_init,
            )
        )
        self.logit_scale = LogitScale(init=config.logit_scale_init)

    def encode_query(self, ids: Tensor, mask: Tensor) -> Tensor:
        """(B, T) token ids -> (B, D) unit query embeddings (trainable text tower)."""
        clip: Any = self.clip
        _, pooled = text_features(clip.text_model, clip.text_projection, self.kind, ids, mask)
        return F.normalize(pooled, dim=-1)

    @torch.no_grad()
    def frozen_text_features(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(tokens (B, T, D), pooled (B, D)) of the frozen text copy."""
        return text_features(self.frozen_text["model"], self.frozen_text["proj"], self.kind, ids, mask)

    def encode_item(
        self,
        pixels: Tensor,
        emotion: Tensor | None,
        emotion_mask: Tensor | None,
        caption: Tensor | None,
        caption_mask: Tensor | None,
    ) -> QIOutput:
        """Image (B, 3, H, W), emotion (B, D) + (B,) mask, caption tokens (B, T, D) + (B, T) mask."""
        image = self.clip.get_image_features(pixel_values=pixels)  # type: ignore[operator]
        from memesearch.models.encoders.hf_clip import features

        return self.qi_head(features(image), emotion, emotion_mask, caption, caption_mask)


class Clip4MemeQC(Clip4MemeQI):
    """The stage-1 model (same parameter names, frozen by the Task) plus the QC text tower."""

    def __init__(self, parts: ClipParts, config: Clip4MemeConfig) -> None:
        super().__init__(parts, config)
        self.qc_text = _text_copy(self.clip)
        self.qc_logit_scale = LogitScale(init=config.logit_scale_init)

    def encode_qc_text(self, ids: Tensor, mask: Tensor) -> Tensor:
        """(B, T) token ids -> (B, D) unit embeddings of the QC tower (queries and context texts)."""
        _, pooled = text_features(self.qc_text["model"], self.qc_text["proj"], self.kind, ids, mask)
        return F.normalize(pooled, dim=-1)


# ------------------------------------------------------------------------------------------------
# tasks


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _join(texts: list[str], how: str = "all") -> str:
    return texts[0] if how == "first" else " / ".join(texts)


class Clip4MemeQITask(ClipTowersTask):
    """Stage 1: multi-positive InfoNCE between query text and the QI item embedding."""

    branch = "image"
    model_cls: type[Clip4MemeQI] = Clip4MemeQI
    config: Clip4MemeConfig

    def model_from_parts(self, parts: ClipParts) -> nn.Module:
        return self.model_cls(parts, self.config)

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
        """Frozen emotion and caption features of a batch of items (nothing for items without them)."""
        device = batch["image"].device
        n = batch["image"].shape[0]
        dim = self.parts().dim
        out: dict[str, Tensor | None] = {
            "emotion": None,
            "emotion_mask": None,
            "caption": None,
            "caption_mask": None,
        }
        if self.config.use_emotions:
            has = [bool(e) for e in batch["emotions"]]
            emotion = torch.zeros(n, dim, device=device)
            rows = [i for i, h in enumerate(has) if h]
            if rows:
                ids, mask = self.tokenize([", ".join(batch["emotions"][i]) for i in rows])
                _, pooled = model.frozen_text_features(ids.to(device), mask.to(device))
                emotion[rows] = pooled.to(emotion.dtype)
            out["emotion"] = emotion
            out["emotion_mask"] = torch.tensor(has, device=device)
        if self.config.use_captions:
            t = self.max_words
            caption = torch.zeros(n, t, dim, device=device)
            caption_mask = torch.zeros(n, t, dtype=torch.bool, device=device)
            rows = [i for i, c in enumerate(batch["captions"]) if c]
            if rows:
                ids, mask = self.tokenize([_join(batch["captions"][i], self.config.captions) for i in rows])
                tokens, _ = model.frozen_text_features(ids.to(device), mask.to(device))
                caption[rows] = tokens.to(caption.dtype)
                caption_mask[rows] = mask.to(device).bool()
            out["caption"] = caption
            out["caption_mask"] = caption_mask
        return out

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
            "context": self.encode_qc(model, [_join(c) for c in batch["context"]]),
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
            texts = [_join(contexts[j]) for j in has]
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
