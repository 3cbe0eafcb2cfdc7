"""Self-describing, atomically written checkpoints that resume exactly.

Layout of a run directory::

    RUN/
      config.yaml                 resolved TrainConfig of the run
      metrics.jsonl               one JSON object per progress line ("train") and per validation ("val")
      checkpoints/
        step-00000040/            one checkpoint (a directory, renamed into place when complete)
          model.safetensors       all weights of the Task's model (frozen ones included)
          config.json             {"memesearch_version", "task", "train_config", "step", "epoch", "metrics"}
          trainer_state.pt        optimizer, scheduler, grad scaler, RNG states (per rank), counters
        last.json                 {"checkpoint": "step-00000040", ...}  (pointer, replaced atomically)
        best.json                 {"checkpoint": ..., "metric": "r1", "value": ..., "step": ...}

A checkpoint is written into a hidden temporary directory and renamed into place (``os.replace``);
the pointers are rewritten through a temporary file and ``os.replace``. A crash at any moment leaves
the previous pointer and the checkpoint it names intact. ``trainer_state.pt`` is read with
``torch.load(weights_only=True)``: no arbitrary code runs when a checkpoint is loaded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import random
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memesearch.errors import ConfigError
from memesearch.models.trained.layout import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    MODEL_FILE,
    find_checkpoint,
    read_checkpoint_info,
    read_pointer,
)
from memesearch.utils.io import atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from memesearch.train.config import TrainConfig
    from memesearch.train.task import Task

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.pt"
STATE_FORMAT = 1
_RESERVED = (MODEL_FILE, CONFIG_FILE, STATE_FILE)
_STEP_PREFIX = "step-"


# ------------------------------------------------------------------------------------------------
# atomic directories (files: memesearch.utils.io)


@contextlib.contextmanager
def _atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``final`` only if the block completes."""
    tmp = final.with_name(f".tmp-{final.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        for child in tmp.rglob("*"):  # contents on disk before the rename makes them visible
            if child.is_file():
                with open(child, "rb") as f:
                    os.fsync(f.fileno())
        if final.exists():  # same step saved twice (e.g. a pause right at an epoch end): keep the first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ------------------------------------------------------------------------------------------------
# RNG state


def capture_rng_state(cuda_device: torch.device | None = None) -> dict[str, Any]:
    """The Python, NumPy, torch CPU and (if given) CUDA RNG states, in a ``weights_only``-loadable form."""
    import numpy as np
    import torch

    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (
            str(kind),
            torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            int(pos),
            int(has_gauss),
            float(gauss),
        ),
        "torch": torch.get_rng_state(),
    }
    if cuda_device is not None and cuda_device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(cuda_device)
    return state


def restore_rng_state(state: Mapping[str, Any], cuda_device: torch.device | None = None) -> None:
    """Inverse of :func:`capture_rng_state`."""
    import numpy as np
    import torch

    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if cuda_device is not None and cuda_device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], cuda_device)


# ------------------------------------------------------------------------------------------------
# save


