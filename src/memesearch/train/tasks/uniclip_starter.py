"""Task ``uniclip-starter``: UniCLIP's losses on towers that already align text and images offline.

The ``uniclip`` Task's small offline preset trains a Chinese-CLIP from scratch on 2,520 covers and stays at
chance. This Task starts from the shipped ``starter`` model instead:

* image tower: the starter CNN (committed weights, ``init: starter-v2``), its last feature map cells plus the
  pooled cell as the image token sequence the heads read
  (:class:`~memesearch.models.uniclip.starter_model.UniClipStarterModel`);
* text tower: ``e5-small``, **frozen**; every training text (the titles' core terms) and every validation
  query is embedded once (``kind="query"``, the on-disk
  :class:`~memesearch.models.starter.text_cache.TextEmbeddingCache`), so a step costs the CNN and the
  heads only;
* losses as :class:`~memesearch.train.tasks.uniclip.UniClipTask`: ITC between the image embedding and the
  cached text embedding (the starter's clamped learnable logit scale), the presence head (IC) and the
  semantic head (ITM, ANN negatives; candidates tokenised with cn_clip's BERT vocabulary and embedded by
  the head's own embedding), ``0.8 / 0.1 / 0.1``;
* validation: the ``uniclip`` metrics on the val split plus the CBVS protocol's ``NDCG@10`` (each query's
  judged covers, relevant = label 2), which the presets select on: on this benchmark R@10 over the whole
  gallery is near chance for every offline model, NDCG@10 is not.

The exported model is the plain starter network without the heads (``memesearch export RUN --out DIR`` ->
``starter:DIR``; :func:`memesearch.train.uniclip_export.export_uniclip_starter`).

Example::

    memesearch datasets build covers --out data/covers
    memesearch train --preset uniclip-starter          # the ablation baseline: --preset uniclip-starter-itc
    memesearch train --preset uniclip-starter-128      # the tower at 128 px (task_config.image_size)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from memesearch.data.records import Dataset
from memesearch.errors import ConfigError, DataFormatError
from memesearch.models.clip_towers import TextTokenizer
from memesearch.models.starter.model import StarterConfig, normalize_pixels, to_pixels
from memesearch.models.starter.text_cache import TextEmbeddingCache
from memesearch.models.uniclip.starter_model import HEAD_PREFIXES, UniClipStarterArch, UniClipStarterModel
from memesearch.train.task import ParamRole, TaskSpec
from memesearch.train.tasks.base import retrieval_metrics
from memesearch.train.tasks.samples import get_split, unique_texts
from memesearch.train.tasks.starter_finetune import starter_param_role, train_keeping_batch_norm
from memesearch.train.tasks.uniclip import UniClipConfig, UniClipTask, presence_accuracy
from memesearch.train.tasks.uniclip_data import UniClipSamples, sample_source, training_texts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UniClipStarterConfig(UniClipConfig):
    """``task_config`` of ``uniclip-starter``: :class:`UniClipConfig`'s keys plus these.

    ``model_name`` is the frozen text encoder (``e5-small``). ``init``: ``starter-v2`` (the committed CNN),
    a starter weights directory, or null (random weights: tests); with weights, ``model`` is read from
    them. ``image_size``: the side the tower reads covers at (null: the architecture's, 64 px for the
    committed starter). The tower is fully convolutional and mean-pools its last feature map, so the same
    weights run at 128 px, where the last map has 8 x 8 cells (64 image tokens + the pooled one for the
    heads) and small cover text stays legible; the exported folder records the size and ``starter:DIR``
    preprocesses at it. ``freeze_bn``: keep the pretrained tower's batch-norm statistics. ``cache_dir``:
    the text embedding cache (default ``~/.cache/memesearch``). ``augment`` must be ``none``.
    """

    model_name: str = "e5-small"
    init: str | None = "starter-v2"
    model: StarterConfig = field(default_factory=StarterConfig)
    image_size: int | None = None
    freeze_bn: bool = True
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.augment != "none":
            raise ConfigError(
                f"task_config.augment: got {self.augment!r}; uniclip-starter supports 'none' only"
            )
        if self.init is not None:
            from memesearch.train.tasks.object_guided import _init_config

            object.__setattr__(self, "model", StarterConfig.from_dict(_init_config(self.init)["model"]))
        if self.image_size is not None:
            model = self.model.to_dict() | {"image_size": int(self.image_size)}
            object.__setattr__(self, "model", StarterConfig.from_dict(model))  # checks stem divides it
        if self.model.text_encoder != self.model_name:
            raise ConfigError(
                f"task_config.model_name is {self.model_name!r} but the starter maps into "
                f"{self.model.text_encoder!r}; set both to one name"
            )


def candidate_tokenizer() -> Any:
    """cn_clip's BERT tokenizer (21128 WordPieces, lower-casing): what the semantic head embeds."""
    from transformers import BertTokenizer

    from memesearch.models.encoders.random_checkpoints import CN_CLIP_VOCAB_FILE

    # transformers 5 names the argument ``vocab`` and silently ignores ``vocab_file=``: that gave a
    # 5-token tokenizer mapping every word to [UNK], so the semantic head saw only the candidate's length
    tokenizer = BertTokenizer(vocab=str(CN_CLIP_VOCAB_FILE), do_lower_case=True)
    if len(tokenizer) < 1000:
        raise ConfigError(f"{CN_CLIP_VOCAB_FILE} loaded as a {len(tokenizer)}-token vocabulary")
    return tokenizer


