"""Export and evaluation of ``starter`` runs: a training run -> a weights directory the encoder loads.

:func:`export_weights` writes the chosen checkpoint of a ``memesearch train --preset starter`` run as
``model.safetensors`` + ``config.json`` (architecture, preprocessing, provenance) and, given a dataset,
``metrics.json`` measured through the exported weights (:func:`evaluate_starter`). The default target is
the package's committed weights (:func:`memesearch.models.starter.encoder.weights_dir`), which
``create_encoder("starter")`` loads. Command line::

    memesearch export runs/starter-20250101-120000 --dataset data/emoji
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memesearch._version import __version__
from memesearch.errors import ConfigError
from memesearch.eval.retrieval import evaluate_scores
from memesearch.models.encoders.registry import create_encoder
from memesearch.models.starter.encoder import (
    CONFIG_FILE,
    METRICS_FILE,
    MODEL_FILE,
    WEIGHTS_FORMAT,
    WEIGHTS_FORMAT_VERSION,
    StarterEncoder,
    weights_dir,
)
from memesearch.models.starter.model import StarterConfig, is_starter_model
from memesearch.models.starter.text_cache import TextEmbeddingCache
from memesearch.train.checkpoint import find_checkpoint, load_trained_model
from memesearch.utils.io import atomic_path, atomic_write_json

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.data.records import Dataset


def evaluate_starter(
    encoder: StarterEncoder,
    dataset: Dataset,
    split: str,
    *,
    by_lang: bool = True,
    cache: TextEmbeddingCache | None = None,
) -> dict[str, dict[str, float]]:
    """R@1/5/10, MdR, MnR, MR of the QI branch (image + emotion gate) on ``split``, all queries and
    per ``meta["lang"]``: ``{"all": {...}, "en": {...}, "zh": {...}}`` (each with ``n_queries``).

    ``cache`` (of the encoder's text encoder) serves query vectors already computed in training.
    """
    part = dataset[split]
    paths = []
    for it in part.items:
        p = it.resolve_path(dataset.root)
        if p is None:
            raise ConfigError(f"item {it.id!r} of split {split!r} has no image file")
        paths.append(p)
    items = encoder.encode_items(paths, [it.emotions for it in part.items])
    texts = [q.text for q in part.queries]
    if cache is not None:
        if cache.encoder_name != encoder.starter_config.text_encoder:
            raise ConfigError(
                f"the text cache is of {cache.encoder_name!r}, the encoder uses "
                f"{encoder.starter_config.text_encoder!r}"
            )
        queries = cache.embed(texts, kind="query")
    else:
        queries = encoder.text_encoder.encode_text(texts, kind="query", batch_size=1024)
    scores = queries @ items.T  # (Q, N)
    groups: dict[str, list[int]] = {"all": list(range(len(part.queries)))}
    if by_lang:
        for i, q in enumerate(part.queries):
            groups.setdefault(str(q.meta.get("lang", "unknown")), []).append(i)
    qrels = part.qrels()
    item_ids = part.item_ids()
    out: dict[str, dict[str, float]] = {}
    for group, rows in groups.items():
        report = evaluate_scores(
            scores[rows], qrels, [part.queries[i].id for i in rows], item_ids, curve=False
        )
        values = {k: float(report.metrics[k]) for k in ("R@1", "R@5", "R@10", "MdR", "MnR", "MR")}
        out[group] = {**values, "n_queries": float(len(rows))}
    return out


def export_weights(
    run: str | Path,
    out: str | Path | None = None,
    *,
    dataset: str | Path | None = None,
    splits: Sequence[str] = ("val", "test", "test-seen"),
    which: str = "best",
    cache_dir: str | Path | None = None,
    train_command: str = "memesearch train --preset starter",
) -> Path:
    """Write the ``which`` checkpoint of a ``starter`` run as a weights directory and evaluate it.

    ``out`` (default: the package's committed weights directory) receives ``model.safetensors``
    (float32), ``config.json`` (architecture, preprocessing, provenance) and, when ``dataset`` is
    given, ``metrics.json`` with the QI-branch metrics of ``splits`` measured through the exported
    weights (``create_encoder("starter:<out>")`` + :func:`evaluate_starter`; query vectors from the
    text-embedding cache in ``cache_dir``, filled by training). Returns ``out``.

    The files are made readable by all (0644): ``out`` is package data by default.
    """
    from safetensors.torch import save_model

    run = Path(run)
    task, model, train_config = load_trained_model(run, which=which)
    if train_config.task != "starter" or not is_starter_model(model):
        raise ConfigError(f"{run} is a run of task {train_config.task!r}, not 'starter'")
    checkpoint = find_checkpoint(run, which) if (run / "checkpoints").is_dir() else run
    ckpt_info = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    out = Path(out) if out is not None else weights_dir()
    out.mkdir(parents=True, exist_ok=True)
    config: StarterConfig = model.config  # type: ignore[assignment]
    with atomic_path(out / MODEL_FILE) as tmp:
        save_model(model.float().cpu(), str(tmp), metadata={"format": "pt", "model": "starter"})
    _readable(out / MODEL_FILE)
    described = weights_description(
        config,
        {
            "task": train_config.task,
            "dataset": train_config.task_config.get("dataset"),
            "train_split": train_config.task_config.get("train_split"),
            "val_split": train_config.task_config.get("val_split"),
            "checkpoint": checkpoint.name,
            "step": ckpt_info.get("step"),
            "epoch": ckpt_info.get("epoch"),
            "val_metrics": ckpt_info.get("metrics"),
            "select_metric": train_config.select_metric,
        },
    )
    atomic_write_json(out / CONFIG_FILE, described)
    _readable(out / CONFIG_FILE)
    if dataset is not None:
        if cache_dir is None:
            cache_dir = train_config.task_config.get("cache_dir")
        training = _training_summary(run, train_config, train_command)
        write_metrics(out, dataset, splits=splits, training=training, cache_dir=cache_dir)
    _ = task
    return out


def weights_description(config: StarterConfig, trained_on: dict[str, Any]) -> dict[str, Any]:
    """The ``config.json`` of a starter weights folder: format, architecture, preprocessing, text side and
    ``trained_on`` (how the weights were made)."""
    size = config.image_size
    resize = f"bicubic to {size}x{size}"
    if config.cnn_size != size:
        resize += f" (the CNN: average-pooled to {config.cnn_size})"
    return {
        "format": WEIGHTS_FORMAT,
        "format_version": WEIGHTS_FORMAT_VERSION,
        "memesearch_version": __version__,
        "model": config.to_dict(),
        "dtype": "float32",
        "image_preprocess": {
            "loader": "memesearch.models.encoders.images.load_image (RGB, transparency on white)",
            "resize": resize,
            "scale": "pixels / 255 * 2 - 1",
        },
        "text": {"encoder": config.text_encoder, "query_kind": "query", "emotion_kind": config.emotion_kind},
        "trained_on": trained_on,
    }


def write_metrics(
    out: str | Path,
    dataset: str | Path,
    *,
    splits: Sequence[str] = ("val", "test", "test-seen"),
    training: dict[str, Any],
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Measure the weights in ``out`` on ``splits`` of ``dataset`` (:func:`evaluate_starter`, query
    vectors from the text-embedding cache in ``cache_dir``) and write them, with ``training`` (how the
    weights were made), as ``out/metrics.json``. Returns what was written."""
    from memesearch.data.formats import read_dataset

    out = Path(out)
    ds = read_dataset(dataset)
    encoder = create_encoder(f"starter:{out}", device="cpu")
    assert isinstance(encoder, StarterEncoder)
    cache = TextEmbeddingCache(encoder.starter_config.text_encoder, cache_dir)
    results = {s: evaluate_starter(encoder, ds, s, cache=cache) for s in splits}
    metrics = {
        "description": "QI branch (starter image tower + emotion gate) vs e5-small queries; all queries "
        "and per language; test = unseen concepts x held-out style, test-seen = seen concepts x "
        "held-out style",
        "dataset": {"path": str(dataset), "name": ds.name, "build": ds.meta.get("command")},
        "training": training,
        "weights": {"file": MODEL_FILE, "bytes": (out / MODEL_FILE).stat().st_size, "dtype": "float32",
                    "parameters": sum(p.numel() for p in encoder.model.parameters())},
        "splits": results,
    }  # fmt: skip
    atomic_write_json(out / METRICS_FILE, metrics)
    _readable(out / METRICS_FILE)
    return metrics


def _training_summary(run: Path, train_config: Any, command: str) -> dict[str, Any]:
    """Steps, batch, wall time (from the run's train.log timestamps) of a run, and the build command of
    its training dataset when that folder is here."""
    from datetime import datetime

    summary: dict[str, Any] = {
        "command": command,
        "epochs": train_config.epochs,
        "max_steps": train_config.max_steps,
        "batch_size": train_config.batch_size,
        "lr": train_config.optim.lr,
        "task_config": dict(train_config.task_config),
    }
    data_file = Path(str(train_config.task_config.get("dataset", ""))) / "dataset.json"
    if data_file.is_file():
        meta = json.loads(data_file.read_text(encoding="utf-8")).get("meta") or {}
        summary["dataset_build"] = meta.get("command")
        summary["dataset_licences"] = (meta.get("licences") or {}).get("images")
    log_file = run / "train.log"
    if log_file.is_file():
        lines = [ln for ln in log_file.read_text(encoding="utf-8").splitlines() if ln[:4].isdigit()]
        if lines:
            stamp = "%Y-%m-%d %H:%M:%S"
            first = datetime.strptime(lines[0][:19], stamp)
            last = datetime.strptime(lines[-1][:19], stamp)
            # from the first to the last line of train.log: the steps and validations, without the data
            # setup before it (image decoding, e5 embedding of texts not yet cached)
            summary["train_log_span_s"] = (last - first).total_seconds()
    return summary


def _readable(path: Path) -> None:
    """0644: temporary files (and safetensors) are created 0600; package data must be readable by all."""
    os.chmod(path, 0o644)
