"""Encoder evaluation on a dataset split (``memesearch evaluate --dataset --model --branch``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memesearch.cli.main import main
from memesearch.data.formats import read_dataset, write_dataset
from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.eval.encoders import evaluate_encoder, text_branch_scores
from memesearch.models import create_encoder
from memesearch.models.fusion import NO_SCORE

CAPTIONS = {
    "a": ["a sleepy cat yawning", "困了的猫"],
    "b": ["an angry dog barking", "生气的狗"],
    "c": ["birthday cake with candles", "生日蛋糕"],
    "d": [],  # no context text at all
}


@pytest.fixture()
def dataset_dir(tmp_path: Path) -> Path:
    items = []
    for k, (name, caps) in enumerate(CAPTIONS.items()):
        img = tmp_path / "src" / f"{name}.png"
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 40), (60 * k, 255 - 60 * k, 90)).save(img)
        meta = {"caption_kind": "oracle"} if name != "c" else {}
        items.append(Item(id=name, path=str(img), captions=caps, meta=meta))
    queries = [
        Query("q1", "a sleepy cat yawning", {"a": 2}, {"lang": "en"}),
        Query("q2", "an angry dog barking", {"b": 2}, {"lang": "en"}),
        Query("q3", "生日蛋糕", {"c": 2}, {"lang": "zh"}),
        Query("q4", "困了的猫", {"a": 1, "d": 1}, {"lang": "zh"}),
    ]
    ds = Dataset("toy", {"test": Split("test", items=items, queries=queries)})
    return write_dataset(ds, tmp_path / "ds", "native")


def test_text_branch_finds_exact_captions_and_ranks_textless_items_last(dataset_dir: Path) -> None:
    ds = read_dataset(dataset_dir)
    enc = create_encoder("e5-small")
    res = evaluate_encoder(ds, "test", enc, branch="text", by_lang=True)
    assert set(res) == {"all", "en", "zh"}
    assert res["all"].report["R@1"] == pytest.approx(1.0)
    assert res["en"].report.n_queries["total"] == 2 and res["zh"].report.n_queries["total"] == 2
    scores = text_branch_scores(["困了的猫"], ds["test"].items, enc)
    assert scores[0, 3] == NO_SCORE  # item d has no text: no score, ranked below everything
    assert scores[0, 0] == scores[0].max()
    # the run holds the top items of each query, best first
    rows = res["all"].run.by_query()["q1"]
    assert next(iter(rows.item_ids)) == "a"


def test_oracle_captions_can_be_left_out(dataset_dir: Path) -> None:
    ds = read_dataset(dataset_dir)
    items = ds["test"].item_index()
    assert items["a"].texts(oracle_captions=False) == []
    assert items["c"].texts(oracle_captions=False) == CAPTIONS["c"]  # not marked as oracle: kept
    res = evaluate_encoder(ds, "test", create_encoder("e5-small"), branch="text", captions=False)
    # only item c keeps text, so only q3 can find its item at rank 1
    assert res["all"].report["R@1"] == pytest.approx(1 / 4)


def test_image_branch_with_tiny_clip(dataset_dir: Path) -> None:
    ds = read_dataset(dataset_dir)
    enc = create_encoder("tiny-clip:0")
    res = evaluate_encoder(ds, "test", enc, branch="image", run_k=3)
    report = res["all"].report
    assert 0.0 <= report["R@1"] <= report["R@5"] <= 1.0
    assert all(len(c.item_ids) == 3 for c in res["all"].run.by_query().values())
    # scores are cosines of the encoder's own embeddings
    img = enc.encode_image([it.resolve_path(ds.root) for it in ds["test"].items])
    txt = enc.encode_text(["a sleepy cat yawning"])
    top = res["all"].run.by_query()["q1"]
    assert float(np.max(txt @ img.T)) == pytest.approx(float(top.scores[0]), abs=1e-5)


def test_cli_dataset_mode_writes_reports_per_language(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "evaluate",
            "--dataset",
            str(dataset_dir),
            "--model",
            "e5-small",
            "--branch",
            "text",
            "--by-lang",
            "--out",
            str(out),
            "--plot",
        ]
    )
    assert code == 0
    assert "queries: zh" in capsys.readouterr().out
    for sub in (out, out / "en", out / "zh"):
        data = json.loads((sub / "metrics.json").read_text())
        assert data["metrics"]["R@1"] == pytest.approx(1.0)
        assert (sub / "run.jsonl").exists() and (sub / "recall_curve.png").exists()


def test_cli_dataset_mode_errors(dataset_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--dataset", str(dataset_dir), "--model", "e5-small", "--branch", "image"]) == 2
    assert "no image tower" in capsys.readouterr().err
    assert main(["evaluate", "--dataset", str(dataset_dir)]) == 2
    assert "--model" in capsys.readouterr().err
    assert main(["evaluate", "--dataset", str(dataset_dir), "--model", "minilm", "--branch", "audio"]) == 2
    assert "unknown branch" in capsys.readouterr().err
