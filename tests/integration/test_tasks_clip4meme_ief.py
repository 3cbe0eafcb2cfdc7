"""Train -> validate -> checkpoint -> reload -> evaluate through ``main(argv)`` for clip4meme-qi/qc and ief
on a toy native dataset with tiny-clip (CPU, seconds); frozen tensors and stage 2 stay bit-identical."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from memesearch.cli.main import main as cli_main
from memesearch.eval.retrieval import evaluate_scores
from memesearch.models import create_encoder
from memesearch.models.fusion import NO_SCORE
from memesearch.train.checkpoint import MODEL_FILE, find_checkpoint, load_trained_model
from memesearch.train.tasks.base import RetrievalTask
from memesearch.train.tasks.ief import IEFTask
from memesearch.train.tasks.samples import load_dataset
from memesearch.train.tasks.toy_dataset import write_toy_dataset


def main(argv: list[str]) -> int:
    """``memesearch train ARGV`` through the one command line; returns the exit code."""
    return cli_main(["train", *argv])


SMALL = ["--set", "batch_size=8", "--set", "device=cpu", "--set", "task_config.model_name=tiny-clip:0", "-q"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy"))


def _train(preset: str, toy: Path, out: Path, name: str, *extra: str) -> Path:
    argv = ["--preset", preset, *SMALL, "--set", f"task_config.dataset={toy}", "--set", f"output_dir={out}"]
    assert main([*argv, "--set", f"run_name={name}", *extra]) == 0
    return out / name


def _weights(run: Path, which: str = "best") -> dict[str, torch.Tensor]:
    return load_file(str(find_checkpoint(run, which) / MODEL_FILE))


@pytest.fixture(scope="module")
def qi_run(toy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    return _train("clip4meme-qi", toy, out, "qi", "--set", "epochs=2", "--set", "accum_steps=2")


def test_qi_cycle_train_validate_checkpoint_reload_evaluate(qi_run: Path, toy: Path) -> None:
    records = [json.loads(line) for line in (qi_run / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if r.get("kind") == "val"]
    assert len(val) == 2 and all("R@10" in r["metrics"] for r in val)
    best = json.loads((qi_run / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "R@10"

    task, model, config = load_trained_model(qi_run, which="best")
    assert isinstance(task, RetrievalTask) and task.branch == "image"
    assert config.task == "clip4meme-qi"
    dataset = load_dataset(toy)
    # the reloaded best model reproduces the validation metrics written during training
    val_scores = task.score_split(model, dataset, "val")
    logged = next(r["metrics"] for r in val if r["step"] == best["step"])
    assert task.validate(model, torch.device("cpu"))["R@10"] == pytest.approx(logged["R@10"])
    split = dataset["test"]
    scores = task.score_split(model, dataset, "test", batch_size=5)
    assert scores.shape == (len(split.queries), len(split.items)) and np.isfinite(scores).all()
    assert np.all(np.abs(scores) <= 1 + 1e-5)  # cosine, no temperature
    assert not np.allclose(val_scores, 0)
    report = evaluate_scores(scores, split.qrels(), [q.id for q in split.queries], split.item_ids())
    assert 0 <= report["R@10"] <= 1
    # equal query texts get equal rows
    rows = [i for i, q in enumerate(split.queries) if q.text == split.queries[0].text]
    assert len(rows) == 2
    np.testing.assert_allclose(scores[rows[0]], scores[rows[1]], rtol=0, atol=1e-6)


def test_qi_frozen_parameters_stay_bit_identical(qi_run: Path) -> None:
    trained = _weights(qi_run, "last")
    fresh = create_encoder("tiny-clip:0", device="cpu").model.state_dict()  # type: ignore[attr-defined]
    frozen = {k: v for k, v in trained.items() if k.startswith("frozen_text.")}
    assert frozen
    for name, value in frozen.items():
        source = name.replace("frozen_text.model.", "text_model.").replace(
            "frozen_text.proj.", "text_projection."
        )
        assert torch.equal(value, fresh[source]), name
    assert torch.equal(trained["clip.logit_scale"], fresh["logit_scale"])
    moved = [k for k in fresh if not torch.equal(trained[f"clip.{k}"], fresh[k])]
    assert any(k.startswith("vision_model.") for k in moved) and any(
        k.startswith("text_model.") for k in moved
    )


def test_qc_stage_two_leaves_the_qi_branch_bit_identical(qi_run: Path, toy: Path) -> None:
    qc_run = _train(
        "clip4meme-qc", toy, qi_run.parent, "qc", "--set", "epochs=2", "--set", f"init_from={qi_run}"
    )
    stage1, stage2 = _weights(qi_run, "best"), _weights(qc_run, "last")
    assert set(stage1) < set(stage2)
    for name, value in stage1.items():
        assert torch.equal(stage2[name], value), name
    fresh = create_encoder("tiny-clip:0", device="cpu").model.state_dict()  # type: ignore[attr-defined]
    qc_names = [k for k in stage2 if k.startswith("qc_text.model.")]
    assert any(
        not torch.equal(stage2[k], fresh[k.replace("qc_text.model.", "text_model.")]) for k in qc_names
    )

    task, model, _ = load_trained_model(qc_run)
    assert isinstance(task, RetrievalTask) and task.branch == "text"
    dataset = load_dataset(toy)
    branches = task.score_branches(model, dataset, "test")
    assert set(branches) == {"image", "text"}
    split = dataset["test"]
    no_context = [j for j, it in enumerate(split.items) if not it.context_texts]
    assert no_context and np.all(branches["text"][:, no_context] == NO_SCORE)
    has = [j for j in range(len(split.items)) if j not in no_context]
    assert np.all(np.abs(branches["text"][:, has]) <= 1 + 1e-5)
    # the QI branch of the stage-2 model scores exactly as the selected stage-1 model
    qi_task, qi_model, _ = load_trained_model(qi_run)
    np.testing.assert_array_equal(branches["image"], qi_task.score_split(qi_model, dataset, "test"))


def test_ief_two_stages_and_fusion_chosen_on_val(toy: Path, tmp_path: Path) -> None:
    stage1 = _train("ief", toy, tmp_path, "ief-qi", "--set", "epochs=1", "--set", "accum_steps=2")
    stage2 = _train(
        "ief", toy, tmp_path, "ief-qc", "--set", "epochs=1", "--set", "task_config.stage=qc",
        "--set", f"init_from={stage1}",
    )  # fmt: skip
    w1, w2 = _weights(stage1, "best"), _weights(stage2, "last")
    qi_names = [k for k in w1 if not k.startswith(("caption_", "qc_logit_scale"))]
    assert all(torch.equal(w1[k], w2[k]) for k in qi_names)
    assert any(not torch.equal(w1[k], w2[k]) for k in w2 if k.startswith("caption_transformer."))

    val = [json.loads(x) for x in (stage2 / "metrics.jsonl").read_text().splitlines() if '"val"' in x]
    assert "fused_R@10" in val[-1]["metrics"] and 0 <= val[-1]["metrics"]["fusion_w_image"] <= 1
    task, model, _ = load_trained_model(stage2)
    assert isinstance(task, IEFTask)
    dataset = load_dataset(toy)
    fused, weights = task.fused_scores(model, dataset, "test")
    split = dataset["test"]
    assert fused.shape == (len(split.queries), len(split.items)) and np.isfinite(fused).all()
    assert set(weights) == {"image", "text"} and sum(weights.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("preset", ["clip4meme-qi", "clip4meme-qc", "ief"])
def test_presets_run_one_step_on_tiny_clip(preset: str, toy: Path, tmp_path: Path) -> None:
    run = _train(preset, toy, tmp_path, "one", "--set", "max_steps=1")
    assert (run / "config.yaml").is_file() and find_checkpoint(run, "last").is_dir()


def test_presets_refuse_to_run_without_model_and_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--preset", "clip4meme-qi", "-q"]) == 2
    assert "task_config.dataset" in capsys.readouterr().err
