"""Training progress: the per-step meter, the progress line and its ``metrics.jsonl`` record, and the
one-time setup summary logged when a run starts.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from memesearch.errors import MemesearchError
from memesearch.train.config import config_to_dict
from memesearch.train.gradcache import StepOutput
from memesearch.train.optim import GroupSummary
from memesearch.train.run_state import ActiveRun, TrainState

log = logging.getLogger(__name__)


class ProgressMeter:
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


def log_progress(run: ActiveRun, meter: ProgressMeter, state: TrainState) -> None:
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
        record[k] = sum(to_float(v) for v in values) / len(values)
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


def log_setup(run: ActiveRun, groups: Sequence[GroupSummary], precision: str) -> None:
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


def to_float(value: Any) -> float:
    return float(value.detach()) if isinstance(value, Tensor) else float(value)


def format_metrics(metrics: Mapping[str, float]) -> str:
    return " ".join(f"{k} {v:.4g}" for k, v in metrics.items())
