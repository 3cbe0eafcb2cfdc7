"""A training run's directory: choosing or checking it, and the log files written into it.

A run directory holds ``config.yaml`` (the resolved config), ``metrics.jsonl`` (one JSON record per
progress line and per validation), ``train.log`` (the run's log lines) and the checkpoints of
:mod:`memesearch.train.checkpoint`. Only the main rank writes there.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from memesearch.errors import ConfigError
from memesearch.train import checkpoint as ckpt
from memesearch.train.config import TrainConfig, read_config_file, train_config_from_dict
from memesearch.train.distributed import DistEnv, broadcast_object

CONFIG_NAME = "config.yaml"
METRICS_NAME = "metrics.jsonl"


def prepare_run_dir(config: TrainConfig, env: DistEnv, resume: Path | None) -> Path:
    if resume is not None:
        if not (resume / CONFIG_NAME).is_file():
            raise ConfigError(
                f"cannot resume {str(resume)!r}: it has no {CONFIG_NAME}; "
                "pass a run directory of `memesearch train`"
            )
        saved = train_config_from_dict(read_config_file(resume / CONFIG_NAME))
        ckpt.check_compatible(saved, config, where=resume)
        return resume
    name: str | None = None
    if env.is_main:
        root = Path(config.output_dir)
        if config.run_name:
            path = root / config.run_name
            if path.exists() and any(path.iterdir()):
                raise ConfigError(
                    f"run directory {str(path)!r} already exists; continue it with --resume {path}, "
                    "or choose another run_name (--set run_name=NAME)"
                )
        else:
            base = f"{config.task}-{time.strftime('%Y%m%d-%H%M%S')}"
            path, n = root / base, 1
            while path.exists():
                n += 1
                path = root / f"{base}-{n}"
        path.mkdir(parents=True, exist_ok=True)
        name = str(path)
    name = broadcast_object(name)
    assert name is not None
    return Path(name)


def best_checkpoint_path(run_dir: Path) -> Path | None:
    pointer = ckpt.read_pointer(run_dir, "best")
    return run_dir / ckpt.CHECKPOINT_DIR / str(pointer["checkpoint"]) if pointer else None


class JsonLinesWriter:
    """Append-only JSON lines, flushed per record (a crash loses at most the line being written)."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, record: Mapping[str, Any]) -> None:
        self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def attach_file_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("memesearch").addHandler(handler)
    return handler
