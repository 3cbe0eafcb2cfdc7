"""Export a ``uniclip`` run as the plain dual encoder: a Hugging Face folder that ``clip:<dir>`` loads.

UniCLIP's OCR heads exist for training only (research/B §1.5). :func:`export_uniclip` loads the run's
chosen checkpoint and writes its CLIP towers **without the heads**:

* ``config.json`` + ``model.safetensors``: ``CLIPModel`` / ``ChineseCLIPModel`` ``save_pretrained`` of
  the trained towers (float32; the logit scale kept);
* the tokenizer the run used, its ``model_max_length`` set to the run's text context (``max_words``, 12 in
  the recipe), so ``clip:<dir>`` truncates queries as training and the UniCLIP evaluation did;
* ``preprocessor_config.json``: the image processor the run used (cn_clip's squash-resize for
  Chinese-CLIP towers);
* ``uniclip.json``: where it came from (run, checkpoint, step, task config) and what was left out.

The run must have been built on ``clip:<dir>`` or ``random-clip:<arch>`` towers (a ``tiny-clip`` run
has no tokenizer files to write). ``clip:<dir>`` then gives the embeddings the trained towers give
(tested to 1e-5). Command line::

    memesearch export runs/uniclip-small-20260101-120000 --out models/uniclip-small
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memesearch._version import __version__
from memesearch.errors import ConfigError
from memesearch.utils.io import atomic_dir, atomic_write_json

EXPORT_INFO = "uniclip.json"


def export_uniclip(run: str | Path, out: str | Path, *, which: str = "best", overwrite: bool = False) -> Path:
    """Write the run's ``which`` checkpoint (best, else last) as a ``clip:``-loadable folder ``out``."""
    from memesearch.models.uniclip.model import UniClipModel
    from memesearch.train.checkpoint import find_checkpoint, load_trained_model
    from memesearch.train.tasks.uniclip import UniClipTask

    task, model, config = load_trained_model(run, which=which)
    if not isinstance(task, UniClipTask) or not isinstance(model, UniClipModel):
        raise ConfigError(f"{run} is a {config.task!r} run; this export writes uniclip runs")
    parts = task.parts()
    tokenizer: Any = parts.tokenizer
    processor = getattr(parts.preprocess, "processor", None)
    if not hasattr(tokenizer, "save_pretrained") or processor is None:
        raise ConfigError(
            f"{run} was trained on {config.task_config.get('model_name')!r}, whose tokenizer and image "
            "preprocessing cannot be saved as a Hugging Face folder; train on clip:<dir> or "
            "random-clip:<arch> towers to export"
        )
    try:
        checkpoint = find_checkpoint(run, which)
    except ConfigError:
        checkpoint = find_checkpoint(run, "last")
    heads = {name: p.numel() for name, p in model.named_parameters() if not name.startswith("clip.")}
    out_dir = Path(out)
    clip: Any = model.clip
    max_words = task.max_words
    previous = tokenizer.model_max_length
    try:
        with atomic_dir(out_dir, replace=overwrite) as tmp:
            clip.save_pretrained(tmp)
            tokenizer.model_max_length = max_words
            tokenizer.save_pretrained(tmp)
            processor.save_pretrained(tmp)
            step_info = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
            atomic_write_json(
                tmp / EXPORT_INFO,
                {
                    "format": "memesearch-uniclip-export",
                    "memesearch_version": __version__,
                    "run": str(Path(run).resolve()),
                    "checkpoint": checkpoint.name,
                    "step": step_info.get("step"),
                    "epoch": step_info.get("epoch"),
                    "metrics": step_info.get("metrics"),
                    "task_config": config.task_config,
                    "text_max_length": max_words,
                    "left_out": {
                        "training heads (parameters)": sum(heads.values()),
                        "tensors": len(heads),
                    },
                    "load_with": f"clip:{out_dir}",
                },
            )
    except FileExistsError:
        raise ConfigError(
            f"{out_dir} already exists and is not empty; pass --overwrite to replace it"
        ) from None
    finally:
        tokenizer.model_max_length = previous
    return out_dir


def export_uniclip_starter(
    run: str | Path, out: str | Path, *, which: str = "best", overwrite: bool = False
) -> Path:
    """Write a ``uniclip-starter`` run's ``which`` checkpoint (best, else last) as a starter weights folder
    ``out`` without the OCR heads: ``model.safetensors`` (the starter network's tensors, float32) and
    ``config.json`` (format ``memesearch-starter``), which ``starter:<out>`` loads."""
    from safetensors.torch import save_model

    from memesearch.models.starter.encoder import (
        CONFIG_FILE,
        MODEL_FILE,
        WEIGHTS_FORMAT,
        WEIGHTS_FORMAT_VERSION,
    )
    from memesearch.models.starter.model import build_model
    from memesearch.models.uniclip.starter_model import HEAD_PREFIXES, UniClipStarterModel
    from memesearch.train.checkpoint import find_checkpoint, load_trained_model

    task, model, config = load_trained_model(run, which=which)
    if not isinstance(model, UniClipStarterModel):
        raise ConfigError(f"{run} is a {config.task!r} run; this export writes uniclip-starter runs")
    try:
        checkpoint = find_checkpoint(run, which)
    except ConfigError:
        checkpoint = find_checkpoint(run, "last")
    plain = build_model(model.config)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(HEAD_PREFIXES)}
    plain.load_state_dict(state, strict=True)
    heads = {k: p.numel() for k, p in model.named_parameters() if k.startswith(HEAD_PREFIXES)}
    step_info = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    out_dir = Path(out)
    size = model.config.image_size
    try:
        with atomic_dir(out_dir, replace=overwrite) as tmp:
            save_model(
                plain.float().cpu(), str(tmp / MODEL_FILE), metadata={"format": "pt", "model": "starter"}
            )
            atomic_write_json(
                tmp / CONFIG_FILE,
                {
                    "format": WEIGHTS_FORMAT,
                    "format_version": WEIGHTS_FORMAT_VERSION,
                    "memesearch_version": __version__,
                    "model": model.config.to_dict(),
                    "dtype": "float32",
                    "image_preprocess": {
                        "loader": "memesearch.models.encoders.images.load_image (RGB, transparency on white)",
                        "resize": f"bicubic to {size}x{size}",
                        "scale": "pixels / 255 * 2 - 1",
                    },
                    "text": {"encoder": model.config.text_encoder, "query_kind": "query"},
                    "trained_on": {
                        "task": config.task,
                        "run": str(Path(run).resolve()),
                        "checkpoint": checkpoint.name,
                        "step": step_info.get("step"),
                        "epoch": step_info.get("epoch"),
                        "val_metrics": step_info.get("metrics"),
                        "select_metric": config.select_metric,
                        "task_config": config.task_config,
                        "left_out": {
                            "training heads (parameters)": sum(heads.values()),
                            "tensors": len(heads),
                        },
                    },
                },
            )
    except FileExistsError:
        raise ConfigError(
            f"{out_dir} already exists and is not empty; pass --overwrite to replace it"
        ) from None
    _ = task
    return out_dir
