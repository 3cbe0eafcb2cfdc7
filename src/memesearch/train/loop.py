"""The generic training loop: one function, :func:`train`, for every Task.

Per optimizer step: take ``accum_steps`` micro-batches of this rank's share of the global batch, run
:func:`~memesearch.train.gradcache.accumulate_gradients` (the loss sees the whole batch, gathered over
ranks), average gradients over ranks, unscale (fp16), clip, step AdamW and the LR schedule, then let
the Task clamp its logit scales. Per epoch: validate on the main rank, keep the best checkpoint by
``select_metric`` (validation split only), write a checkpoint. Everything method-specific is in the Task.

Exactness of resume: the data order is a function of ``(seed, epoch)`` (no iterator state), a resumed
epoch skips the batches already done, and optimizer, scheduler, grad scaler, step counters and every
rank's RNG states are restored from the checkpoint; validation runs with the RNG saved and restored,
so how often one validates never changes the training trajectory.

The loop's pieces live beside it: the batch order in :mod:`memesearch.train.sampler`, the run's state,
result and checkpointing in :mod:`memesearch.train.run_state`, the run directory and its log files in
:mod:`memesearch.train.run_dir`, and progress logging in :mod:`memesearch.train.progress`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from memesearch.errors import ConfigError
from memesearch.train import checkpoint as ckpt
from memesearch.train.config import TrainConfig, save_config
from memesearch.train.distributed import (
    DistEnv,
    all_gather_with_grad,
    average_gradients,
    barrier,
    broadcast_module,
    broadcast_object,
    init_distributed,
    shutdown_distributed,
)
from memesearch.train.gradcache import StepOutput, accumulate_gradients
from memesearch.train.optim import build_optimizer, build_scheduler
from memesearch.train.progress import ProgressMeter, format_metrics, log_progress, log_setup, to_float
from memesearch.train.run_dir import (
    CONFIG_NAME,
    METRICS_NAME,
    JsonLinesWriter,
    attach_file_log,
    best_checkpoint_path,
    prepare_run_dir,
)
from memesearch.train.run_state import ActiveRun, TrainResult, TrainState, restore_run
from memesearch.train.sampler import StepBatchSampler
from memesearch.train.task import Task, create_task

log = logging.getLogger(__name__)


def train(config: TrainConfig, *, resume: str | Path | None = None) -> TrainResult:
    """Train ``config.task``; with ``resume``, continue that run directory from its last checkpoint.

    Under ``torchrun`` every process calls this; rank 0 writes the run directory. Returns the run's
    :class:`TrainResult`.

    Example::

        result = train(TrainConfig(task="synthetic", epochs=2, batch_size=16))
        print(result.run_dir, result.best_value)
    """
    env = init_distributed(config.device)
    try:
        return _train(config, env, Path(resume) if resume is not None else None)
    finally:
        shutdown_distributed(env)


def _train(config: TrainConfig, env: DistEnv, resume: Path | None) -> TrainResult:
    run, state = _setup(config, env, resume)
    config = run.config
    file_log = attach_file_log(run.run_dir) if env.is_main else None
    finished = True
    try:
        for epoch in range(state.epoch, config.epochs):
            if state.step >= run.total_steps:
                break
            if not _train_epoch(run, state, epoch):  # paused mid-epoch
                run.save(state)
                finished = False
                break
            _end_epoch(run, state, epoch)
            if state.step >= run.total_steps:
                break
            if config.stop_after_steps == state.step:  # paused at an epoch end (already saved)
                finished = False
                break
    finally:
        if run.writer:
            run.writer.close()
        if file_log:
            logging.getLogger("memesearch").removeHandler(file_log)
            file_log.close()
    if finished:
        log.info("training done: %d steps, run directory %s", state.step, run.run_dir)
    else:
        log.info("paused at step %d; continue with: memesearch train --resume %s", state.step, run.run_dir)
    return TrainResult(
        run_dir=run.run_dir,
        step=state.step,
        epoch=state.epoch,
        finished=finished,
        last_checkpoint=run.last_checkpoint,
        best_checkpoint=best_checkpoint_path(run.run_dir),
        best_value=state.best_value,
        val_metrics=run.val_metrics,
    )


def _setup(config: TrainConfig, env: DistEnv, resume: Path | None) -> tuple[ActiveRun, TrainState]:
    """Build Task, model, optimizer, schedule and run directory; restore them when resuming."""
    _seed_all(config.seed)  # identical model init on every rank (rank 0's weights are broadcast anyway)
    task, resolved = create_task(config.task, config.task_config)
    config = dataclasses.replace(config, task_config=resolved)
    dataset = task.train_dataset()
    n = len(dataset)  # type: ignore[arg-type]
    steps_per_epoch = n // config.batch_size
    if steps_per_epoch == 0:
        raise ConfigError(
            f"the training set of task {config.task!r} has {n} samples, fewer than "
            f"batch_size={config.batch_size}; lower batch_size"
        )
    if config.batch_size % (env.world_size * config.accum_steps):
        raise ConfigError(
            f"batch_size={config.batch_size} must be divisible by world_size * accum_steps = "
            f"{env.world_size} * {config.accum_steps}"
        )
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)

    model = task.build_model()
    if config.init_from and resume is None:
        missing, unexpected = ckpt.init_model_from(model, config.init_from)
        log.info(
            "initialised from %s (%d tensors kept fresh: %s; %d unused)",
            config.init_from, len(missing), ", ".join(missing[:5]), len(unexpected),
        )  # fmt: skip
    model = model.to(env.device)
    optimizer, groups = build_optimizer(model, task, config.optim)
    precision = _resolve_precision(config.precision, env.device)
    run = ActiveRun(
        config=config,
        env=env,
        task=task,
        model=model,
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, config.optim, total_steps),
        scaler=torch.amp.GradScaler("cuda") if precision == "fp16" else None,
        autocast=_autocast_factory(precision, env.device),
        dataset=dataset,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        run_dir=prepare_run_dir(config, env, resume),
    )
    state = TrainState()
    if resume is not None:
        state = restore_run(run)
    elif env.rank > 0:
        torch.manual_seed(config.seed + env.rank)  # different dropout masks per rank
    if env.distributed:
        broadcast_module(model)
    if env.is_main:
        if resume is None:
            save_config(config, run.run_dir / CONFIG_NAME)
        run.writer = JsonLinesWriter(run.run_dir / METRICS_NAME)
    log_setup(run, groups, precision)
    return run, state


def _train_epoch(run: ActiveRun, state: TrainState, epoch: int) -> bool:
    """Train the rest of ``epoch``; False when paused (``stop_after_steps``) before its end."""
    config, env = run.config, run.env
    # a dataset with per-epoch random draws (UniCLIP's OCR candidates) learns the epoch, as torch samplers do
    set_epoch = getattr(run.dataset, "set_epoch", None)
    if callable(set_epoch):
        set_epoch(epoch)
    sampler = StepBatchSampler(
        len(run.dataset), config.batch_size, config.accum_steps, env.rank, env.world_size,
        config.seed, epoch, state.step_in_epoch,
    )  # fmt: skip
    loader = DataLoader(
        run.dataset,
        batch_sampler=sampler,
        collate_fn=run.task.collate,
        num_workers=config.num_workers,
        pin_memory=env.device.type == "cuda",
        generator=torch.Generator().manual_seed(config.seed + epoch),  # leaves the global RNG alone
    )
    trainable = [p for p in run.model.parameters() if p.requires_grad]
    run.task.set_train_mode(run.model)
    batches = iter(loader)
    meter = ProgressMeter()
    while state.step < run.total_steps and state.step_in_epoch < run.steps_per_epoch:
        t_start = time.perf_counter()
        micro = list(_take(batches, config.accum_steps))
        t_data = time.perf_counter() - t_start
        out, grad_norm, lrs = _train_step(run, micro, trainable)
        state.step += 1
        state.step_in_epoch += 1
        state.samples_seen += config.batch_size
        meter.add(out, grad_norm, lrs, config.batch_size, t_data)
        if state.step % config.log_every == 0 or state.step == run.total_steps:
            log_progress(run, meter, state)
        if state.step_in_epoch == run.steps_per_epoch or state.step >= run.total_steps:
            return True  # the epoch-end checkpoint follows
        if config.checkpoint_every and state.step % config.checkpoint_every == 0:
            run.save(state)
        if config.stop_after_steps == state.step:
            return False
    return True


def _end_epoch(run: ActiveRun, state: TrainState, epoch: int) -> None:
    """Validate (main rank), update the best checkpoint by ``select_metric``, write a checkpoint."""
    config, env = run.config, run.env
    state.epoch, state.step_in_epoch = epoch + 1, 0
    metrics: dict[str, float] | None = None
    improved = False
    done = state.step >= run.total_steps or state.epoch == config.epochs
    if state.epoch % config.validate_every == 0 or done:
        if env.is_main:
            metrics = run.val_metrics = _validate(run.task, run.model, env, run.autocast)
            improved = _update_best(state, metrics, config)
            if run.writer:
                record = {"kind": "val", "epoch": state.epoch, "step": state.step, "metrics": metrics}
                run.writer.write({**record, "best": improved})
            log.info(
                "validation after epoch %d (step %d): %s%s",
                state.epoch, state.step, format_metrics(metrics), " (best so far)" if improved else "",
            )  # fmt: skip
        _sync_best(state)
    path = run.save(state, metrics)
    if improved and env.is_main:
        info = {"metric": config.select_metric, "mode": config.select_mode, "value": state.best_value}
        ckpt.write_pointer(run.run_dir, "best", path, {**info, "step": state.step, "epoch": state.epoch})
    barrier()


# ------------------------------------------------------------------------------------------------
# one step


def _train_step(
    run: ActiveRun, micro: list[Any], trainable: list[nn.Parameter]
) -> tuple[StepOutput, Tensor | None, list[float]]:
    """One optimizer step; returns the step's output, gradient norm and the learning rates it used."""
    task, model, optimizer, scaler, env = run.task, run.model, run.optimizer, run.scaler, run.env
    micro = [_to_device(b, env.device) for b in micro]
    out = accumulate_gradients(
        lambda batch: task.embed_batch(model, batch),
        lambda features: task.loss(model, features),
        micro,
        gather=all_gather_with_grad if env.distributed else None,
        scale_loss=scaler.scale if scaler is not None else None,
        autocast=run.autocast,
        rng_devices=[env.device] if env.device.type == "cuda" else [],
    )
    if env.distributed:
        average_gradients(trainable, env.world_size)
    if scaler is not None:
        scaler.unscale_(optimizer)
    clip = run.config.optim.grad_clip
    grad_norm = nn.utils.clip_grad_norm_(trainable, clip) if clip > 0 else None
    if scaler is not None:
        scaler.step(optimizer)  # skips the step when fp16 gradients overflowed
        scaler.update()
    else:
        optimizer.step()
    lrs = [float(g["lr"]) for g in optimizer.param_groups]
    run.scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    task.after_optimizer_step(model)
    return out, grad_norm, lrs