def save_checkpoint(
    run_dir: str | Path,
    *,
    model: nn.Module,
    config: TrainConfig,
    train_state: Mapping[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    scaler: Any = None,
    rng_states: list[dict[str, Any]] | None = None,
    metrics: Mapping[str, float] | None = None,
    keep: int = 2,
    extra_files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write a checkpoint of step ``train_state["step"]`` under ``run_dir/checkpoints``; point ``last`` at it.

    ``extra_files`` (``{relative path: bytes}``, from :meth:`Task.checkpoint_files`) are written inside the
    checkpoint directory before it is renamed into place. Returns the checkpoint directory. Older
    checkpoints beyond the ``keep`` newest are removed, except the one ``best.json`` points to.
    """
    import torch
    from safetensors.torch import save_model

    from memesearch._version import __version__
    from memesearch.train.config import config_to_dict

    root = Path(run_dir) / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):  # left by a crash in an earlier process
        shutil.rmtree(stale, ignore_errors=True)
    step = int(train_state["step"])
    final = root / f"{_STEP_PREFIX}{step:08d}"
    described = {
        "memesearch_version": __version__,
        "task": config.task,
        "train_config": config_to_dict(config),
        "step": step,
        "epoch": int(train_state.get("epoch", 0)),
        "metrics": dict(metrics) if metrics else None,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    with _atomic_dir(final) as tmp:
        # save_model de-duplicates tied weights, which save_file refuses
        save_model(
            model, str(tmp / MODEL_FILE), metadata={"format": "pt", "task": config.task, "step": str(step)}
        )
        (tmp / CONFIG_FILE).write_text(
            json.dumps(described, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        for rel, data in (extra_files or {}).items():
            target = tmp / rel
            if Path(rel).is_absolute() or ".." in Path(rel).parts or target.name in _RESERVED:
                raise ValueError(f"checkpoint file {rel!r} must be a relative path that is not {_RESERVED}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        _write_trainer_state(
            tmp / STATE_FILE,
            {
                "format": STATE_FORMAT,
                "train_state": dict(train_state),
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "rng": rng_states,
            },
            torch,
        )
    write_pointer(run_dir, "last", final, {"step": step})
    _prune(root, keep)
    return final


def _write_trainer_state(path: Path, state: dict[str, Any], torch_module: Any) -> None:
    torch_module.save(state, path)


def write_pointer(
    run_dir: str | Path, which: str, checkpoint: Path, extra: Mapping[str, Any] | None = None
) -> None:
    """Atomically point ``checkpoints/<which>.json`` (``last`` or ``best``) at ``checkpoint``."""
    data = {"checkpoint": checkpoint.name, **(extra or {})}
    atomic_write_text(Path(run_dir) / CHECKPOINT_DIR / f"{which}.json", json.dumps(data, indent=2) + "\n")


def _prune(root: Path, keep: int) -> None:
    pinned = set()
    for which in ("last", "best"):
        pointer = read_pointer(root.parent, which)
        if pointer:
            pinned.add(pointer["checkpoint"])
    steps = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(_STEP_PREFIX))
    for old in steps[:-keep] if keep > 0 else steps:
        if old.name not in pinned:
            shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# find and load


def read_checkpoint_config(checkpoint: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` a checkpoint was written with."""
    from memesearch.train.config import train_config_from_dict

    return train_config_from_dict(read_checkpoint_info(checkpoint)["train_config"])


def check_compatible(
    saved: TrainConfig,
    current: TrainConfig,
    *,
    where: str | Path,
    only_model: bool = False,
    allowed: frozenset[str] | None = None,
) -> None:
    """Raise :class:`ConfigError` listing every differing key between a checkpoint's config and ours.

    ``only_model=True`` compares what defines the weights (``task`` and ``task_config``);
    otherwise every key except ``allowed`` (default: :data:`~memesearch.train.config.RESUME_SAFE_KEYS`).
    """
    from memesearch.train.config import RESUME_SAFE_KEYS, config_diff, config_to_dict

    a, b = config_to_dict(saved), config_to_dict(current)
    if only_model:
        a = {k: a[k] for k in ("task", "task_config")}
        b = {k: b[k] for k in ("task", "task_config")}
    skip = RESUME_SAFE_KEYS if allowed is None else allowed
    diffs = [d for d in config_diff(a, b) if d[0] not in skip]
    if diffs:
        shown = "; ".join(f"{k}: checkpoint {va!r}, current {vb!r}" for k, va, vb in diffs[:8])
        more = f" (and {len(diffs) - 8} more)" if len(diffs) > 8 else ""
        raise ConfigError(
            f"checkpoint {where} does not match the current config: {shown}{more} — resume with the run's "
            "own "
            "config (memesearch train --resume RUN without --config), or start a new run"
        )


def load_model_weights(
    model: nn.Module,
    checkpoint: str | Path,
    *,
    expected: TrainConfig | None = None,
    device: str | torch.device = "cpu",
) -> None:
    """Load a checkpoint's weights into ``model`` (strict); with ``expected``, check the config first."""
    from safetensors.torch import load_model

    checkpoint = Path(checkpoint)
    if expected is not None:
        check_compatible(read_checkpoint_config(checkpoint), expected, where=checkpoint, only_model=True)
    try:
        load_model(model, str(checkpoint / MODEL_FILE), strict=True, device=str(device))
    except RuntimeError as exc:
        raise ConfigError(
            f"the weights in {checkpoint / MODEL_FILE} do not fit the model built from the current config: "
            f"{str(exc).splitlines()[0][:500]} — build the model from the checkpoint's own config.json"
        ) from exc


def init_model_from(model: nn.Module, path: str | Path) -> tuple[list[str], list[str]]:
    """Copy the weights of a run's best checkpoint (or a checkpoint directory) into ``model`` by name.

    For a model that extends the checkpoint's (stage 2 adds a branch to stage 1): tensors present in
    both must have equal shapes (else :class:`ConfigError`); returns ``(missing, unexpected)`` names —
    model tensors the checkpoint lacks (left as initialised) and checkpoint tensors the model lacks.
    """
    from safetensors.torch import load_file

    try:
        source = find_checkpoint(path, "best")
    except ConfigError:
        source = find_checkpoint(path, "last")
    weights = load_file(str(source / MODEL_FILE))
    own = model.state_dict()
    bad = [
        f"{k}: checkpoint {tuple(v.shape)}, model {tuple(own[k].shape)}"
        for k, v in weights.items()
        if k in own and own[k].shape != v.shape
    ]
    if bad:
        raise ConfigError(f"init_from {source}: tensor shapes differ: {'; '.join(bad[:5])}")
    if not set(weights) & set(own):
        raise ConfigError(
            f"init_from {source}: no tensor name in common with the model; is it the right checkpoint?"
        )
    result = model.load_state_dict({k: v for k, v in weights.items() if k in own}, strict=False)
    return list(result.missing_keys), sorted(set(weights) - set(own))


def recorded_init_from(path: str | Path, *, which: str = "best") -> Path | None:
    """The run (or checkpoint) a run was initialised from: its checkpoint's recorded ``init_from``.

    ``None`` when the run records none. A relative ``init_from`` was relative to the directory training
    ran in; that directory is recovered from where the run was written (the run directory less its
    recorded ``output_dir/<run name>``), then tried beside the run and in the current directory. The
    first that exists is returned; when none does, :class:`ConfigError` names the recorded value and
    every path tried.

    Example::

        recorded_init_from("runs/qc")     # doctest: +SKIP
        PosixPath('/home/me/project/runs/qi')
    """
    try:
        ckpt = find_checkpoint(path, which)
    except ConfigError:
        ckpt = find_checkpoint(path, "last")
    config = read_checkpoint_info(ckpt).get("train_config") or {}
    recorded = config.get("init_from")
    if not recorded:
        return None
    target = Path(str(recorded)).expanduser()
    if target.is_absolute():
        candidates = [target]
    else:
        run_dir = ckpt.parent.parent.resolve() if ckpt.parent.name == CHECKPOINT_DIR else ckpt.resolve()
        bases: list[Path] = []
        written_as = Path(str(config.get("output_dir") or ".")) / run_dir.name
        if not written_as.is_absolute():
            depth = len(written_as.parts)
            if run_dir.parts[-depth:] == written_as.parts:
                bases.append(run_dir.parents[depth - 1])  # where training ran
        bases += [run_dir.parent, Path.cwd()]
        candidates = list(dict.fromkeys(base / target for base in bases))
    for candidate in candidates:
        if candidate.exists():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise ConfigError(
        f"{path} was initialised from {str(recorded)!r} (init_from in {ckpt / CONFIG_FILE}), which is gone: "
        f"tried {tried}; restore that run there"
    )


def load_trainer_state(
    checkpoint: str | Path,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    scaler: Any = None,
) -> dict[str, Any]:
    """Restore optimizer/scheduler/scaler states; returns ``{"train_state": ..., "rng": [per rank]}``."""
    import torch

    path = Path(checkpoint) / STATE_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # a pickled object weights_only refuses: nothing was run
        raise ConfigError(
            f"refusing trainer state {path}: it holds Python objects, not only tensors"
        ) from None
    except (OSError, RuntimeError, EOFError) as exc:
        raise ConfigError(f"cannot read trainer state {path}: {exc}") from exc
    if state.get("format") != STATE_FORMAT:
        raise ConfigError(f"{path}: trainer state format {state.get('format')!r}, expected {STATE_FORMAT}")
    try:
        if optimizer is not None and state["optimizer"] is not None:
            optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state["scaler"] is not None:
            scaler.load_state_dict(state["scaler"])
    except (ValueError, KeyError) as exc:
        raise ConfigError(
            f"{path}: optimizer state does not fit the current parameter groups: {exc}"
        ) from exc
    return {"train_state": state["train_state"], "rng": state["rng"]}


def load_trained_model(
    path: str | Path, *, which: str = "best", device: str = "cpu"
) -> tuple[Task, nn.Module, TrainConfig]:
    """Rebuild the Task and its model from a run or checkpoint directory and load the weights (eval mode).

    ``which`` picks the ``best`` (validation-selected) or ``last`` checkpoint of a run directory; a run
    without a best pointer falls back to the last checkpoint.

    Example::

        task, model, config = load_trained_model("runs/qi-20250101-120000")  # doctest: +SKIP
    """
    from memesearch.train.task import create_task

    try:
        ckpt = find_checkpoint(path, which)
    except ConfigError:
        if which != "best":
            raise
        ckpt = find_checkpoint(path, "last")
    config = read_checkpoint_config(ckpt)
    task, _ = create_task(config.task, config.task_config)
    model = task.build_model()
    load_model_weights(model, ckpt, device="cpu")
    model.to(device).eval()
    return task, model, config
