"""Resolve a training config and run it: what ``memesearch train`` (:mod:`memesearch.cli.train`, the one
command line; also ``python -m memesearch.train`` under torchrun) calls, as plain functions.

Config precedence, lowest to highest: built-in defaults < ``--preset NAME`` < ``--config FILE`` <
``--set key=value`` (repeatable, dotted keys, type-checked). ``--resume RUN`` continues a run from its
last checkpoint with the run's own config; only bookkeeping keys (``stop_after_steps``, ``log_every``,
``num_workers``, ...) may be changed with ``--set`` on resume.

Examples::

    memesearch train --preset synthetic
    memesearch train --config qi.yaml --set optim.lr=5e-5 --set batch_size=128
    memesearch train --resume runs/qi-20250101-120000
    torchrun --nproc_per_node 4 -m memesearch.train --config qi.yaml

    >>> from memesearch.train.run import run_training
    >>> result = run_training(preset="synthetic", overrides=["max_steps=2"])   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memesearch.errors import ConfigError, UnknownNameError
from memesearch.train.config import (
    TrainConfig,
    apply_overrides,
    config_to_dict,
    merge_dicts,
    read_config_file,
    train_config_from_dict,
)

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.train.run_state import TrainResult

_PRESET_PACKAGE = "memesearch.train.presets"


def list_presets() -> list[str]:
    """Names of the shipped presets (``memesearch/train/presets/NAME.yaml``)."""
    return sorted(
        p.name.removesuffix(".yaml")
        for p in resources.files(_PRESET_PACKAGE).iterdir()
        if p.name.endswith(".yaml")
    )


def read_preset(name: str) -> dict[str, Any]:
    """The mapping of preset ``name``; unknown names list the valid ones."""
    import yaml

    resource = resources.files(_PRESET_PACKAGE) / f"{name}.yaml"
    if not resource.is_file():
        raise UnknownNameError(
            f"unknown preset {name!r}; valid presets: {', '.join(list_presets()) or '(none)'}"
        )
    data = yaml.safe_load(resource.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"preset {name!r} is not a mapping of config keys")
    return data


def resolve_config(
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    preset: str | None = None,
    resume: str | Path | None = None,
) -> TrainConfig:
    """Layer preset, config file and overrides into a :class:`TrainConfig` (Task config with defaults).

    With ``resume`` and neither ``config`` nor ``preset``, the run's saved ``config.yaml`` is the base.
    """
    from memesearch.train.run_dir import CONFIG_NAME
    from memesearch.train.task import resolve_task_config

    if config is None and preset is None and resume is None:
        raise ConfigError("nothing to train: pass --config FILE.yaml, --preset NAME or --resume RUN_DIR")
    data: dict[str, Any] = {}
    if resume is not None and config is None and preset is None:
        saved = Path(resume) / CONFIG_NAME
        if not saved.is_file():
            raise ConfigError(
                f"cannot resume {str(resume)!r}: no {CONFIG_NAME} there; "
                "pass a run directory of `memesearch train`"
            )
        data = read_config_file(saved)
    if preset is not None:
        data = merge_dicts(data, read_preset(preset))
    if config is not None:
        data = merge_dicts(data, read_config_file(config))
    cfg = apply_overrides(train_config_from_dict(data), overrides)
    _, resolved = resolve_task_config(cfg.task, cfg.task_config)
    return train_config_from_dict({**config_to_dict(cfg), "task_config": resolved})


def run_training(
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    preset: str | None = None,
    resume: str | Path | None = None,
) -> TrainResult:
    """Resolve the config and train (raises :class:`~memesearch.errors.MemesearchError` on user errors)."""
    from memesearch.train.loop import train

    cfg = resolve_config(config, overrides, preset, resume)
    return train(cfg, resume=resume)


def setup_logging(quiet: bool = False) -> None:
    """Progress lines of ``memesearch.train`` to stderr (INFO), on rank 0 only, unless ``quiet``.

    Adds a plain stderr handler when the process has no logging handler yet (standalone use); under the
    ``memesearch`` typer app, whose root handler already exists, only the level is set.
    """
    from memesearch.train.distributed import ranks_from_env

    rank = ranks_from_env()[0]
    logger = logging.getLogger("memesearch.train")
    logger.setLevel(logging.WARNING if quiet or rank > 0 else logging.INFO)
    if not logging.getLogger().handlers and not any(
        getattr(h, "_memesearch_train", False) for h in logger.handlers
    ):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._memesearch_train = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
