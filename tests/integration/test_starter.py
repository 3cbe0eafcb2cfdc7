"""The starter model end to end: one training step of Task ``starter`` through ``main(argv)``, export,
reload through the encoder registry; and the committed weights reaching their recorded R@10 on the
emoji benchmark's test split (unseen concepts x held-out style), built here from the npm packages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from memesearch.cli.main import main as cli_main
from memesearch.data.formats import read_dataset
from memesearch.models import create_encoder
from memesearch.models.starter.encoder import METRICS_FILE, weights_dir
from memesearch.train.checkpoint import load_trained_model
from memesearch.train.starter_export import evaluate_starter, export_weights
from memesearch.train.tasks.toy_dataset import write_toy_dataset


def train_main(argv: list[str]) -> int:
    """``memesearch train ARGV`` through the one command line; returns the exit code."""
    return cli_main(["train", *argv])


TINY = [
    "task_config.model.image_size=32",
    "task_config.model.widths=[8,16]",
    "task_config.model.depths=[1,1]",
    "task_config.model.head_hidden=0",
    "task_config.eval_batch_size=8",
    "batch_size=8",
    "max_steps=1",
    "epochs=1",
]


def test_one_training_step_export_and_reload(tmp_path: Path) -> None:
    data = write_toy_dataset(tmp_path / "toy")
    overrides = [
        f"task_config.dataset={data}",
        f"task_config.cache_dir={tmp_path / 'cache'}",
        f"output_dir={tmp_path / 'runs'}",
        "run_name=tiny",
        *TINY,
    ]
    argv = ["--preset", "starter", "--quiet"]
    for o in overrides:
        argv += ["--set", o]
    assert train_main(argv) == 0
    run = tmp_path / "runs" / "tiny"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if r["kind"] == "val"]
    assert len(val) == 1 and 0 <= val[0]["metrics"]["R@10"] <= 1

    task, model, _ = load_trained_model(run)
    ds = read_dataset(data)
    scores = task.score_split(model, ds, "val")  # type: ignore[attr-defined]
    assert scores.shape == (len(ds["val"].queries), len(ds["val"].items))
    assert np.all(np.abs(scores) <= 1 + 1e-5)
    assert task.branch == "image"  # type: ignore[attr-defined]

    out = export_weights(run, tmp_path / "weights", dataset=data, splits=("val", "test"))
    metrics = json.loads((out / METRICS_FILE).read_text())
    encoder = create_encoder(f"starter:{out}", device="cpu")
    assert encoder.dim == 384
    again = evaluate_starter(encoder, ds, "test")
    assert again["all"]["R@10"] == pytest.approx(metrics["splits"]["test"]["all"]["R@10"], abs=1e-9)
    # the encoder and the Task score the validation split alike
    from memesearch.train.tasks.base import retrieval_metrics

    via_task = retrieval_metrics(scores, ds["val"])
    assert via_task["R@10"] == pytest.approx(metrics["splits"]["val"]["all"]["R@10"], abs=1e-6)


def test_unknown_starter_key_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = train_main(["--preset", "starter", "--set", "task_config.model.widht=[8]", "--print-config"])
    assert code == 2
    assert "did you mean 'task_config.model.width" in capsys.readouterr().err
    # an architecture key written where it lived before the model config was nested
    code = train_main(["--preset", "starter", "--set", "task_config.widths=[8]", "--print-config"])
    assert code == 2
    assert "'task_config.widths' is now 'task_config.model.widths'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# the committed weights on the real benchmark


@pytest.mark.slow
def test_committed_weights_reach_recorded_r10_on_emoji_test(emoji_benchmark: Path) -> None:
    recorded = json.loads((weights_dir() / METRICS_FILE).read_text(encoding="utf-8"))
    expected = recorded["splits"]["test"]["all"]["R@10"]
    ds = read_dataset(emoji_benchmark)
    part = ds["test"]
    encoder = create_encoder("starter", device="cpu")
    items = encoder.encode_items(
        [it.resolve_path(ds.root) for it in part.items],  # type: ignore[misc]
        [it.emotions for it in part.items],
    )
    queries = encoder.encode_text([q.text for q in part.queries], kind="query", batch_size=1024)
    from memesearch.eval.retrieval import evaluate_scores

    report = evaluate_scores(queries @ items.T, part.qrels(), [q.id for q in part.queries], part.item_ids())
    assert report["R@10"] == pytest.approx(expected, abs=0.01)
    assert report["R@10"] > 0.05  # far above chance (10 / 383 items ~ 0.03 for one relevant item)
