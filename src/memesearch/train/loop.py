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
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Sampler

from memesearch.errors import ConfigError, MemesearchError
from memesearch.train import checkpoint as ckpt
from memesearch.train.config import (
    TrainConfig,
    config_to_dict,
    read_config_file,
    save_config,
    train_config_from_dict,
)
from memesearch.train.distributed import (
    DistEnv,
    all_gather_with_grad,
    average_gradients,
    barrier,
    broadcast_module,
    broadcast_object,
    gather_objects,
    init_distributed,
    shutdown_distributed,
)
from memesearch.train.gradcache import StepOutput, accumulate_gradients
from memesearch.train.optim import GroupSummary, build_optimizer, build_scheduler
from memesearch.train.task import Task, create_task

log = logging.getLogger(__name__)

CONFIG_NAME = "config.yaml"
METRICS_NAME = "metrics.jsonl"


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
    """What :func:`train` returns. ``finished`` is False when the run paused at ``stop_after_steps``."""

    run_dir: Path
    step: int
    epoch: int
    finished: bool
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    best_value: float | None
    val_metrics: dict[str, float] = field(default_factory=dict)


class StepBatchSampler(Sampler[list[int]]):
    """This rank's micro-batches of one epoch, from step ``start_step`` on.

    The epoch's order is a permutation seeded by ``(seed, epoch)``; step ``s`` takes the global batch
    ``perm[s*B:(s+1)*B]`` (the last incomplete batch is dropped: the contrastive batch keeps its
    size), rank ``r`` takes its contiguous ``B / world`` share, cut into ``accum`` micro-batches.
    Concatenating every rank's micro-batches in order gives back the global batch.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        accum_steps: int,
        rank: int,
        world_size: int,
        seed: int,
        epoch: int,
        start_step: int = 0,
    ) -> None:
        if batch_size % (world_size * accum_steps):
            raise ConfigError(
                f"batch_size={batch_size} must be divisible by world_size * accum_steps = "
                f"{world_size} * {accum_steps}; choose a batch_size that is a multiple of "
                f"{world_size * accum_steps}"
            )
        self.n, self.batch_size, self.accum, self.rank, self.world = (
            n,
            batch_size,
            accum_steps,
            rank,
            world_size,
        )
        self.seed, self.epoch, self.start_step = seed, epoch, start_step
        self.steps = n // batch_size

    def __iter__(self) -> Iterator[list[int]]:
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**63)
        perm = torch.randperm(self.n, generator=gen)
        share = self.batch_size // self.world
        micro = share // self.accum
        for step in range(self.start_step, self.steps):
            start = step * self.batch_size + self.rank * share
            local = perm[start : start + share]
            for j in range(self.accum):
                yield local[j * micro : (j + 1) * micro].tolist()

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step) * self.accum


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


@dataclass
class _Run:
    """Everything one training run holds (built once by :func:`_setup`)."""

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
    writer: _JsonLines | None = None
    last_checkpoint: Path | None = None
    val_metrics: dict[str, float] = field(default_factory=dict)

    def save(self, state: TrainState, metrics: Mapping[str, float] | None = None) -> Path:
        self.last_checkpoint = _save(self, state, metrics)
        return self.last_checkpoint


def _train(config: TrainConfig, env: DistEnv, resume: Path | None) -> TrainResult:
    run, state = _setup(config, env, resume)
    config = run.config
    file_log = _attach_file_log(run.run_dir) if env.is_main else None
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
        best_checkpoint=_best_pointer(run.run_dir),
        best_value=state.best_value,
        val_metrics=run.val_metrics,
    )


def _setup(config: TrainConfig, env: DistEnv, resume: Path | None) -> tuple[_Run, TrainState]:
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
    run = _Run(
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
        run_dir=_prepare_run_dir(config, env, resume),
    )
    state = TrainState()
    if resume is not None:
        state = _restore(run)
    elif env.rank > 0:
        torch.manual_seed(config.seed + env.rank)  # different dropout masks per rank
    if env.distributed:
        broadcast_module(model)
    if env.is_main:
        if resume is None:
            save_config(config, run.run_dir / CONFIG_NAME)
        run.writer = _JsonLines(run.run_dir / METRICS_NAME)
    _log_setup(run, groups, precision)
    return run, state


def _train_epoch(run: _Run, state: TrainState, epoch: int) -> bool:
    """Train the rest of ``epoch``; False when paused (``stop_after_steps``) before its end."""
    config, env = run.config, run.env
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
    meter = _Meter()
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
            _log_progress(run, meter, state)
        if state.step_in_epoch == run.steps_per_epoch or state.step >= run.total_steps:
            return True  # the epoch-end checkpoint follows
        if config.checkpoint_every and state.step % config.checkpoint_every == 0:
            run.save(state)
        if config.stop_after_steps == state.step:
            return False
    return True


def _end_epoch(run: _Run, state: TrainState, epoch: int) -> None:
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
                state.epoch, state.step, _fmt_metrics(metrics), " (best so far)" if improved else "",
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
    run: _Run, micro: list[Any], trainable: list[nn.Parameter]
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
    return {str(k): _to_float(v) for k, v in metrics.items()}


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


# ------------------------------------------------------------------------------------------------
# run directory, checkpoints


def _prepare_run_dir(config: TrainConfig, env: DistEnv, resume: Path | None) -> Path:
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


def _restore(run: _Run) -> TrainState:
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


def _best_pointer(run_dir: Path) -> Path | None:
    pointer = ckpt.read_pointer(run_dir, "best")
    return run_dir / ckpt.CHECKPOINT_DIR / str(pointer["checkpoint"]) if pointer else None


def _save(run: _Run, state: TrainState, metrics: Mapping[str, float] | None) -> Path:
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
        )
    barrier()
    return path


# ------------------------------------------------------------------------------------------------
# logging


class _Meter:
    """Averages over the steps since the last progress line (losses stay on the device until then)."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self.losses: list[Tensor] = []
        self.extra: dict[str, list[Any]] = {}
        self.grad_norm: Tensor | None = None
        self.lrs: list[float] = []
        self.samples = 0
        self.data_time = 0.0
        self.start = time.perf_counter()

    def add(
        self, out: StepOutput, grad_norm: Tensor | None, lrs: list[float], samples: int, data_time: float
    ) -> None:
        self.losses.append(out.loss)
        self.lrs = lrs
        for k, v in out.metrics.items():
            self.extra.setdefault(k, []).append(v)
        self.grad_norm = grad_norm
        self.samples += samples
        self.data_time += data_time


