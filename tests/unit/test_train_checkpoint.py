"""Checkpoints: atomic writes survive a crash mid-write, loading checks the config, RNG state round trips."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from memesearch.errors import ConfigError
from memesearch.train import checkpoint as ckpt
from memesearch.train.config import TrainConfig
from memesearch.train.optim import build_optimizer, build_scheduler
from memesearch.train.task import create_task


def make(dim: int = 8) -> tuple[TrainConfig, torch.nn.Module, torch.optim.Optimizer, object]:
    config = TrainConfig(task="synthetic", task_config={"dim": dim, "hidden": 8})
    task, resolved = create_task(config.task, config.task_config)
    config = TrainConfig(task="synthetic", task_config=resolved)
    model = task.build_model()
    optimizer, _ = build_optimizer(model, task, config.optim)
    return config, model, optimizer, build_scheduler(optimizer, config.optim, 10)


def save(
    run: Path, step: int, config: TrainConfig, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> Path:
    return ckpt.save_checkpoint(
        run, model=model, config=config, train_state={"step": step, "epoch": 0}, optimizer=optimizer, keep=3
    )


def test_a_crash_inside_the_write_leaves_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, model, optimizer, _ = make()
    first = save(tmp_path, 1, config, model, optimizer)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)

    def crash(path: Path, state: dict, torch_module: object) -> None:
        path.write_bytes(b"half a file")  # a partial write, then the process dies
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(ckpt, "_write_trainer_state", crash)
    with pytest.raises(KeyboardInterrupt):
        save(tmp_path, 2, config, model, optimizer)
    monkeypatch.undo()

    assert ckpt.find_checkpoint(tmp_path) == first
    assert not (tmp_path / "checkpoints" / "step-00000002").exists()
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))
    _, fresh, fresh_opt, _ = make()
    ckpt.load_model_weights(fresh, ckpt.find_checkpoint(tmp_path), expected=config)
    assert all(torch.equal(fresh.state_dict()[k], saved[k]) for k in saved)
    assert ckpt.load_trainer_state(first, optimizer=fresh_opt)["train_state"]["step"] == 1


def test_a_crash_while_moving_the_pointer_keeps_the_old_pointer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, model, optimizer, _ = make()
    first = save(tmp_path, 1, config, model, optimizer)

    def crash(path: Path, text: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "atomic_write_text", crash)
    with pytest.raises(OSError):
        save(tmp_path, 2, config, model, optimizer)
    monkeypatch.undo()
    assert ckpt.find_checkpoint(tmp_path) == first  # the half-published step 2 is never pointed at


def test_a_mismatched_config_gives_a_clear_error(tmp_path: Path) -> None:
    config, model, optimizer, _ = make(dim=8)
    path = save(tmp_path, 1, config, model, optimizer)
    other_config, other_model, _, _ = make(dim=16)
    with pytest.raises(ConfigError, match=r"task_config\.dim: checkpoint 8, current 16"):
        ckpt.load_model_weights(other_model, path, expected=other_config)
    with pytest.raises(ConfigError, match="do not fit the model built from the current config"):
        ckpt.load_model_weights(other_model, path)  # no config given: the shapes still catch it
    with pytest.raises(ConfigError, match="neither a run directory nor a checkpoint"):
        ckpt.find_checkpoint(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"has no checkpoints/last\.json"):
        ckpt.find_checkpoint(tmp_path / "empty")


def test_old_checkpoints_are_pruned_but_best_is_kept(tmp_path: Path) -> None:
    config, model, optimizer, _ = make()
    first = save(tmp_path, 1, config, model, optimizer)
    ckpt.write_pointer(tmp_path, "best", first, {"value": 0.5})
    for step in range(2, 7):
        save(tmp_path, step, config, model, optimizer)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.is_dir())
    assert names == ["step-00000001", "step-00000004", "step-00000005", "step-00000006"]
    assert ckpt.find_checkpoint(tmp_path, "best") == first


def test_rng_state_round_trip() -> None:
    state = ckpt.capture_rng_state()
    expected = (random.random(), float(np.random.rand()), float(torch.rand(())))
    random.random(), np.random.rand(), torch.rand(())
    ckpt.restore_rng_state(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == expected


def test_trained_model_reloads_from_its_own_description(tmp_path: Path) -> None:
    config, model, optimizer, _ = make(dim=12)
    save(tmp_path, 3, config, model, optimizer)
    _, loaded, loaded_config = ckpt.load_trained_model(tmp_path)  # no best yet: falls back to last
    assert loaded_config == config and not loaded.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
