"""Task ``object-guided``: fine-tune the starter image tower on regions of collages against emoji names.

Issue 14 item 4 (research C §1.8.3). The text side is frozen e5-small (the starter's text tower, cached
by :class:`~memesearch.models.starter.text_cache.TextEmbeddingCache`); the image side is
:class:`~memesearch.models.object_guided.ObjectGuidedModel`, the starter tower initialised from the
committed starter weights, with an optional zero-initialised alpha (mask) input.

One training sample is one collage with all its truth regions (the benchmark's ``objects`` boxes, masks
matched from the ``auto`` segmenter when ``mask_source: auto``), so the loop's batches always hold every
region of a collage together: the other emoji of the same collage, same background and same drawing
style, are the hardest negatives of each name. The loss of a batch (:meth:`ObjectGuidedTask.loss`):

* ``region``: the names (en and zh query texts of the split) of the emoji in the batch vs its regions,
  symmetric InfoNCE with an explicit positive matrix
  (:func:`~memesearch.train.losses.infonce_with_positives`):
  a name is positive to every region of its emoji (several collages can hold it), a region to each of its
  names (en + zh);
* ``global``: the same names vs the whole collages (a name is positive to each collage holding its emoji);
  weighted by ``global_weight``.

Both are multiplied by the model's learnable, clamped logit scale
(:class:`~memesearch.models.logit_scale.LogitScale`). Ablations are config keys: ``branches`` (``[region,
global]``, ``[region]``, ``[global]``) and ``alpha`` (the mask input on/off); ``scripts/object_ablations.py``
trains and compares them in one command.

Validation (:meth:`ObjectGuidedTask.validate`, the val split, never test) scores each query against each
collage by its best truth region (``R@1/5/10``, ``MdR``, ``MnR``; the whole collage when the region
branch is off), and reports region <-> text T2I ``region_R@1/10`` and the whole-collage ``global_R@10``.

Example::

    memesearch datasets build collages --out data/collages
    memesearch train --preset object-guided-small
    memesearch evaluate --objects --dataset data/collages --split val \
        --model checkpoint:runs/object-guided-YYYYmmdd-HHMMSS
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset as TorchDataset

from memesearch.data.records import Dataset, Split
from memesearch.errors import ConfigError, DataFormatError
from memesearch.models.object_guided import ObjectGuidedModel, region_input, whole_input
from memesearch.models.starter.model import StarterConfig, normalize_pixels
from memesearch.models.starter.text_cache import TextEmbeddingCache
from memesearch.train.losses import infonce_with_positives
from memesearch.train.task import LossOutput, ParamRole, TaskSpec
from memesearch.train.tasks.base import RetrievalTask
from memesearch.train.tasks.retrieval_config import RetrievalConfig
from memesearch.train.tasks.samples import get_split
from memesearch.train.tasks.starter_finetune import starter_param_role, train_keeping_batch_norm

log = logging.getLogger(__name__)

BRANCHES: tuple[str, ...] = ("region", "global")
REGION_INPUTS: tuple[str, ...] = ("crop", "masked-crop")
MASK_SOURCES: tuple[str, ...] = ("auto", "box")


@dataclass(frozen=True)
class ObjectGuidedConfig(RetrievalConfig):
    """``task_config`` of ``object-guided`` (the shared :class:`RetrievalConfig` keys plus these).

    ``init``: ``starter-v2`` (the committed CNN; ``starter-v3`` adds a backbone branch these region tasks
    do not use, so it is refused), another committed version, a starter weights directory, or null (random
    weights: tests); with weights, ``model`` is read from them. ``branches``: the loss terms (and the
    scoring of validation). ``alpha``: the zero-initialised mask input. ``region_input``: ``crop`` or
    ``masked-crop`` (outside the mask painted white); ``mask_source``: ``auto`` (the offline segmenter's
    mask matched to the truth box, IoU >= 0.5, else the box) or ``box``; ``context``: margin around the
    box, a fraction of its side. ``global_weight``: weight of the global term. ``max_regions``: region
    slots per collage. ``freeze_bn``: keep batch-norm statistics of the pretrained tower fixed.
    ``max_train_collages``: a seeded subset (smoke runs).
    """

    dataset: str = "data/collages"
    model_name: str = "e5-small"
    init: str | None = "starter-v2"
    model: StarterConfig = field(default_factory=StarterConfig)
    branches: tuple[str, ...] = BRANCHES
    alpha: bool = True
    region_input: str = "masked-crop"
    mask_source: str = "auto"
    context: float = 0.0
    global_weight: float = 0.5
    max_regions: int = 8
    freeze_bn: bool = True
    max_train_collages: int | None = None
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        bad = [b for b in self.branches if b not in BRANCHES]
        if bad or not self.branches:
            raise ConfigError(
                f"task_config.branches: got {list(self.branches)}, expected a non-empty subset of "
                f"{list(BRANCHES)}"
            )
        if self.region_input not in REGION_INPUTS:
            raise ConfigError(
                f"task_config.region_input: got {self.region_input!r}, expected one of {REGION_INPUTS}"
            )
        if self.mask_source not in MASK_SOURCES:
            raise ConfigError(
                f"task_config.mask_source: got {self.mask_source!r}, expected one of {MASK_SOURCES}"
            )
        if not 0 <= self.context <= 1:
            raise ConfigError(f"task_config.context: got {self.context}, expected [0, 1]")
        if self.global_weight < 0:
            raise ConfigError(f"task_config.global_weight: got {self.global_weight}, expected >= 0")
        if self.max_regions < 1:
            raise ConfigError(f"task_config.max_regions: got {self.max_regions}, expected >= 1")
        if self.init is not None:
            # the architecture is the weights' own (so a checkpoint records what it holds)
            object.__setattr__(self, "model", StarterConfig.from_dict(_init_config(self.init)["model"]))
        if self.model.text_encoder != self.model_name:
            raise ConfigError(
                f"task_config.model_name is {self.model_name!r} but the model maps into "
                f"{self.model.text_encoder!r}; set both to one name"
            )


def _init_dir(init: str) -> Any:
    """A committed starter version by name (``starter``, ``starter-v1``, ...), else a weights folder."""
    from memesearch.models.starter.encoder import COMMITTED_WEIGHTS, weights_dir

    return weights_dir(init) if init in COMMITTED_WEIGHTS else init


def _init_config(init: str) -> dict[str, Any]:
    """The weights config of ``init``, refused when that starter has a backbone branch: the object-guided
    and UniCLIP-starter tasks build on the CNN's feature map, and v3's CNN is v2's."""
    from memesearch.models.starter.encoder import read_weights_config

    data = read_weights_config(_init_dir(init))
    if data.get("model", {}).get("backbone"):
        raise ConfigError(
            f"task_config.init={init!r} is a starter with a backbone branch ({data['model']['backbone']}); "
            "this task trains the starter's CNN alone: use init=starter-v2 (the same CNN)"
        )
    return data


