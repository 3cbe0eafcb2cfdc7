"""A run paused at ``stop_after_steps`` and resumed ends bit-identical to a run never paused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from memesearch.cli.main import main as cli_main
from memesearch.train.checkpoint import find_checkpoint, read_pointer


def main(argv: list[str]) -> int:
    """``memesearch train ARGV`` through the one command line; returns the exit code."""
    return cli_main(["train", *argv])


# 64 samples / batch 16 = 4 steps per epoch, 2 epochs; dropout, warmup + cosine, GradCache (2 micro-batches)
CONFIG = """\
task: synthetic
task_config: {num_groups: 16, items_per_group: 4, dropout: 0.2}
epochs: 2
batch_size: 16
accum_steps: 2
log_every: 1
select_metric: r1
select_mode: max
optim: {lr: 3.0e-3, coef_lr: 0.1, warmup_steps: 3, min_lr_ratio: 0.05}
"""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def final_state(run: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    last = find_checkpoint(run, "last")
    return load_file(str(last / "model.safetensors")), torch.load(
        last / "trainer_state.pt", weights_only=True
    )


@pytest.mark.parametrize("pause_at", [3, 4], ids=["mid-epoch", "epoch-end"])
def test_paused_and_resumed_equals_uninterrupted(tmp_path: Path, pause_at: int) -> None:
    cfg = tmp_path / "train.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    common = ["--config", str(cfg), "--set", f"output_dir={tmp_path}", "-q"]
    assert main([*common, "--set", "run_name=full"]) == 0
    assert main([*common, "--set", "run_name=paused", "--set", f"stop_after_steps={pause_at}"]) == 0
    paused = tmp_path / "paused"
    assert read_pointer(paused, "last")["step"] == pause_at  # type: ignore[index]
    assert not any(
        r["kind"] == "train" and r["step"] > pause_at for r in read_jsonl(paused / "metrics.jsonl")
    )

    assert main(["--resume", str(paused), "-q"]) == 0

    weights_full, state_full = final_state(tmp_path / "full")
    weights_resumed, state_resumed = final_state(paused)
    assert weights_full.keys() == weights_resumed.keys()
    for name in weights_full:
        assert torch.equal(weights_full[name], weights_resumed[name]), name
    assert state_full["train_state"] == state_resumed["train_state"]
    assert state_full["scheduler"] == state_resumed["scheduler"]
    for key, moments in state_full["optimizer"]["state"].items():
        for name, value in moments.items():
            assert torch.equal(value, state_resumed["optimizer"]["state"][key][name]), (key, name)

    # the same losses, learning rates and validation metrics after the pause as without it
    full = read_jsonl(tmp_path / "full" / "metrics.jsonl")
    resumed = read_jsonl(paused / "metrics.jsonl")

    def train_lines(records: list[dict[str, Any]]) -> list[tuple[int, float, list[float]]]:
        return [(r["step"], r["loss"], r["lr"]) for r in records if r["kind"] == "train"]

    assert train_lines(resumed) == train_lines(full)
    assert [r["metrics"] for r in resumed if r["kind"] == "val"] == [
        r["metrics"] for r in full if r["kind"] == "val"
    ]


def test_resume_refuses_a_changed_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "train.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    args = [
        "--config",
        str(cfg),
        "--set",
        f"output_dir={tmp_path}",
        "--set",
        "run_name=r",
        "--set",
        "stop_after_steps=2",
    ]
    assert main([*args, "-q"]) == 0
    assert main(["--resume", str(tmp_path / "r"), "--set", "optim.lr=0.1", "-q"]) == 2
    assert "optim.lr: checkpoint 0.003, current 0.1" in capsys.readouterr().err
    assert main([*args, "-q"]) == 2  # the same run name again: refused, the run is not overwritten
    assert "already exists; continue it with --resume" in capsys.readouterr().err
