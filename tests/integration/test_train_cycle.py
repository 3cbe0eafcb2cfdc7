"""Train -> validate -> checkpoint -> reload -> evaluate, all through ``main(argv)`` (synthetic Task)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import typer
from safetensors.torch import load_file
from typer.testing import CliRunner

from memesearch.cli.main import main as cli_main
from memesearch.cli.train import train as train_command
from memesearch.train.checkpoint import find_checkpoint, load_trained_model, read_checkpoint_info
from memesearch.train.config import load_config
from memesearch.train.task import create_task


def main(argv: list[str]) -> int:
    """``memesearch train ARGV`` through the one command line; returns the exit code."""
    return cli_main(["train", *argv])


CONFIG = """\
task: synthetic
task_config:
  num_groups: 24
  items_per_group: 4
  dropout: 0.1
epochs: 3
batch_size: 16
accum_steps: 2
log_every: 2
select_metric: loss
select_mode: min
optim:
  lr: 3.0e-3
  coef_lr: 0.1
  warmup_ratio: 0.1
"""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_train_validate_checkpoint_reload_evaluate(tmp_path: Path) -> None:
    cfg_path = tmp_path / "train.yaml"
    cfg_path.write_text(CONFIG, encoding="utf-8")
    code = main(
        [
            "--config",
            str(cfg_path),
            "--set",
            f"output_dir={tmp_path / 'runs'}",
            "--set",
            "run_name=cycle",
            "-q",
        ]
    )
    assert code == 0
    run = tmp_path / "runs" / "cycle"

    # the run directory describes itself
    config = load_config(run / "config.yaml")
    assert config.task_config["hidden"] == 32  # the Task's defaults were resolved and saved
    records = read_jsonl(run / "metrics.jsonl")
    train_lines = [r for r in records if r["kind"] == "train"]
    val_lines = [r for r in records if r["kind"] == "val"]
    assert [r["step"] for r in train_lines] == list(range(2, 3 * 6 + 1, 2))  # 6 steps per epoch, log every 2
    for r in train_lines:
        assert {"loss", "lr", "samples_per_s", "data_time", "step_time", "grad_norm", "logit_scale"} <= set(r)
        assert r["samples_per_s"] > 0 and len(r["lr"]) == 3  # new/decay, new/no_decay, pretrained/decay
    assert [r["epoch"] for r in val_lines] == [1, 2, 3]
    assert train_lines[-1]["loss"] < train_lines[0]["loss"]

    # the best checkpoint is the validation-best epoch, and it reloads to the same metrics
    best_line = min(val_lines, key=lambda r: r["metrics"]["loss"])
    best = find_checkpoint(run, "best")
    assert read_checkpoint_info(best)["step"] == best_line["step"]
    assert read_checkpoint_info(best)["metrics"] == best_line["metrics"]
    task, model, loaded_config = load_trained_model(run)
    assert loaded_config == config
    again = task.validate(model, torch.device("cpu"))
    assert again == pytest.approx(best_line["metrics"], abs=1e-6)

    # training helped, and frozen parameters did not move (bit for bit)
    fresh_task, _ = create_task(config.task, config.task_config)
    torch.manual_seed(config.seed)
    untrained = fresh_task.build_model()
    assert best_line["metrics"]["loss"] < fresh_task.validate(untrained.eval(), torch.device("cpu"))["loss"]
    weights = load_file(str(find_checkpoint(run, "last") / "model.safetensors"))
    initial = untrained.state_dict()
    assert torch.equal(weights["item_stem.weight"], initial["item_stem.weight"])
    assert torch.equal(weights["item_stem.bias"], initial["item_stem.bias"])
    assert not torch.equal(weights["query_head.0.weight"], initial["query_head.0.weight"])
    assert not torch.equal(weights["query_embedding.weight"], initial["query_embedding.weight"])


def test_main_reports_user_errors_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg_path = tmp_path / "train.yaml"
    cfg_path.write_text("task: clip5meme\n", encoding="utf-8")
    assert main(["--config", str(cfg_path)]) == 2
    assert "error: unknown task 'clip5meme'; valid tasks:" in capsys.readouterr().err
    cfg_path.write_text(CONFIG, encoding="utf-8")
    assert (
        main(["--config", str(cfg_path), "--set", "batch_size=1000", "--set", f"output_dir={tmp_path}"]) == 2
    )
    assert "fewer than batch_size=1000" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--list-tasks"]) == 0
    assert "synthetic" in capsys.readouterr().out


def test_typer_command_trains_and_prints_config(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(train_command)
    app.command(name="noop")(lambda: None)  # two commands, so typer keeps the command name
    runner = CliRunner()
    shown = runner.invoke(app, ["train", "--preset", "synthetic", "--set", "epochs=1", "--print-config"])
    assert shown.exit_code == 0, shown.output
    assert "epochs: 1" in shown.output and "task: synthetic" in shown.output
    result = runner.invoke(
        app,
        [
            "train",
            "--preset",
            "synthetic",
            "--set",
            "epochs=1",
            "--set",
            f"output_dir={tmp_path}",
            "--set",
            "run_name=t",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert find_checkpoint(tmp_path / "t", "best").is_dir()


def test_stage_two_starts_from_stage_one_and_leaves_its_frozen_branch_unchanged(tmp_path: Path) -> None:
    cfg_path = tmp_path / "train.yaml"
    cfg_path.write_text(CONFIG, encoding="utf-8")
    common = ["--config", str(cfg_path), "--set", f"output_dir={tmp_path}", "--set", "epochs=1", "-q"]
    assert main([*common, "--set", "run_name=stage1"]) == 0
    stage2_args = [
        "--set", "run_name=stage2",
        "--set", f"init_from={tmp_path / 'stage1'}",
        "--set", "task_config.frozen=[item_stem., item_head.]",  # the stage-1 branch that must not drift
    ]  # fmt: skip
    assert main([*common, *stage2_args]) == 0
    stage1 = load_file(str(find_checkpoint(tmp_path / "stage1", "best") / "model.safetensors"))
    stage2 = load_file(str(find_checkpoint(tmp_path / "stage2", "last") / "model.safetensors"))
    frozen = [k for k in stage1 if k.startswith(("item_stem.", "item_head."))]
    assert frozen
    for name in frozen:
        assert torch.equal(stage1[name], stage2[name]), name
    assert not torch.equal(stage1["query_head.0.weight"], stage2["query_head.0.weight"])
    assert load_config(tmp_path / "stage2" / "config.yaml").init_from == str(tmp_path / "stage1")
