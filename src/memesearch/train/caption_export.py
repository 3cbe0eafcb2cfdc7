"""Export of ``clipcap`` runs: a training run -> a saved captioner folder (what ``--model`` loads).

:func:`export_captioner` writes the chosen checkpoint as ``captioner.json`` + ``model.safetensors`` +
``tokenizer/`` (:meth:`memesearch.caption.Captioner.save`) and, given a dataset, ``metrics.json``: caption
metrics of the val, test and test-seen splits measured through the written folder. The default target is
the package's ``starter-caption`` folder. Command line::

    memesearch export runs/clipcap-20250101-120000 --dataset data/emoji
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memesearch.caption.captioner import METRICS_FILE, MODEL_FILE, builtin_dir, load_captioner
from memesearch.errors import ConfigError
from memesearch.train.checkpoint import find_checkpoint, read_checkpoint_config, read_checkpoint_info
from memesearch.utils.io import atomic_write_json

log = logging.getLogger(__name__)


def export_captioner(
    run: str | Path,
    out: str | Path | None = None,
    *,
    dataset: str | Path | None = None,
    splits: Sequence[str] = ("val", "test-seen", "test"),
    which: str = "best",
) -> Path:
    """Write the ``which`` checkpoint (``best`` or ``last``) of a ``clipcap`` run (or a checkpoint folder) to
    ``out`` (default: the shipped ``starter-caption`` folder) and, with ``dataset``, its metrics. Returns
    ``out``."""
    run = Path(run)
    checkpoint = find_checkpoint(run, which)
    config = read_checkpoint_config(checkpoint)
    if config.task != "clipcap":
        raise ConfigError(f"{run} is a run of task {config.task!r}, not 'clipcap'")
    info = read_checkpoint_info(checkpoint)
    captioner = load_captioner(checkpoint, device="cpu")
    task_config = config.task_config
    trained_on = {
        "task": config.task,
        "dataset": task_config.get("dataset"),
        "train_split": task_config.get("train_split"),
        "val_split": task_config.get("val_split"),
        "checkpoint": checkpoint.name,
        "which": which,
        "step": info.get("step"),
        "epoch": info.get("epoch"),
        "val_metrics": info.get("metrics"),
        "select_metric": config.select_metric,
    }
    target = Path(out) if out is not None else builtin_dir("starter-caption")
    captioner.save(target, trained_on=trained_on)
    log.info("captioner written to %s", target)
    if dataset is not None:
        write_metrics(target, dataset, splits, training=_training(config))
    return target


def write_metrics(
    folder: Path, dataset: str | Path, splits: Sequence[str], *, training: dict[str, Any] | None = None
) -> Path:
    """``metrics.json`` of the captioner in ``folder`` on the dataset's ``splits`` (those it has)."""
    from memesearch.data.formats import read_dataset
    from memesearch.eval.captions import evaluate_captioner
    from memesearch.models.encoders.registry import create_encoder

    ds = read_dataset(dataset)
    captioner = load_captioner(folder, device="cpu")
    text = create_encoder("e5-small", device="cpu")
    reports = {s: evaluate_captioner(captioner, ds, s, text_encoder=text) for s in splits if s in ds}
    weights = folder / MODEL_FILE
    metrics = {
        "description": "greedy captions per language vs the items' given captions (BLEU-1..4, ROUGE-L, "
        "CIDEr-D, exact match), and image->text retrieval of the split's caption texts by the generated "
        "caption's e5-small embedding (i2t R@k, MdR); emoji: val = unseen concepts x train styles, "
        "test-seen = seen concepts x held-out style, test = unseen concepts x held-out style",
        "dataset": {"path": str(dataset), "name": ds.name, "build": ds.meta.get("command")},
        "training": training or {},
        "weights": {
            "file": MODEL_FILE,
            "bytes": weights.stat().st_size,
            "parameters": sum(p.numel() for p in captioner.model.parameters()),
        },
        "version": captioner.version,
        "splits": reports,
    }
    atomic_write_json(folder / METRICS_FILE, metrics)
    return folder / METRICS_FILE


def _training(config: Any) -> dict[str, Any]:
    return {
        "command": "memesearch train --preset starter-caption",
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.optim.lr,
        "task_config": dict(config.task_config),
    }