class StarterPreprocess:
    """A PIL image -> ``(3, S, S)`` starter input in [-1, 1] (bicubic resize, as the starter encoder)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, image: Any) -> Tensor:
        return normalize_pixels(to_pixels([image], self.size))[0]


class UniClipStarterTask(UniClipTask):
    """UniCLIP's ITC + IC + ITM on the starter CNN and frozen, cached e5-small (module docstring)."""

    config: UniClipStarterConfig

    def __init__(self, config: UniClipStarterConfig) -> None:
        super().__init__(config)
        self.text_cache = TextEmbeddingCache(config.model_name, config.cache_dir)
        self._vectors: dict[str, Tensor] = {}
        self._tokenizer: Any = None
        self.preprocess = StarterPreprocess(config.model.image_size)

    # ---- model

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = candidate_tokenizer()
        return self._tokenizer

    def build_model(self) -> nn.Module:
        cfg = self.config
        arch = UniClipStarterArch.from_settings(
            cfg, vocab_size=len(self.tokenizer), pad_token_id=int(self.tokenizer.pad_token_id or 0)
        )
        model = UniClipStarterModel(cfg.model, arch)
        if cfg.init is not None:
            from safetensors.torch import load_model

            from memesearch.train.tasks.object_guided import _init_dir

            missing, unexpected = load_model(
                model, str(_init_dir(cfg.init) / "model.safetensors"), strict=False
            )
            if unexpected or [k for k in missing if not k.startswith(HEAD_PREFIXES)]:
                raise ConfigError(f"task_config.init={cfg.init!r} does not fit the model: missing {missing}, "
                                  f"unexpected {unexpected}")  # fmt: skip
        return model

    @property
    def candidate_tokenize(self) -> TextTokenizer:
        return TextTokenizer(self.tokenizer, self.config.ocr_context)

    def param_role(self, name: str, param: nn.Parameter) -> ParamRole:
        return starter_param_role(name, pretrained=self.config.init is not None)

    def set_train_mode(self, model: nn.Module) -> None:
        train_keeping_batch_norm(model, freeze_bn=self.config.freeze_bn)

    def after_optimizer_step(self, model: nn.Module) -> None:
        model.logit_scale.clamp_()  # type: ignore[operator]

    # ---- data

    def embed_texts(self, texts: list[str]) -> Tensor:
        """``(B, D)`` frozen e5-small query embeddings of ``texts`` (memory, then the disk cache)."""
        missing = sorted({t for t in texts if t not in self._vectors})
        if missing:
            for text, vec in zip(missing, self.text_cache.embed(missing, kind="query"), strict=True):
                self._vectors[text] = torch.from_numpy(np.array(vec, dtype=np.float32))
        return torch.stack([self._vectors[t] for t in texts]) if texts else torch.zeros((0, 0))

    def train_dataset(self) -> UniClipSamples:
        dataset = self.dataset()
        split = get_split(dataset, self.config.train_split)
        texts = training_texts(split.items, self.config.text, self.config.core_terms_method)
        table = self.neighbour_table() if self.config.semantic else {}
        source = sample_source(split, dataset.root, texts, table)
        self.embed_texts(list(source.texts))  # once: every step reads them from memory
        log.info("UniCLIP-starter training covers: %d (%d distinct texts), loss weights ITC/IC/ITM %s",
                 len(source.texts), len(set(source.texts)), self.weights)  # fmt: skip
        return UniClipSamples(
            source, self.preprocess, own_prob=self.config.own_ocr_prob, semantic=self.config.semantic
        )

    # ---- features

    def encode_queries(self, model: Any, texts: list[str]) -> Tensor:
        device = next(model.parameters()).device
        return self.embed_texts(list(texts)).to(device)

    def embed_batch(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        assert isinstance(model, UniClipStarterModel)
        return self.head_features(model, model.encode_image(batch["image"]), batch)

    @torch.no_grad()
    def encode_split(
        self,
        model: Any,
        dataset: Dataset,
        split: str,
        *,
        device: str | torch.device,
        batch_size: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(queries (Q, D), items (N, D), presence probability (N,) or None)``, unit rows."""
        from memesearch.models import load_image

        assert isinstance(model, UniClipStarterModel)
        sp = get_split(dataset, split)
        was_training = model.training
        model.eval()
        items, present = [], []
        try:
            for start in range(0, len(sp.items), batch_size):
                chunk = sp.items[start : start + batch_size]
                images = [load_image(_image_path(it, dataset.root)) for it in chunk]
                dtype = next(model.parameters()).dtype
                pixels = normalize_pixels(to_pixels(images, self.config.model.image_size)).to(device, dtype)
                image = model.encode_image(pixels)
                items.append(image.embedding.float().cpu())
                if model.presence is not None:
                    present.append(model.presence_logits(image.tokens).float().softmax(dim=1)[:, 1].cpu())
        finally:
            model.train(was_training)
        distinct, where = unique_texts([q.text for q in sp.queries])
        dim = self.config.model.dim
        q = self.embed_texts(distinct).numpy()[where] if distinct else np.zeros((0, dim), np.float32)
        v = torch.cat(items).numpy() if items else np.zeros((0, dim), np.float32)
        p = torch.cat(present).numpy() if present else None
        return q, v, p

    @torch.no_grad()
    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """The ``uniclip`` validation metrics, plus the CBVS protocol's NDCG@5/10 and MAP (as ``cbvs_*``
        except NDCG@10, the selection metric)."""
        from memesearch.eval.encoders import cbvs_report

        dataset = self.dataset()
        sp = get_split(dataset, self.config.val_split)
        q, v, p = self.encode_split(
            model, dataset, sp.name, device=device, batch_size=self.config.eval_batch_size
        )
        scores = np.asarray(q @ v.T, dtype=np.float32)
        metrics = retrieval_metrics(scores, sp)
        report = cbvs_report(scores, sp.qrels(), [x.id for x in sp.queries], sp.item_ids())
        metrics["NDCG@10"] = float(report.metrics["NDCG@10"])
        metrics["cbvs_NDCG@5"] = float(report.metrics["NDCG@5"])
        metrics["cbvs_R@10"] = float(report.metrics["R@10"])
        if p is not None:
            metrics["presence_acc"] = presence_accuracy(p, [it.ocr for it in sp.items])
        return metrics


def _image_path(item: Any, root: Any) -> Any:
    path = item.resolve_path(root)
    if path is None:
        raise DataFormatError(f"item {item.id!r} has no image path; UniCLIP scores the cover image")
    return path


TASK_SPEC = TaskSpec(
    name="uniclip-starter",
    factory=UniClipStarterTask,
    config_cls=UniClipStarterConfig,
    description="UniCLIP's ITC + IC + ITM on the starter CNN and frozen (cached) e5-small",
)
