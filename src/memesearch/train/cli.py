"""Entry point ``main(argv)`` of ``memesearch train`` (also ``python -m memesearch.train`` under torchrun).

Config precedence, lowest to highest: built-in defaults < ``--preset NAME`` < ``--config FILE`` <
``--set key=value`` (repeatable, dotted keys, type-checked). ``--resume RUN`` continues a run from its
last checkpoint with the run's own config; only bookkeeping keys (``stop_after_steps``, ``log_every``,
``num_workers``, ...) may be changed with ``--set`` on resume.

Examples::

    memesearch train --preset synthetic
    memesearch train --config qi.yaml --set optim.lr=5e-5 --set batch_size=128
    memesearch train --resume runs/qi-20250101-120000
    torchrun --nproc_per_node 4 -m memesearch.train --config qi.yaml
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memesearch.errors import ConfigError, MemesearchError, UnknownNameError
from memesearch.train.config import (
    TrainConfig,
    apply_overrides,
    config_to_dict,
    merge_dicts,
    read_config_file,
    train_config_from_dict,
)

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.train.loop import TrainResult

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
    from memesearch.train.loop import CONFIG_NAME
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


def run(
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    preset: str | None = None,
    resume: str | Path | None = None,
) -> TrainResult:
    """Resolve the config and train (raises :class:`~memesearch.errors.MemesearchError` on user errors)."""
    from memesearch.train.loop import train

    cfg = resolve_config(config, overrides, preset, resume)
    return train(cfg, resume=resume)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``memesearch train``."""
    parser = argparse.ArgumentParser(
        prog="memesearch train",
        description="Train a retrieval model with the generic loop (one Task per method).",
        epilog="Precedence: defaults < --preset < --config < --set.",
    )
    parser.add_argument("--config", "-c", type=Path, help="YAML or JSON training config (TrainConfig keys).")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key (dotted, e.g. optim.lr=1e-4, task_config.dim=64); repeatable",
    )
    parser.add_argument("--preset", help="start from a shipped preset (see --list-presets)")
    parser.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue this run from its last checkpoint"
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config as YAML and exit"
    )
    parser.add_argument("--list-tasks", action="store_true", help="list the registered Tasks and exit")
    parser.add_argument("--list-presets", action="store_true", help="list the shipped presets and exit")
    parser.add_argument("--quiet", "-q", action="store_true", help="only warnings and errors on stderr")
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``memesearch train`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    0: trained (or paused at ``stop_after_steps``), 2: a user error (``error: ...`` on stderr).
    """
    import yaml

    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.list_tasks:
            from memesearch.train.task import get_task_spec, list_tasks

            for name in list_tasks():
                print(f"{name}\t{get_task_spec(name).description}")
            return 0
        if args.list_presets:
            print("\n".join(list_presets()))
            return 0
        if args.print_config:
            cfg = resolve_config(args.config, args.overrides, args.preset, args.resume)
            print(yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True), end="")
            return 0
        setup_logging(args.quiet)
        result = run(args.config, args.overrides, args.preset, args.resume)
    except MemesearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from memesearch.train.distributed import ranks_from_env

    if ranks_from_env()[0] == 0:
        print(f"run directory: {result.run_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
