"""TrainConfig: file round trips, typed ``--set`` overrides, precedence and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from memesearch.errors import ConfigError, UnknownNameError
from memesearch.train.config import (
    OptimConfig,
    TrainConfig,
    apply_overrides,
    config_diff,
    config_to_dict,
    load_config,
    save_config,
    train_config_from_dict,
)
from memesearch.train.run import list_presets, read_preset, resolve_config


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_save_and_load_round_trip(tmp_path: Path, suffix: str) -> None:
    cfg = TrainConfig(
        task="synthetic",
        task_config={"dim": 8, "dropout": 0.0},
        batch_size=32,
        accum_steps=4,
        max_steps=7,
        optim=OptimConfig(lr=3e-4, coef_lr=0.1, betas=(0.9, 0.98), warmup_ratio=0.1),
    )
    path = tmp_path / f"cfg{suffix}"
    save_config(cfg, path)
    assert load_config(path) == cfg


def test_overrides_are_typed_and_dotted() -> None:
    cfg = apply_overrides(
        TrainConfig(),
        [
            "optim.lr=1e-4",  # YAML 1.1 reads this as a string; the float field converts it
            "optim.betas=[0.9, 0.98]",
            "epochs=3",
            "max_steps=null",
            "run_name=exp-1",
            "precision=bf16",
            "task_config.dim=16",
            "task_config.frozen=[]",
        ],
    )
    assert cfg.optim.lr == pytest.approx(1e-4) and isinstance(cfg.optim.lr, float)
    assert cfg.optim.betas == (0.9, 0.98)
    assert cfg.epochs == 3 and cfg.max_steps is None and cfg.run_name == "exp-1"
    assert cfg.precision == "bf16"
    assert cfg.task_config == {"dim": 16, "frozen": []}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("epochs=two", "epochs: got 'two', expected an integer"),
        ("optim.lr=fast", "expected a number"),
        ("precision=fp8", "expected one of 'auto', 'fp32', 'fp16', 'bf16'"),
        ("epoch=3", "did you mean 'epochs'"),
        ("optim.learning_rate=1", "valid keys of optim"),
        ("optim=1", "is a section"),
        ("batch_size", "key=value"),
        ("batch_size=0", "batch_size: got 0, expected an integer >= 1"),
        ("optim.warmup_ratio=1.5", "a fraction in [0, 1)"),
    ],
)
def test_bad_overrides_say_what_was_expected(override: str, message: str) -> None:
    with pytest.raises(
        ConfigError, match=message.replace("(", r"\(").replace("[", r"\[").replace(")", r"\)")
    ):
        apply_overrides(TrainConfig(), [override])


def test_cross_field_checks() -> None:
    with pytest.raises(ConfigError, match="not divisible by accum_steps"):
        TrainConfig(batch_size=10, accum_steps=4)
    with pytest.raises(ConfigError, match="set only one of them"):
        OptimConfig(warmup_steps=10, warmup_ratio=0.1)


def test_unknown_file_keys_are_rejected_with_the_valid_ones(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("task: synthetic\nbatchsize: 8\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown config key 'batchsize' \(did you mean 'batch_size'\?\)"):
        load_config(path)


def test_task_config_is_type_checked_against_the_task(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("task: synthetic\n", encoding="utf-8")
    resolved = resolve_config(path, ["task_config.dim=8"])
    assert resolved.task_config["dim"] == 8
    assert resolved.task_config["hidden"] == 32  # the Task's defaults are filled in (self-describing)
    with pytest.raises(ConfigError, match=r"task_config\.dim: got 'wide', expected an integer"):
        resolve_config(path, ["task_config.dim=wide"])
    with pytest.raises(ConfigError, match=r"unknown config key 'task_config\.width'"):
        resolve_config(path, ["task_config.width=8"])
    with pytest.raises(UnknownNameError, match=r"valid tasks: .*synthetic"):
        resolve_config(path, ["task=clip5meme"])


def test_precedence_preset_then_file_then_set(tmp_path: Path) -> None:
    assert "synthetic" in list_presets()
    preset = read_preset("synthetic")
    path = tmp_path / "cfg.yaml"
    path.write_text("epochs: 5\noptim:\n  coef_lr: 0.5\n", encoding="utf-8")
    cfg = resolve_config(path, ["epochs=6"], preset="synthetic")
    assert cfg.epochs == 6  # --set beats the file
    assert cfg.optim.coef_lr == 0.5  # the file beats the preset
    assert cfg.optim.lr == pytest.approx(preset["optim"]["lr"])  # the preset beats the defaults
    assert cfg.batch_size == preset["batch_size"]
    with pytest.raises(UnknownNameError, match=r"valid presets: .*synthetic"):
        resolve_config(None, [], preset="no-such-preset")
    with pytest.raises(ConfigError, match="nothing to train"):
        resolve_config()


def test_config_diff_lists_dotted_keys() -> None:
    a = config_to_dict(TrainConfig(task_config={"dim": 8}))
    b = config_to_dict(TrainConfig(task_config={"dim": 16}, optim=OptimConfig(lr=1.0)))
    assert [d[0] for d in config_diff(a, b)] == ["optim.lr", "task_config.dim"]
    assert train_config_from_dict(a) == TrainConfig(task_config={"dim": 8})
