"""``evaluate --compare --checkpoint`` of a stage-2 run (clip4meme-qc, ief stage qc): image, text, lexical
and fused are all reported, and the image branch scores exactly as the stage-1 run it was initialised
from — taken from the stage-2 Task's own ``score_branches``, or else from the recorded ``init_from``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memesearch.cli.main import main
from memesearch.data.formats import read_dataset
from memesearch.errors import ConfigError
from memesearch.eval.compare import run_branches
from memesearch.train.checkpoint import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    MODEL_FILE,
    load_trained_model,
    recorded_init_from,
    write_pointer,
)
from memesearch.train.tasks.clip4meme import Clip4MemeQCTask
from memesearch.train.tasks.toy_dataset import write_toy_dataset

SMALL = ["--set", "batch_size=8", "--set", "device=cpu", "--set", "task_config.model_name=tiny-clip:0", "-q"]
BRANCHES = {"image", "text", "lexical", "fused"}
METRICS = ("R@1", "R@5", "R@10", "MdR", "MR", "NDCG@10", "MAP")


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # long temporary paths: no wrapped lines


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy"))


def _train(preset: str, toy: Path, out: Path, name: str, *extra: str) -> Path:
    argv = ["train", "--preset", preset, *SMALL, "--set", f"task_config.dataset={toy}"]
    argv += ["--set", f"output_dir={out}", "--set", f"run_name={name}", "--set", "epochs=1", *extra]
    assert main(argv) == 0
    return out / name


@pytest.fixture(scope="module")
def clip4meme_runs(toy: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("runs")
    qi = _train("clip4meme-qi", toy, out, "qi")
    qc = _train("clip4meme-qc", toy, out, "qc", "--set", f"init_from={qi}")
    return qi, qc


def _compare(
    toy: Path, run: Path, out: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], str]:
    """Rows of ``all`` queries by branch, and the printed text plus the recorded image source."""
    argv = ["evaluate", "--dataset", str(toy), "--split", "test", "--compare", "--checkpoint", str(run)]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    data = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert data["inputs"]["image_from"] in printed
    return {r["branch"]: r for r in data["rows"] if r["queries"] == "all"}, printed


def _image_scores(run: Path, toy: Path, split: str = "test") -> np.ndarray:
    ds = read_dataset(toy)
    found = run_branches(
        run, ds, split, load=lambda p: load_trained_model(p)[:2], init_from=recorded_init_from
    )
    return found.scorers["image"](ds, split)


def _same_image_rows(a: dict[str, Any], b: dict[str, Any]) -> None:
    for metric in METRICS:
        assert a["image"][metric] == pytest.approx(b["image"][metric], abs=1e-6), metric


def test_clip4meme_qc_compare_reports_every_branch_with_the_stage1_image_branch(
    clip4meme_runs: tuple[Path, Path], toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qi, qc = clip4meme_runs
    rows2, printed = _compare(toy, qc, tmp_path / "qc", capsys)
    assert set(rows2) == BRANCHES
    assert "image branch: run" in printed and "its own score_branches" in printed
    rows1, _ = _compare(toy, qi, tmp_path / "qi", capsys)  # stage 1 keeps working: image from the run
    assert set(rows1) == BRANCHES
    _same_image_rows(rows1, rows2)
    np.testing.assert_allclose(_image_scores(qc, toy), _image_scores(qi, toy), rtol=0, atol=1e-6)


def test_a_text_only_stage2_task_takes_the_image_branch_from_its_init_from(
    clip4meme_runs: tuple[Path, Path],
    toy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    qi, qc = clip4meme_runs

    def text_only(self: Clip4MemeQCTask, model: Any, dataset: Any, split: str, **kw: Any) -> dict[str, Any]:
        return {"text": self.score_split(model, dataset, split, **kw)}  # the RetrievalTask default

    monkeypatch.setattr(Clip4MemeQCTask, "score_branches", text_only)
    rows2, printed = _compare(toy, qc, tmp_path / "qc", capsys)
    assert set(rows2) == BRANCHES
    assert f"image branch: stage-1 run {qi}" in printed
    rows1, _ = _compare(toy, qi, tmp_path / "qi", capsys)
    _same_image_rows(rows1, rows2)
    np.testing.assert_allclose(_image_scores(qc, toy), _image_scores(qi, toy), rtol=0, atol=1e-6)

    # the stage-1 run is gone: one line naming the path it was looked for at
    moved = tmp_path / "qc-moved"
    shutil.copytree(qc, moved)
    for config in (moved / CHECKPOINT_DIR).glob(f"*/{CONFIG_FILE}"):
        info = json.loads(config.read_text(encoding="utf-8"))
        info["train_config"]["init_from"] = str(tmp_path / "gone" / "qi")
        config.write_text(json.dumps(info), encoding="utf-8")
    argv = ["evaluate", "--dataset", str(toy), "--split", "test", "--checkpoint", str(moved)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "which is gone" in err and str(tmp_path / "gone" / "qi") in err and err.count("\n") == 1


def test_ief_stage_qc_compare_reports_every_branch(
    toy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qi = _train("ief", toy, tmp_path, "ief-qi")
    qc = _train("ief", toy, tmp_path, "ief-qc", "--set", "task_config.stage=qc", "--set", f"init_from={qi}")
    rows2, printed = _compare(toy, qc, tmp_path / "qc", capsys)
    assert set(rows2) == BRANCHES and "its own score_branches" in printed
    rows1, _ = _compare(toy, qi, tmp_path / "qi", capsys)
    _same_image_rows(rows1, rows2)
    np.testing.assert_allclose(_image_scores(qc, toy), _image_scores(qi, toy), rtol=0, atol=1e-6)


# ---- recorded_init_from --------------------------------------------------------------------------------


def _fake_run(run_dir: Path, train_config: dict[str, Any]) -> Path:
    ckpt = run_dir / CHECKPOINT_DIR / "step-00000001"
    ckpt.mkdir(parents=True)
    (ckpt / MODEL_FILE).write_bytes(b"")
    (ckpt / CONFIG_FILE).write_text(json.dumps({"train_config": train_config}), encoding="utf-8")
    write_pointer(run_dir, "last", ckpt)
    return run_dir


def test_recorded_init_from_resolves_where_training_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "runs" / "qi").mkdir(parents=True)
    run = _fake_run(project / "runs" / "qc", {"output_dir": "runs", "run_name": "qc", "init_from": "runs/qi"})
    monkeypatch.chdir(tmp_path)  # not where training ran
    assert recorded_init_from(run) == (project / "runs" / "qi").resolve()
    assert recorded_init_from(_fake_run(tmp_path / "plain", {"output_dir": "runs"})) is None
    absolute = _fake_run(tmp_path / "abs", {"init_from": str(project / "runs" / "qi")})
    assert recorded_init_from(absolute) == project / "runs" / "qi"
    shutil.rmtree(project / "runs" / "qi")
    with pytest.raises(ConfigError, match=r"'runs/qi'.*which is gone") as info:
        recorded_init_from(run)
    assert str((project / "runs" / "qi").resolve()) in str(info.value)
