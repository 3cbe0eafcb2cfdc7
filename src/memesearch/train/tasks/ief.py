"""The IEF / Cap4Video-style Task ``ief``, compact (research/A §2.4, §3.2, §3.3), in two stages.

**Stage ``qi``** — token-wise interaction (DRL ``wti``). Query = the CLIP text tower's projected token
states ``(Tq, D)``; item = the CLIP vision tower's projected CLS + patch tokens followed by the
projected token states of the item's context text (captions, then OCR, joined by newlines:
:func:`~memesearch.models.clip4meme.item_text`; none for an item without text), ``(1 + P + Tc, D)``,
with padding masks from the tokenizer. The network is :mod:`memesearch.models.ief` (served by
``checkpoint:<run>``). With unit tokens ``s_ij = <q_i, v_j>``::

    w = softmax_i over valid query tokens of f_t(q_i)     u = softmax_j over valid item tokens of f_v(v_j)
    t2v = sum_i w_i max_j s_ij          v2t = sum_j u_j max_i s_ij          score = (t2v + v2t) / 2

where ``f_t``, ``f_v`` are Linear–ReLU–Linear(→1) weight heads. The score is in [-1, 1] (a weighted
mean of cosines) and is multiplied by a learnable, clamped temperature in the loss. The item side
never sees the query; its tokens are computed alone, and the interaction happens in the score.
Emotions are not used here (IEF put them in an image channel; keep CLIP4Meme for the emotion gate).

**Stage ``qc``** — caption transformer (``transf_avg``): the item's context text (captions + OCR,
joined by newlines) is encoded to token states by the stage-1 text tower, a learned positional embedding is
added, a small ``nn.TransformerEncoder`` (``caption_layers`` layers, FFN width D, no dropout, as
Cap4Video) runs with the key padding mask, and the valid tokens are averaged; cosine with the pooled
query. ``init_from`` the stage-1 run: every stage-1 tensor (CLIP towers, ``wti`` heads, temperature) is
``FROZEN`` — stage 2 trains only the caption transformer and its temperature, so the selected QI
model is unchanged (Cap4Video froze the shared text blocks too). Items without context text are left
out of training and scored :data:`~memesearch.models.fusion.NO_SCORE`.

**Fusion**: :meth:`IEFTask.fused_scores` weighs QI and QC with weights chosen on the validation split
(:func:`memesearch.eval.fusion_weights.select_weights`); stage-``qc`` validation also reports the fused
metrics (``fused_R@10``, ...) and the chosen ``fusion_w_image``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from memesearch.data.records import Dataset
from memesearch.errors import ConfigError
from memesearch.models.clip4meme import item_text
from memesearch.models.clip_towers import ClipParts
from memesearch.models.ief import IEFArch, IEFModel
from memesearch.train.losses import multi_positive_infonce
from memesearch.train.task import LossOutput, ParamRole, TaskSpec
from memesearch.train.tasks.base import retrieval_metrics
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


@dataclass(frozen=True)
class IEFConfig(RetrievalConfig):
    """``task_config`` of ``ief`` (plus :class:`RetrievalConfig`'s keys).

    Attributes:
        stage: ``"qi"`` (token-wise interaction) or ``"qc"`` (caption transformer; ``init_from`` stage 1).
        caption_layers, caption_heads: size of the QC caption transformer.
        logit_scale_init: initial temperature of both branches.
        fusion_grid: step of the QI/QC weight grid searched on the validation split.
    """

    stage: Literal["qi", "qc"] = "qi"
    caption_layers: int = 2
    caption_heads: int = 8
    logit_scale_init: float = 1 / 0.07
    fusion_grid: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.caption_layers < 1 or self.caption_heads < 1:
            raise ConfigError(
                "task_config.caption_layers / caption_heads: "
                f"got {self.caption_layers} / {self.caption_heads}, "
                "expected integers >= 1"
            )
        if not 0 < self.fusion_grid <= 0.5:
            raise ConfigError(f"task_config.fusion_grid: got {self.fusion_grid}, expected a step in (0, 0.5]")


_QI_PREFIXES = ("clip.", "wti_text.", "wti_item.", "logit_scale.")
_QC_PREFIXES = ("caption_position.", "caption_transformer.", "qc_logit_scale.")


class IEFTask(ClipTowersTask):
    """Stage ``qi`` or ``qc`` of the IEF model (module docstring)."""

    config: IEFConfig

    def __init__(self, config: IEFConfig) -> None:
        super().__init__(config)
        self.branch = "image" if config.stage == "qi" else "text"  # the search branch it scores

    def model_from_parts(self, parts: ClipParts) -> nn.Module:
        return IEFModel(parts, IEFArch.from_settings(self.config), self.max_words)

    def param_role(self, name: str, param: nn.Parameter) -> ParamRole:
        if name == "clip.logit_scale":  # CLIP's own temperature is not used
            return ParamRole.FROZEN
        trained = _QI_PREFIXES if self.config.stage == "qi" else _QC_PREFIXES
        if not name.startswith(trained):
            return ParamRole.FROZEN
        return ParamRole.PRETRAINED if name.startswith("clip.") else ParamRole.NEW

    def set_train_mode(self, model: nn.Module) -> None:
        assert isinstance(model, IEFModel)
        model.eval()
        if self.config.stage == "qi":
            model.clip.train()
            model.wti_text.train()
            model.wti_item.train()
        else:
            model.caption_transformer.train()

    def train_dataset(self) -> RetrievalPairs:
        if self.config.stage == "qi":
            return pairs_dataset(self.config, self.parts().preprocess)

        oracle = self.config.oracle_captions
        return pairs_dataset(
            self.config,
            None,
            keep=lambda item: bool(item.texts(oracle_captions=oracle)),
            what="their item has no context text (no caption, no OCR)",
        )

    # ---- features

    def _ids(self, model: nn.Module, texts: list[str]) -> tuple[Tensor, Tensor]:
        ids, mask = self.tokenize(texts)
        device = next(model.parameters()).device
        return ids.to(device), mask.to(device)

    def query_tokens(self, model: IEFModel, texts: list[str]) -> tuple[Tensor, Tensor]:
        ids, mask = self._ids(model, texts)
        tokens, _ = model.text(ids, mask)
        return tokens, mask

    def item_tokens(self, model: IEFModel, batch: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
        """(B, 1 + P + T, D) image + context-text tokens and their (B, 1 + P + T) mask (int64, 1 = valid)."""
        return model.item_tokens(batch["image"], self.tokenize, [item_text(c) for c in batch["context"]])

    def query_pooled(self, model: IEFModel, texts: list[str]) -> Tensor:
        ids, mask = self._ids(model, texts)
        return F.normalize(model.text(ids, mask)[1], dim=-1)

    def context_embedding(self, model: IEFModel, contexts: list[list[str]]) -> Tensor:
        ids, mask = self._ids(model, ["\n".join(c) for c in contexts])
        return model.caption_embedding(ids, mask)

    def embed_batch(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        assert isinstance(model, IEFModel)
        if self.config.stage == "qi":
            q, qm = self.query_tokens(model, batch["query"])
            v, vm = self.item_tokens(model, batch)
            return {
                "query": q,
                "query_mask": qm.to(torch.int64),
                "item": v,
                "item_mask": vm,
                "group": batch["group"],
            }
        return {
            "query": self.query_pooled(model, batch["query"]),
            "context": self.context_embedding(model, batch["context"]),
            "group": batch["group"],
        }

    def loss(self, model: nn.Module, features: Mapping[str, Tensor]) -> LossOutput:
        assert isinstance(model, IEFModel)
        if self.config.stage == "qi":
            scale = model.logit_scale()
            sim = model.wti(
                features["query"], features["query_mask"], features["item"], features["item_mask"]
            )
        else:
            scale = model.qc_logit_scale()
            sim = features["query"] @ features["context"].t()
        loss = multi_positive_infonce(scale * sim, features["group"])
        return LossOutput(loss, {"logit_scale": scale.detach()})

    # ---- scoring

    @torch.no_grad()
    def score_qi(
        self, model: IEFModel, dataset: Dataset, split: str, *, device: str | torch.device, batch_size: int
    ) -> np.ndarray:
        """(Q, N) ``wti`` scores of ``split`` (in [-1, 1], no temperature)."""
        sp = get_split(dataset, split)
        loader = iterate_items(
            dataset,
            sp,
            self.parts().preprocess,
            oracle_captions=self.config.oracle_captions,
            batch_size=batch_size,
        )
        items = [self.item_tokens(model, to_device(b, device)) for b in loader]
        distinct, where = unique_texts([q.text for q in sp.queries])
        rows = []
        for start in range(0, len(distinct), batch_size):
            q, qm = self.query_tokens(model, distinct[start : start + batch_size])
            rows.append(torch.cat([model.wti(q, qm, v, vm) for v, vm in items], dim=1).float().cpu())
        if not rows or not items:
            return np.zeros((len(sp.queries), len(sp.items)), dtype=np.float32)
        return np.asarray(torch.cat(rows).numpy()[where], dtype=np.float32)

    @torch.no_grad()
    def score_qc(
        self, model: IEFModel, dataset: Dataset, split: str, *, device: str | torch.device, batch_size: int
    ) -> np.ndarray:
        """(Q, N) caption-transformer cosine scores; items without context text get ``NO_SCORE``."""
        from memesearch.models.fusion import NO_SCORE

        sp = get_split(dataset, split)
        contexts = [it.texts(oracle_captions=self.config.oracle_captions) for it in sp.items]
        has = [j for j, c in enumerate(contexts) if c]
        scores = np.full((len(sp.queries), len(sp.items)), NO_SCORE, dtype=np.float32)
        if not has or not sp.queries:
            return scores
        c = torch.cat(
            [
                self.context_embedding(model, [contexts[j] for j in has[i : i + batch_size]])
                for i in range(0, len(has), batch_size)
            ]
        )
        distinct, where = unique_texts([q.text for q in sp.queries])
        q = torch.cat(
            [
                self.query_pooled(model, distinct[i : i + batch_size])
                for i in range(0, len(distinct), batch_size)
            ]
        )
        scores[:, has] = (q @ c.t()).float().cpu().numpy()[where]
        return scores

    def _scored(
        self, fn: Any, model: nn.Module, dataset: Dataset, split: str, device: Any, batch_size: int
    ) -> np.ndarray:
        assert isinstance(model, IEFModel)
        was_training = model.training
        model.eval()
        try:
            return np.asarray(fn(model, dataset, split, device=device, batch_size=batch_size))
        finally:
            model.train(was_training)

    def score_split(
        self,
        model: nn.Module,
        dataset: Dataset,
        split: str,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ) -> np.ndarray:
        fn = self.score_qi if self.config.stage == "qi" else self.score_qc
        return self._scored(fn, model, dataset, split, device, batch_size)

    def score_branches(
        self,
        model: nn.Module,
        dataset: Dataset,
        split: str,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ) -> dict[str, np.ndarray]:
        """QI always; QC too in stage ``qc`` (in stage ``qi`` the caption transformer is untrained)."""
        out = {"image": self._scored(self.score_qi, model, dataset, split, device, batch_size)}
        if self.config.stage == "qc":
            out["text"] = self._scored(self.score_qc, model, dataset, split, device, batch_size)
        return out

    def fused_scores(
        self,
        model: nn.Module,
        dataset: Dataset,
        split: str,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
        val_branches: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, dict[str, float]]:
        """QI/QC fused scores of ``split``, weights chosen on ``val_split`` (R@10): ``(scores, weights)``.

        ``val_branches`` passes already computed validation scores (avoids scoring the split twice).
        """
        from memesearch.eval.fusion_weights import select_weights
        from memesearch.models.fusion import NO_SCORE, fuse_scores

        if self.config.stage != "qc":
            raise ConfigError("fusion needs the QC branch: use a stage-qc IEF run (task_config.stage=qc)")
        val = get_split(dataset, self.config.val_split)
        if val_branches is None:
            val_branches = self.score_branches(model, dataset, val.name, device=device, batch_size=batch_size)
        selection = select_weights(
            {k: _nan_missing(v) for k, v in val_branches.items()},
            val.qrels(),
            val.item_ids(),
            [q.id for q in val.queries],
            split_name=val.name,
            grid=self.config.fusion_grid,
            metric="R@10",
        )
        branches = (
            val_branches
            if split == val.name
            else self.score_branches(model, dataset, split, device=device, batch_size=batch_size)
        )
        fused = fuse_scores({k: _nan_missing(v) for k, v in branches.items()}, selection.weights)
        return np.nan_to_num(fused, nan=NO_SCORE).astype(np.float32), dict(selection.weights)

    @torch.no_grad()
    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        dataset = self.dataset()
        val = get_split(dataset, self.config.val_split)
        bs = self.config.eval_batch_size
        if self.config.stage == "qi":
            return retrieval_metrics(
                self.score_split(model, dataset, val.name, device=device, batch_size=bs), val
            )
        branches = self.score_branches(model, dataset, val.name, device=device, batch_size=bs)
        out = retrieval_metrics(branches["text"], val)
        fused, weights = self.fused_scores(model, dataset, val.name, device=device, val_branches=branches)
        out.update({f"fused_{k}": v for k, v in retrieval_metrics(fused, val).items()})
        out["fusion_w_image"] = float(weights.get("image", 0.0))
        return out


def _nan_missing(scores: np.ndarray) -> np.ndarray:
    from memesearch.models.fusion import NO_SCORE

    return np.where(scores == NO_SCORE, np.nan, scores)


TASK_SPEC = TaskSpec(
    name="ief",
    factory=IEFTask,
    config_cls=IEFConfig,
    description="IEF / Cap4Video-style: token-wise interaction (QI, stage qi), "
    "caption transformer (QC, stage qc)",
)