@dataclass
class SplitData:
    """A split's collages as tensors (CPU) and its names: what batches and validation are built from."""

    regions: Tensor  # (N, K, 3, S, S) uint8 region inputs
    alpha: Tensor  # (N, K, 1, S, S) uint8 alpha maps (255 = inside the region)
    valid: Tensor  # (N, K) bool: slot holds a region
    concept: Tensor  # (N, K) int64 index into ``concepts`` (-1: empty slot)
    whole: Tensor  # (N, 3, S, S) uint8 whole collages
    texts: list[str]  # distinct query texts (names, en and zh)
    text_emb: Tensor  # (T, D) float32 e5 query embeddings
    names: Tensor  # (T, C) bool: text t names concept c
    concepts: list[str]
    query_text: list[int] = field(default_factory=list)  # per split query (positive ones): index in texts
    query_ids: list[str] = field(default_factory=list)
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)  # per query id
    item_ids: list[str] = field(default_factory=list)


class CollageSamples(TorchDataset[int]):
    """One sample per collage (its index); the regions live on the Task (:class:`SplitData`)."""

    def __init__(self, indices: np.ndarray) -> None:
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> int:
        return int(self.indices[index])


def _match_masks(segmenter: Any, image: Any, boxes: list[Any]) -> list[np.ndarray | None]:
    """Per truth box, the mask of the ``auto`` region that overlaps it best (IoU >= 0.5), else None."""
    from memesearch.objects.regions import box_iou

    found = segmenter.segment(image)
    out: list[np.ndarray | None] = []
    for b in boxes:
        best, mask = 0.5, None
        for r in found:
            iou = box_iou(r.box, b)
            if iou >= best:
                best, mask = iou, r.decoded_mask()
        out.append(mask)
    return out