def _take(it: Iterator[Any], n: int) -> Iterator[Any]:
    for _ in range(n):
        try:
            yield next(it)
        except StopIteration:
            return


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


# ------------------------------------------------------------------------------------------------
# precision, seeds, validation


def _resolve_precision(precision: str, device: torch.device) -> str:
    """``auto``: bf16 on CUDA GPUs that support it, else fp16 (with a GradScaler); fp32 on CPU."""
    if precision == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(
            f"precision='fp16' needs a CUDA device, the run uses {device}; use 'auto', 'fp32' or 'bf16'"
        )
    return precision


def _autocast_factory(
    precision: str, device: torch.device
) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    if precision == "fp32":
        return contextlib.nullcontext
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def _seed_all(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _validate(
    task: Task, model: nn.Module, env: DistEnv, autocast: Callable[[], contextlib.AbstractContextManager[Any]]
) -> dict[str, float]:
    rng = ckpt.capture_rng_state(env.device)
    try:
        model.eval()
        with torch.no_grad(), autocast():
            metrics = task.validate(model, env.device)
    finally:
        ckpt.restore_rng_state(rng, env.device)
        task.set_train_mode(model)
    return {str(k): to_float(v) for k, v in metrics.items()}


def _update_best(state: TrainState, metrics: Mapping[str, float], config: TrainConfig) -> bool:
    if config.select_metric not in metrics:
        raise ConfigError(
            f"select_metric={config.select_metric!r} is not among the validation metrics of task "
            f"{config.task!r}: {', '.join(sorted(metrics))}; set --set select_metric=NAME"
        )
    value = metrics[config.select_metric]
    if math.isnan(value):
        return False
    best = state.best_value
    better = best is None or (value < best if config.select_mode == "min" else value > best)
    if better:
        state.best_value, state.best_step = value, state.step
    return better


def _sync_best(state: TrainState) -> None:
    """Rank 0's best-so-far on every rank (only rank 0 validates)."""
    best = broadcast_object((state.best_value, state.best_step))
    state.best_value, state.best_step = best