def _log_progress(run: _Run, meter: _Meter, state: TrainState) -> None:
    """The progress line (and a "train" record in metrics.jsonl), averaged since the previous one."""
    env, config = run.env, run.config
    if env.device.type == "cuda":
        torch.cuda.synchronize(env.device)
    n = len(meter.losses)
    if n == 0:
        return
    elapsed = max(time.perf_counter() - meter.start, 1e-9)
    loss = float(torch.stack(meter.losses).mean())
    if not math.isfinite(loss):
        raise MemesearchError(
            f"the training loss became {loss} at step {state.step}; lower optim.lr, raise optim.warmup_steps "
            "or use precision=fp32"
        )
    record: dict[str, Any] = {
        "kind": "train",
        "step": state.step,
        "epoch": state.epoch + 1,
        "loss": loss,
        "lr": meter.lrs,
        "samples_per_s": meter.samples / elapsed,
        "data_time": meter.data_time / n,
        "step_time": elapsed / n,
    }
    if meter.grad_norm is not None:
        record["grad_norm"] = float(meter.grad_norm)
    for k, values in meter.extra.items():
        record[k] = sum(_to_float(v) for v in values) / len(values)
    if env.device.type == "cuda":
        record["max_memory_gb"] = torch.cuda.max_memory_allocated(env.device) / 2**30
    if run.writer:
        run.writer.write(record)
    eta = _hms(record["step_time"] * (run.total_steps - state.step))
    extras = "".join(f" | {k} {record[k]:.4g}" for k in meter.extra)
    log.info(
        "step %d/%d (epoch %d/%d) loss %.4f lr %.2e | %.1f samples/s | data %.3fs step %.3fs | eta %s%s",
        state.step, run.total_steps, state.epoch + 1, config.epochs, loss, record["lr"][0],
        record["samples_per_s"], record["data_time"], record["step_time"], eta, extras,
    )  # fmt: skip
    meter.restart()


def _log_setup(run: _Run, groups: Sequence[GroupSummary], precision: str) -> None:
    config, env = run.config, run.env
    if not env.is_main:
        return
    micro = config.batch_size // (env.world_size * config.accum_steps)
    log.info(
        "task %s: %d steps (%d per epoch x %d epochs%s), batch %d = %d ranks x %d micro-batches x %d, "
        "precision %s, device %s, run directory %s",
        config.task, run.total_steps, run.steps_per_epoch, config.epochs,
        f", capped by max_steps={config.max_steps}" if config.max_steps else "", config.batch_size,
        env.world_size, config.accum_steps, micro, precision, env.device, run.run_dir,
    )  # fmt: skip
    for g in groups:
        log.info(
            "  param group %-20s %4d tensors %10d params  lr %.2e  weight decay %g",
            g.name, g.num_tensors, g.num_params, g.lr, g.weight_decay,
        )  # fmt: skip
    log.debug("resolved config: %s", json.dumps(config_to_dict(config)))


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _to_float(value: Any) -> float:
    return float(value.detach()) if isinstance(value, Tensor) else float(value)


def _fmt_metrics(metrics: Mapping[str, float]) -> str:
    return " ".join(f"{k} {v:.4g}" for k, v in metrics.items())


class _JsonLines:
    """Append-only JSON lines, flushed per record (a crash loses at most the line being written)."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, record: Mapping[str, Any]) -> None:
        self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _attach_file_log(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("memesearch").addHandler(handler)
    return handler