class ObjectGuidedTask(RetrievalTask):
    """Region <-> name contrastive fine-tuning of the starter tower (module docstring)."""

    branch = "image"
    config: ObjectGuidedConfig

    def __init__(self, config: ObjectGuidedConfig) -> None:
        self.config = config
        self.text_cache = TextEmbeddingCache(config.model_name, config.cache_dir)
        self._splits: dict[str, SplitData] = {}

    # ---- model --------------------------------------------------------------------------------

    def build_model(self) -> nn.Module:
        cfg = self.config
        model = ObjectGuidedModel(cfg.model, alpha=cfg.alpha)
        if cfg.init is not None:
            from safetensors.torch import load_model

            missing, unexpected = load_model(
                model, str(_init_dir(cfg.init) / "model.safetensors"), strict=False
            )
            if unexpected or [k for k in missing if not k.startswith("alpha.")]:
                raise ConfigError(f"task_config.init={cfg.init!r} does not fit the model: missing {missing}, "
                                  f"unexpected {unexpected}")  # fmt: skip
        return model

    def param_role(self, name: str, param: nn.Parameter) -> ParamRole:
        return starter_param_role(name, pretrained=self.config.init is not None)

    def set_train_mode(self, model: nn.Module) -> None:
        train_keeping_batch_norm(model, freeze_bn=self.config.freeze_bn)

    # ---- data ---------------------------------------------------------------------------------

    def split_data(self, name: str) -> SplitData:
        """The prepared :class:`SplitData` of split ``name`` (built once per process)."""
        if name not in self._splits:
            self._splits[name] = self._prepare(self.dataset(), get_split(self.dataset(), name))
        return self._splits[name]

    def _prepare(self, dataset: Dataset, split: Split) -> SplitData:
        from memesearch.models.encoders.images import load_image
        from memesearch.objects import SegmenterConfig, create_segmenter

        cfg = self.config
        side, k_max = cfg.model.image_size, cfg.max_regions
        items = list(split.items)
        if not any(it.objects for it in items):
            raise ConfigError(
                f"the items of split {split.name!r} carry no objects: build the collages benchmark with "
                "`memesearch datasets build collages`"
            )
        concepts: dict[str, int] = {}
        holders: dict[str, set[str]] = {}
        for it in items:
            for key in it.meta.get("concepts", []):
                concepts.setdefault(str(key), len(concepts))
                holders.setdefault(str(key), set()).add(it.id)
        n = len(items)
        regions = torch.full((n, k_max, 3, side, side), 255, dtype=torch.uint8)
        alpha = torch.zeros((n, k_max, 1, side, side), dtype=torch.uint8)
        valid = torch.zeros((n, k_max), dtype=torch.bool)
        concept = torch.full((n, k_max), -1, dtype=torch.int64)
        whole = torch.empty((n, 3, side, side), dtype=torch.uint8)
        segmenter = (
            create_segmenter("auto", SegmenterConfig(max_regions=16)) if cfg.mask_source == "auto" else None
        )
        for j, it in enumerate(items):
            path = it.resolve_path(dataset.root)
            if path is None:
                raise DataFormatError(f"item {it.id!r} of split {split.name!r} has no image file")
            image = load_image(path)
            whole[j] = torch.from_numpy(whole_input(image, side=side).copy()).permute(2, 0, 1)
            keys = [str(k) for k in it.meta.get("concepts", [])][: len(it.objects)][:k_max]
            boxes = [o.box for o in it.objects[: len(keys)]]
            masks = _match_masks(segmenter, image, boxes) if segmenter is not None else [None] * len(boxes)
            for k, (key, box, mask) in enumerate(zip(keys, boxes, masks, strict=True)):
                pix, amap = region_input(image, box, mask, side=side, context=cfg.context,
                                         masked=cfg.region_input == "masked-crop")  # fmt: skip
                regions[j, k] = torch.from_numpy(pix.copy()).permute(2, 0, 1)
                alpha[j, k, 0] = torch.from_numpy((amap * 255).round().astype(np.uint8))
                valid[j, k] = True
                concept[j, k] = concepts[key]
        text_index: dict[str, int] = {}
        named: dict[int, set[int]] = {}
        query_text: list[int] = []
        query_ids: list[str] = []
        qrels: dict[str, dict[str, int]] = {}
        for q in split.queries:
            rel = set(q.relevant(cfg.min_grade))
            if not rel:
                continue
            t = text_index.setdefault(q.text, len(text_index))
            named.setdefault(t, set()).update(concepts[c] for c, h in holders.items() if h <= rel)
            query_text.append(t)
            query_ids.append(q.id)
            qrels[q.id] = dict(q.qrels)
        if not text_index:
            raise ConfigError(f"split {split.name!r} has no query with a relevant collage")
        names = torch.zeros((len(text_index), len(concepts)), dtype=torch.bool)
        for t, cs in named.items():
            names[t, sorted(cs)] = True
        texts = list(text_index)
        text_emb = torch.from_numpy(self.text_cache.embed(texts, kind="query")).float()
        log.info("object-guided: split %s: %d collages, %d regions, %d names, %d concepts", split.name, n,
                 int(valid.sum()), len(texts), len(concepts))  # fmt: skip
        return SplitData(regions, alpha, valid, concept, whole, texts, text_emb, names, list(concepts),
                         query_text, query_ids, qrels, [it.id for it in items])  # fmt: skip

    def train_dataset(self) -> CollageSamples:
        data = self.split_data(self.config.train_split)
        idx = np.arange(len(data.whole))
        cap = self.config.max_train_collages
        if cap is not None and len(idx) > cap:
            idx = np.sort(np.random.default_rng(0).permutation(len(idx))[:cap])
        return CollageSamples(idx)

    def collate(self, samples: list[Any]) -> dict[str, Tensor]:
        """Every region of each sampled collage (all slots; ``valid`` marks the filled ones)."""
        data = self.split_data(self.config.train_split)
        index = torch.tensor([int(s) for s in samples], dtype=torch.int64)
        return _batch(data, index)

    # ---- training step ------------------------------------------------------------------------

    def embed_batch(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        return _embed(model, batch, self.config)

    def loss(self, model: nn.Module, features: Mapping[str, Tensor]) -> LossOutput:
        cfg = self.config
        data = self.split_data(cfg.train_split)
        scale = model.logit_scale()  # type: ignore[operator]
        valid = features["valid"].bool()
        concept = features["concept"]
        present = torch.unique(concept[valid])
        names = data.names.to(scale.device)
        rows = names[:, present].any(dim=1)  # the texts naming an emoji of the batch
        text = data.text_emb.to(scale.device)[rows]  # (T, D)
        names = names[rows]  # (T, C)
        total = torch.zeros((), device=scale.device)
        metrics: dict[str, Any] = {"logit_scale": scale.detach(), "texts": int(rows.sum())}
        if "region" in cfg.branches:
            region = features["region"][valid]  # (R, D)
            positive = names[:, concept[valid]]  # (T, R)
            loss_r = infonce_with_positives(scale * text @ region.t(), positive)
            total = total + loss_r
            metrics["loss_region"] = loss_r.detach()
        if "global" in cfg.branches:
            hold = torch.zeros((valid.shape[0], names.shape[1]), dtype=torch.bool, device=scale.device)
            b_idx = torch.arange(valid.shape[0], device=scale.device)[:, None].expand_as(concept)
            hold[b_idx[valid], concept[valid]] = True  # (B, C): collage b holds concept c
            positive = (names.float() @ hold.float().t()) > 0  # (T, B)
            loss_g = infonce_with_positives(scale * text @ features["global"].t(), positive)
            total = total + (cfg.global_weight if "region" in cfg.branches else 1.0) * loss_g
            metrics["loss_global"] = loss_g.detach()
        return LossOutput(total, metrics)

    # ---- validation and scoring ---------------------------------------------------------------

    @torch.no_grad()
    def encode_split(self, model: nn.Module, name: str, device: Any = "cpu") -> dict[str, Tensor]:
        """Unit embeddings of a split's regions ``(N, K, D)`` and collages ``(N, D)`` (the branches on)."""
        data = self.split_data(name)
        out: dict[str, list[Tensor]] = {}
        bs = max(1, self.config.eval_batch_size // self.config.max_regions)
        for start in range(0, len(data.whole), bs):
            batch = _batch(data, torch.arange(start, min(start + bs, len(data.whole))))
            batch = {k: v.to(device) for k, v in batch.items()}
            for k, v in _embed(model, batch, self.config).items():
                out.setdefault(k, []).append(v.float().cpu())
        return {k: torch.cat(v) for k, v in out.items()}

    def _scores(self, model: nn.Module, name: str, device: Any) -> tuple[SplitData, dict[str, np.ndarray]]:
        data = self.split_data(name)
        enc = self.encode_split(model, name, device)
        text = data.text_emb.numpy()
        out: dict[str, np.ndarray] = {}
        if "global" in enc:
            out["global"] = text @ enc["global"].numpy().T  # (T, N)
        if "region" in enc:
            r = text @ enc["region"].reshape(-1, enc["region"].shape[-1]).numpy().T  # (T, N*K)
            r = r.reshape(len(text), *data.valid.shape)
            out["region"] = r  # (T, N, K)
            out["best"] = np.where(data.valid.numpy()[None], r, -np.inf).max(axis=2)  # (T, N)
        return data, out

    @torch.no_grad()
    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        from memesearch.eval.retrieval import evaluate_scores

        data, s = self._scores(model, self.config.val_split, device)
        rows = np.array(data.query_text)
        qids, qrels, iids = data.query_ids, data.qrels, data.item_ids
        collage = s["best"] if "best" in s else s["global"]
        rep = evaluate_scores(collage[rows], qrels, qids, iids, curve=False).metrics
        out = {k: float(rep[k]) for k in ("R@1", "R@5", "R@10", "MdR", "MnR")}
        if "global" in s:
            out["global_R@10"] = float(
                evaluate_scores(s["global"][rows], qrels, qids, iids, curve=False).metrics["R@10"]
            )
        if "region" in s:
            valid = data.valid.numpy()
            rid = [f"{i}#{k}" for i, k in zip(*np.nonzero(valid), strict=True)]
            flat = s["region"][rows][:, valid]  # (Q, R)
            rc = data.concept.numpy()[valid]
            names = data.names.numpy()
            rq = {
                qid: {r: 1 for r, c in zip(rid, rc, strict=True) if names[t, c]}
                for qid, t in zip(qids, rows, strict=True)
            }
            m = evaluate_scores(flat, rq, qids, rid, curve=False).metrics
            out["region_R@1"], out["region_R@10"] = float(m["R@1"]), float(m["R@10"])
        return out

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
        """(Q, N) cosines of the split's queries (``split.queries`` order) vs its collages: best region
        when the region branch is on, else the whole collage (validation's ``R@K`` scoring)."""
        data, s = self._scores(model, split, device)
        part = get_split(self.dataset(), split)
        collage = s["best"] if "best" in s else s["global"]
        index = {t: i for i, t in enumerate(data.texts)}
        out = np.full((len(part.queries), collage.shape[1]), np.nan, dtype=np.float32)
        for qi, q in enumerate(part.queries):
            if q.text in index:
                out[qi] = collage[index[q.text]]
        return out


def _batch(data: SplitData, index: Tensor) -> dict[str, Tensor]:
    return {
        "regions": data.regions[index],
        "alpha": data.alpha[index],
        "valid": data.valid[index],
        "concept": data.concept[index],
        "whole": data.whole[index],
        "index": index,
    }


def _embed(model: nn.Module, batch: Mapping[str, Tensor], cfg: ObjectGuidedConfig) -> dict[str, Tensor]:
    """Per-collage features: ``region`` (B, K, D) unit (zeros in empty slots), ``global`` (B, D) unit."""
    assert isinstance(model, ObjectGuidedModel)
    dtype = next(model.parameters()).dtype
    valid = batch["valid"].bool()
    out: dict[str, Tensor] = {"valid": valid.long(), "concept": batch["concept"], "index": batch["index"]}
    if "region" in cfg.branches:
        b, k = valid.shape
        pix = normalize_pixels(batch["regions"][valid].to(dtype) / 255.0)  # (R, 3, S, S)
        alpha = batch["alpha"][valid].to(dtype) / 255.0 if cfg.alpha else None
        emb = model.embed(pix, alpha)  # (R, D)
        slots = torch.nonzero(valid.reshape(-1)).squeeze(1)
        out["region"] = emb.new_zeros((b * k, emb.shape[1])).index_copy(0, slots, emb).reshape(b, k, -1)
    if "global" in cfg.branches:
        out["global"] = model.embed(normalize_pixels(batch["whole"].to(dtype) / 255.0))
    return out


TASK_SPEC = TaskSpec(
    name="object-guided",
    factory=ObjectGuidedTask,
    config_cls=ObjectGuidedConfig,
    description="region <-> name InfoNCE on collages: the starter tower fine-tuned on regions (+ alpha)",
)
