"""The state of one training run: counters (:class:`TrainState`), the pieces the loop works on
(:class:`ActiveRun`), the :class:`TrainResult` returned by :func:`memesearch.train.loop.train`, and
saving / restoring all of it through checkpoints.

Exactness of resume: optimizer, scheduler, grad scaler, step counters and every rank's RNG states go
into each checkpoint, and :func:`restore_run` puts them back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from memesearch.train import checkpoint as ckpt
from memesearch.train.config import TrainConfig
from memesearch.train.distributed import DistEnv, barrier, gather_objects
from memesearch.train.run_dir import JsonLinesWriter
from memesearch.train.task import Task

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """Counters saved in every checkpoint. ``epoch`` is the epoch in progress (0-based) and
    ``step_in_epoch`` the optimizer steps already done in it; ``step`` counts all optimizer steps."""

    step: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    samples_seen: int = 0
    best_value: float | None = None
    best_step: int | None = None


@dataclass(frozen=True)
class TrainResult:
    """What :func:`memesearch.train.loop.train` returns.

    ``finished`` is False when the run paused at ``stop_after_steps``.
    """

    run_dir: Path
    step: int
    epoch: int
    finished: bool
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    best_value: float | None
    val_metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class ActiveRun:
    """Everything one training run holds (built once by :func:`memesearch.train.loop.train`)."""

    config: TrainConfig
    env: DistEnv
    task: Task
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    autocast: Callable[[], contextlib.AbstractContextManager[Any]]
    dataset: Any
    steps_per_epoch: int
    total_steps: int
    run_dir: Path
    writer: JsonLinesWriter | None = None
    last_checkpoint: Path | None = None
    val_metrics: dict[str, float] = field(default_factory=dict)

    def save(self, state: TrainState, metrics: Mapping[str, float] | None = None) -> Path:
        self.last_checkpoint = save_run_checkpoint(self, state, metrics)
        return self.last_checkpoint


def restore_run(run: ActiveRun) -> TrainState:
    """Load the last checkpoint of the run directory into model, optimizer, schedule, scaler and RNG."""
    run_dir, env = run.run_dir, run.env
    if ckpt.read_pointer(run_dir, "last") is None:
        log.warning("%s has no checkpoint yet; starting it from step 0", run_dir)
        return TrainState()
    path = ckpt.find_checkpoint(run_dir, "last")
    ckpt.check_compatible(ckpt.read_checkpoint_config(path), run.config, where=path)
    ckpt.load_model_weights(run.model, path, device=env.device)
    loaded = ckpt.load_trainer_state(
        path, optimizer=run.optimizer, scheduler=run.scheduler, scaler=run.scaler
    )
    state = TrainState(**loaded["train_state"])
    rng = loaded["rng"] or []
    if len(rng) == env.world_size:
        ckpt.restore_rng_state(rng[env.rank], env.device)
    else:
        log.warning(
            "checkpoint has RNG states of %d ranks, this run has %d: dropout is reseeded (not bit-exact)",
            len(rng), env.world_size,
        )  # fmt: skip
        torch.manual_seed(run.config.seed + env.rank + state.step)
    log.info(
        "resumed %s at step %d (epoch %d, %d steps into it)",
        path,
        state.step,
        state.epoch + 1,
        state.step_in_epoch,
    )
    return state


def save_run_checkpoint(run: ActiveRun, state: TrainState, metrics: Mapping[str, float] | None) -> Path:
    """Write a checkpoint from rank 0 with every rank's RNG state (a collective: all ranks call it)."""
    env = run.env
    rng_states = gather_objects(ckpt.capture_rng_state(env.device))
    path = run.run_dir / ckpt.CHECKPOINT_DIR / f"step-{state.step:08d}"
    if env.is_main:
        path = ckpt.save_checkpoint(
            run.run_dir,
            model=run.model,
            config=run.config,
            train_state=dataclasses.asdict(state),
            optimizer=run.optimizer,
            scheduler=run.scheduler,
            scaler=run.scaler,
            rng_states=rng_states,
            metrics=metrics,
            keep=run.config.keep_checkpoints,
            extra_files=run.task.checkpoint_files(run.model),
        )
    barrier()
    return path
