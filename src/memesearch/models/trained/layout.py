"""Where a training run keeps its checkpoints, read without importing training.

A run directory (written by ``memesearch train``; :mod:`memesearch.train.checkpoint` writes it)::

    RUN/checkpoints/step-00000040/model.safetensors   all weights of the Task's model
    RUN/checkpoints/step-00000040/config.json         {"task", "train_config", "step", "epoch", "metrics"}
    RUN/checkpoints/last.json, best.json               pointers {"checkpoint": "step-00000040", ...}

Training resumes from it and serving loads it (``checkpoint:<run>`` encoders,
:mod:`memesearch.models.trained`); both read it through these functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memesearch.errors import ConfigError

CHECKPOINT_DIR = "checkpoints"
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def read_pointer(run_dir: str | Path, which: str) -> dict[str, Any] | None:
    """The content of ``checkpoints/<which>.json``, or None when there is none."""
    path = Path(run_dir) / CHECKPOINT_DIR / f"{which}.json"
    if not path.is_file():
        return None
    return dict(json.loads(path.read_text(encoding="utf-8")))


def find_checkpoint(path: str | Path, which: str = "last") -> Path:
    """Resolve a run directory (via its ``which`` pointer: ``last`` or ``best``) or a checkpoint directory."""
    path = Path(path)
    if (path / CONFIG_FILE).is_file() and (path / MODEL_FILE).is_file():
        return path
    if not path.is_dir():
        raise ConfigError(
            f"{str(path)!r} is neither a run directory nor a checkpoint directory (it does not exist)"
        )
    pointer = read_pointer(path, which)
    if pointer is None:
        raise ConfigError(
            f"{str(path)!r} has no checkpoints/{which}.json; expected a run directory written by "
            f"`memesearch train` (with a saved checkpoint) or a checkpoint directory containing {MODEL_FILE}"
        )
    ckpt = path / CHECKPOINT_DIR / str(pointer["checkpoint"])
    if not (ckpt / MODEL_FILE).is_file():
        raise ConfigError(
            f"{path}: checkpoints/{which}.json names {ckpt.name}, which is missing or incomplete"
        )
    return ckpt


def read_checkpoint_info(checkpoint: str | Path) -> dict[str, Any]:
    """The checkpoint's ``config.json`` (task, train_config, step, epoch, metrics, version)."""
    path = Path(checkpoint) / CONFIG_FILE
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read checkpoint description {path}: {exc}") from exc


def served_checkpoint(path: str | Path) -> Path:
    """The checkpoint a run serves: its ``best`` (validation-selected) one, else its ``last``; a checkpoint
    directory is itself."""
    try:
        return find_checkpoint(path, "best")
    except ConfigError:
        return find_checkpoint(path, "last")
