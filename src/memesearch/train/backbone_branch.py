"""Add a pretrained backbone branch to committed starter weights (how ``starter-v3`` was made).

The starter's CNN (a weights folder such as ``starter-v2``) stays as it is; a frozen pretrained backbone
(:mod:`memesearch.models.backbones`) is put beside it and only a projection from its pooled features into
the e5 space is trained (``StarterConfig.backbone``: the image features become the mix
``(1 - w) * cnn + w * projection`` of two unit vectors).

Because the backbone and the CNN are frozen, their outputs are computed once: for every training image,
``views`` renderings — the clean image, then sticker-augmented copies (the starter Task's augmentation,
:func:`memesearch.train.tasks.starter.augment`) — go through both. The projection then trains for many
epochs on those cached features in seconds each (symmetric InfoNCE against the frozen e5 query vectors
of the starter Task's pairs: names and keywords, en and zh, plus emotion words; a text's other relevant
items are not negatives). ``objective="alone"`` (the default) trains the projection on its own;
``"mix"`` trains it through the mix with the CNN's cached vector, to learn what the CNN misses — measured
for starter v3, it overfits the training styles: val-heldout R@10 fell from 0.4907 after the first epoch
to 0.4337 after twelve, while ``"alone"`` reached 0.5340 (``docs/results/starter_v3_runs.json``).

The epoch and the mix weight ``w`` are chosen on a validation view (``val-heldout``: unseen concepts in a
style no training or test image has); test views are refused for selection.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from memesearch.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BranchConfig:
    """How the backbone branch is trained (see the module docstring)."""

    base: str = "starter-v2"
    backbone: str = "nanodet-g"
    image_size: int = 128
    hidden: int = 1024
    dataset: str = "data/emoji-v2"
    select_dataset: str = "data/emoji-vh"
    select_view: str = "val-heldout"
    report_views: tuple[str, ...] = ("val", "val-heldout")
    views: int = 4
    epochs: int = 8
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.05
    objective: str = "alone"
    train_weight: float = 0.5
    weights: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.select_view.startswith("test"):
            raise ConfigError(f"select_view {self.select_view!r}: choose on a validation view, never test")
        if self.objective not in ("mix", "alone"):
            raise ConfigError(f"objective {self.objective!r}: expected 'mix' or 'alone'")
        if self.views < 1 or self.epochs < 1:
            raise ConfigError("views and epochs must be >= 1")


@dataclass
class Cached:
    """Frozen outputs of a set of images: backbone features (V, N, F) and CNN unit vectors (V, N, D)."""

    backbone: Tensor
    cnn: Tensor


def _encode(model: Any, pixels: Tensor) -> tuple[Tensor, Tensor]:
    tower = model.tower
    with torch.no_grad():
        return tower.backbone(pixels), F.normalize(tower.cnn_features(pixels), dim=-1)


def cache_images(
    model: Any,
    rgba: Tensor,
    views: int,
    augment: Callable[[Tensor], Tensor] | None,
    batch: int = 128,
    progress: Callable[[int], None] | None = None,
) -> Cached:
    """``rgba`` (N, 4, S, S) uint8 -> the frozen outputs of ``views`` renderings (view 0 clean: composited
    on white, as evaluation images are; the others through ``augment``)."""
    from memesearch.models.starter.model import normalize_pixels

    n = rgba.shape[0]
    feats = torch.empty((views, n, model.tower.backbone.spec.dim))
    cnn = torch.empty((views, n, model.config.dim))
    for v in range(views):
        for start in range(0, n, batch):
            x = rgba[start : start + batch].float().div_(255.0)
            if v == 0 or augment is None:
                alpha = x[:, 3:4]
                pixels = x[:, :3] * alpha + (1 - alpha)
            else:
                pixels = augment(x)
            f, c = _encode(model, normalize_pixels(pixels))
            feats[v, start : start + len(x)] = f
            cnn[v, start : start + len(x)] = c
            if progress is not None:
                progress(len(x))
    return Cached(feats, cnn)


def eval_pixels(model: Any, paths: Sequence[Path], size: int, batch: int = 128) -> Cached:
    """Evaluation images (paths) as the encoder reads them (load_image, bicubic to ``size``)."""
    from memesearch.models import load_image
    from memesearch.models.starter.model import normalize_pixels, to_pixels

    fs, cs = [], []
    for start in range(0, len(paths), batch):
        images = [load_image(p) for p in paths[start : start + batch]]
        f, c = _encode(model, normalize_pixels(to_pixels(images, size)))
        fs.append(f)
        cs.append(c)
    return Cached(torch.cat(fs)[None], torch.cat(cs)[None])


def mixed(cnn: Tensor, projected: Tensor, w: float) -> Tensor:
    """The tower's image features: ``(1 - w) * cnn + w * normalize(projected)`` (cnn already unit)."""
    return (1.0 - w) * cnn + w * F.normalize(projected, dim=-1)


