"""QI / QC / lexical / fused side by side, fusion weights chosen on validation (evaluate --compare)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memesearch.cli.main import main
from memesearch.data.formats import read_dataset, write_dataset
from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import ConfigError
from memesearch.eval.compare import compare_branches, floor_missing, lexical_scorer

WORDS = ["sleepy cat", "angry dog", "birthday cake", "rainy day", "happy panda", "office overtime"]


def _split(name: str, tmp: Path, with_text: bool = True) -> Split:
    items, queries = [], []
    for k, w in enumerate(WORDS):
        img = tmp / name / f"{k}.png"
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (40 * k, 200 - 30 * k, 90)).save(img)
        caps = [w] if with_text and k % 3 else []  # every third item has no text
        items.append(Item(id=f"{name}{k}", path=str(img), captions=caps))
        queries.append(Query(f"{name}q{k}", w, {f"{name}{k}": 1}, {"lang": "en"}))
    return Split(name, items, queries)


@pytest.fixture()
def dataset_dir(tmp_path: Path) -> Path:
    ds = Dataset("toy", {s: _split(s, tmp_path) for s in ("val", "test")})
    return write_dataset(ds, tmp_path / "ds", "native")


def test_fused_uses_val_weights_and_reports_every_branch(dataset_dir: Path) -> None:
    ds = read_dataset(dataset_dir)
    seen: list[str] = []

    def oracle_image(d: Dataset, split: str) -> np.ndarray:  # a perfect image branch: identity ranking
        seen.append(split)
        return np.eye(len(WORDS))

    res = compare_branches(ds, "test", {"image": oracle_image, "lexical": lexical_scorer()}, val_split="val")
    assert sorted(seen) == ["test", "val"]
    assert res.selection.split_name == "val"
    rep = res.reports["all"]
    assert set(rep) == {"image", "lexical", "fused"}
    assert rep["image"]["R@1"] == 1.0 and rep["fused"]["R@1"] == 1.0
    # lexical cannot find the 2 items without text: they score NaN and rank last
    assert rep["lexical"]["R@1"] == pytest.approx(4 / 6)
    assert "| all | fused |" in res.table()


def test_refuses_same_split_and_skips_branches_without_input(dataset_dir: Path, tmp_path: Path) -> None:
    ds = read_dataset(dataset_dir)
    with pytest.raises(ConfigError, match="both"):
        compare_branches(ds, "val", {"lexical": lexical_scorer()}, val_split="val")
    bare = Dataset("bare", {s: _split(s, tmp_path / "bare", with_text=False) for s in ("val", "test")})
    res = compare_branches(bare, "test", {"image": lambda d, s: np.eye(6), "lexical": lexical_scorer()})
    assert "lexical" in res.skipped and "image" in res.reports["all"]


def test_floor_missing_ranks_nan_last() -> None:
    s = floor_missing(np.array([[0.2, np.nan, -0.5]]))
    assert s[0, 1] < s[0, 2] < s[0, 0]


def test_cli_compare_with_an_image_encoder(
    dataset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    code = main(
        [
            "evaluate",
            "--dataset",
            str(dataset_dir),
            "--split",
            "test",
            "--compare",
            "--model",
            "tiny-clip:0",
            "--text-model",
            "e5-small",
            "--by-lang",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "fusion weights chosen on 'val'" in printed
    data = json.loads((out / "compare.json").read_text())
    assert {r["branch"] for r in data["rows"]} == {"image", "text", "lexical", "fused"}
    assert data["val_split"] == "val" and abs(sum(data["weights"].values()) - 1) < 1e-9
    assert (out / "fusion_sweep.png").exists()
    qc = next(r for r in data["rows"] if r["branch"] == "text" and r["queries"] == "all")
    assert qc["R@1"] == pytest.approx(4 / 6)  # exact captions found; textless items unreachable