def view_r10(items: Tensor, queries: np.ndarray, part: Any) -> float:
    """R@10 (SPEC §5, :func:`memesearch.eval.retrieval.evaluate_scores`) of a view's queries."""
    from memesearch.eval.retrieval import evaluate_scores

    vec = F.normalize(items, dim=-1).numpy()
    report = evaluate_scores(
        queries @ vec.T, part.qrels(), [q.id for q in part.queries], part.item_ids(), curve=False
    )
    return float(report.metrics["R@10"])


def train_branch(config: BranchConfig, out: Path, *, command: str = "") -> dict[str, Any]:
    """Train the branch, choose epoch and mix weight on ``config.select_view``, write the weights folder
    ``out`` (``model.safetensors`` + ``config.json``); returns the selection record."""
    from safetensors.torch import save_model

    from memesearch.data.formats import read_dataset
    from memesearch.models.starter.encoder import CONFIG_FILE, MODEL_FILE, read_weights_config, weights_dir
    from memesearch.models.starter.model import build_model
    from memesearch.train.starter_export import weights_description
    from memesearch.train.tasks.starter import StarterTask, StarterTaskConfig, augment
    from memesearch.utils.io import atomic_write_json, progress_bar, sha256_file

    torch.manual_seed(config.seed)
    base_dir = weights_dir(config.base) if not Path(config.base).is_dir() else Path(config.base)
    base = read_weights_config(base_dir)
    from memesearch.models.starter.config import StarterConfig

    arch = dataclasses.replace(
        StarterConfig.from_dict(base["model"]),
        image_size=config.image_size,
        tower_size=int(base["model"]["image_size"]),
        backbone=config.backbone,
        backbone_hidden=config.hidden,
        backbone_weight=config.train_weight,
    )
    model = build_model(arch).eval()
    from safetensors.torch import load_file

    missing, unexpected = model.load_state_dict(load_file(str(base_dir / MODEL_FILE)), strict=False)
    new = {k for k in missing if "backbone" not in k}
    if new or unexpected:
        raise ConfigError(f"base weights do not fit: missing {sorted(new)}, unexpected {sorted(unexpected)}")

    task = StarterTask(StarterTaskConfig(dataset=config.dataset, model=arch, emotion_queries=True))
    pairs = task.train_dataset()
    data = task.train_tensors()
    t0 = time.perf_counter()
    n_img = data.images.shape[0] * config.views
    with progress_bar(f"backbone + CNN on {config.views} renderings", n_img) as advance:
        train = cache_images(
            model, data.images, config.views, lambda x: augment(x, task.config), progress=advance
        )
    cache_s = time.perf_counter() - t0
    log.info("cached %d renderings in %.0f s (%.0f images/s)", n_img, cache_s, n_img / cache_s)
    flat = train.backbone.reshape(-1, train.backbone.shape[-1])
    mean, std = flat.mean(0), flat.std(0) + 1e-6
    model.tower.get_buffer("backbone_mean").copy_(mean)
    model.tower.get_buffer("backbone_std").copy_(std)
    train_x = (train.backbone - mean) / std

    ev_ds = read_dataset(config.select_dataset)
    views = list(dict.fromkeys([config.select_view, *config.report_views]))
    from memesearch.models.starter.text_cache import TextEmbeddingCache

    text_cache = TextEmbeddingCache(arch.text_encoder)
    ev = {}
    for v in views:
        part = ev_ds[v]
        paths = [it.resolve_path(ev_ds.root) for it in part.items]
        if any(p is None for p in paths):
            raise ConfigError(f"{config.select_dataset} {v}: every item needs an image file")
        cached = eval_pixels(model, [p for p in paths if p is not None], config.image_size)
        queries = text_cache.embed([x.text for x in part.queries], kind="query")
        ev[v] = (part, (cached.backbone[0] - mean) / std, cached.cnn[0], queries)

    texts = torch.from_numpy(pairs.texts)
    items = torch.from_numpy(pairs.items)
    tower: Any = model.tower
    head = tower.backbone_head
    scale = torch.nn.Parameter(torch.tensor(3.0))
    opt = torch.optim.AdamW([*head.parameters(), scale], lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * ((len(texts) + config.batch_size - 1) // config.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps, pct_start=0.05)
    history: list[dict[str, Any]] = []
    best: tuple[float, int, float] = (-1.0, 0, config.train_weight)
    best_state: dict[str, Tensor] = {}
    for epoch in range(1, config.epochs + 1):
        head.train()
        order = torch.randperm(len(texts))
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            b = order[start : start + config.batch_size]
            t, i = texts[b], items[b]
            view = torch.randint(0, config.views, (len(b),))
            proj = head(train_x[view, i])
            if config.objective == "mix":
                img = F.normalize(mixed(train.cnn[view, i], proj, config.train_weight), dim=-1)
            else:
                img = F.normalize(proj, dim=-1)
            logits = scale.exp() * img @ data.queries[t].T
            other = data.relevant[t][:, i] | (t[:, None] == t[None, :])  # a text's other relevant items
            logits = logits.masked_fill(other & ~torch.eye(len(b), dtype=torch.bool), float("-inf"))
            target = torch.arange(len(b))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(b)
        head.eval()
        row: dict[str, Any] = {"epoch": epoch, "loss": round(total / len(texts), 4)}
        with torch.no_grad():
            for v, (part, x, cnn, queries) in ev.items():
                proj = head(x)
                row[v] = {
                    f"w={w}": round(view_r10(mixed(cnn, proj, w), queries, part), 4) for w in config.weights
                }
                row[v]["alone"] = round(view_r10(proj, queries, part), 4)
        history.append(row)
        log.info("epoch %d: %s", epoch, json.dumps(row))
        print(json.dumps(row), flush=True)
        for w in config.weights:
            score = row[config.select_view][f"w={w}"]
            if score > best[0]:
                best = (score, epoch, w)
                best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
    head.load_state_dict(best_state)
    arch = dataclasses.replace(arch, backbone_weight=best[2])
    model.config = arch
    tower.backbone_weight = best[2]
    out.mkdir(parents=True, exist_ok=True)
    save_model(model.float().cpu(), str(out / MODEL_FILE), metadata={"format": "pt", "model": "starter"})
    record = {
        "selected_on": f"{config.select_dataset} {config.select_view} R@10 (images without emotion words)",
        "selected_epoch": best[1],
        "selected_weight": best[2],
        "selected_score": best[0],
        "cache_images_per_s": round(n_img / cache_s, 1),
        "pairs": len(texts),
        "history": history,
    }
    described = weights_description(
        arch,
        {
            "task": "backbone branch (memesearch.train.backbone_branch)",
            "base": {"weights": config.base, "sha256": sha256_file(base_dir / MODEL_FILE)},
            "backbone": config.backbone,
            "dataset": config.dataset,
            "train_split": "train",
            "config": dataclasses.asdict(config),
            "command": command,
            "selection": {k: v for k, v in record.items() if k != "history"},
        },
    )
    atomic_write_json(out / CONFIG_FILE, described)
    atomic_write_json(out / "branch_training.json", record)
    return record
