"""Trained runs in the product: ``memesearch index --model checkpoint:RUN`` serves exactly the scores
``memesearch evaluate --compare --checkpoint RUN`` measures (to 1e-5) — clip4meme-qi (image branch: gate +
co-attention over the item's text), clip4meme-qc (image branch + its QC tower for the text branch), ief
stages qi and qc (late interaction over stored item tokens; caption transformer) and starter — on
tiny-clip runs of the toy dataset, through ``main(argv)``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memesearch.cli.main import main
from memesearch.data.formats import read_dataset, write_dataset
from memesearch.eval.compare import run_branches
from memesearch.index import Index
from memesearch.models import create_encoder
from memesearch.models.encoders.base import EncoderLoadError
from memesearch.search.searcher import Searcher
from memesearch.train.checkpoint import load_trained_model, recorded_init_from
from memesearch.train.tasks.toy_dataset import write_toy_dataset

CLIP = ["--set", "batch_size=8", "--set", "device=cpu", "--set", "task_config.model_name=tiny-clip:0", "-q"]
STARTER = [
    "task_config.model.image_size=32",
    "task_config.model.widths=[8,16]",
    "task_config.model.depths=[1,1]",
    "task_config.model.head_hidden=0",
    "task_config.eval_batch_size=8",
    "batch_size=8",
    "max_steps=2",
]
SPLIT = "test"


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy dataset with its OCR text removed: an index reads text from images itself (OCR off here),
    so the items' text is their captions on both sides."""
    root = write_toy_dataset(tmp_path_factory.mktemp("toy"))
    ds = read_dataset(root)
    for split in ds.splits.values():
        for item in split.items:
            item.ocr = None
    write_dataset(ds, root, overwrite=True)
    return root


def _train(preset: str, data: Path, out: Path, name: str, *extra: str) -> Path:
    argv = ["train", "--preset", preset, "--set", f"task_config.dataset={data}", "--set", f"output_dir={out}"]
    assert main([*argv, "--set", f"run_name={name}", "--set", "epochs=1", *extra]) == 0
    return out / name


@pytest.fixture(scope="module")
def runs(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("runs")
    qi = _train("clip4meme-qi", data, out, "qi", *CLIP)
    qc = _train("clip4meme-qc", data, out, "qc", *CLIP, "--set", f"init_from={qi}")
    ief_qi = _train("ief", data, out, "ief-qi", *CLIP)
    stage2 = ["--set", "task_config.stage=qc", "--set", f"init_from={ief_qi}"]
    ief_qc = _train("ief", data, out, "ief-qc", *CLIP, *stage2)
    starter = [x for s in STARTER for x in ("--set", s)]
    cache = ["--set", f"task_config.cache_dir={out / 'cache'}", "-q"]
    st = _train("starter", data, out, "starter", *starter, *cache)
    return {"qi": qi, "qc": qc, "starter": st, "ief-qi": ief_qi, "ief-qc": ief_qc}


def _index(data: Path, run: Path, out: Path) -> Path:
    argv = ["index", str(data), "--index", str(out), "--model", f"checkpoint:{run}", "--no-ocr"]
    assert main([*argv, "--no-emotions", "--oracle-captions", "--workers", "0"]) == 0
    return out


def _measured(run: Path, data: Path) -> dict[str, np.ndarray]:
    """What ``evaluate --compare --checkpoint RUN`` scores: the run's branches on the split."""
    ds = read_dataset(data)
    found = run_branches(
        run, ds, SPLIT, load=lambda p: load_trained_model(p)[:2], init_from=recorded_init_from
    )
    return {name: scorer(ds, SPLIT) for name, scorer in found.scorers.items()}


def _served(index: Path, data: Path) -> dict[str, np.ndarray]:
    """What search serves for the split's queries, per branch, columns in the split's item order."""
    ds = read_dataset(data)
    sp = ds[SPLIT]
    with Index.open(index) as idx:
        rowids, scores = Searcher(idx).score_matrix([q.text for q in sp.queries], weights={"image": 1.0})
        column = {int(r): j for j, r in enumerate(rowids)}
        cols = []
        for item in sp.items:
            entry = idx.path_entry(str(item.resolve_path(ds.root)))
            assert entry is not None, item.id
            cols.append(column[entry[0]])
    return {name: s[:, cols] for name, s in scores.items()}


def _assert_same(measured: np.ndarray, served: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(measured), np.isnan(served))
    both = ~np.isnan(measured)
    assert both.any()
    np.testing.assert_allclose(served[both], measured[both], rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("run_name", "branches"),
    [
        ("qi", {"image"}),
        ("qc", {"image", "text"}),
        ("starter", {"image"}),
        ("ief-qi", {"image"}),
        ("ief-qc", {"image", "text"}),
    ],
)
def test_index_with_a_checkpoint_serves_the_scores_evaluate_measures(
    runs: dict[str, Path], data: Path, tmp_path: Path, run_name: str, branches: set[str]
) -> None:
    run = runs[run_name]
    measured = _measured(run, data)
    assert set(measured) == branches
    served = _served(_index(data, run, tmp_path / "idx"), data)
    for name in branches:
        _assert_same(measured[name], served[name])


def test_search_json_hits_carry_the_measured_scores(
    runs: dict[str, Path], data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = runs["qc"]
    index = _index(data, run, tmp_path / "idx")
    capsys.readouterr()
    ds = read_dataset(data)
    sp = ds[SPLIT]
    query = sp.queries[0]
    assert main(["search", query.text, "--index", str(index), "--json", "-k", "100"]) == 0
    payload: Any = json.loads(capsys.readouterr().out)
    hits = payload["hits"] if isinstance(payload, dict) else payload[0]["hits"]
    assert hits
    measured = _measured(run, data)
    column = {str(it.resolve_path(ds.root)): j for j, it in enumerate(sp.items)}
    checked = 0
    for hit in hits:
        j = next((column[p] for p in hit["item"]["paths"] if p in column), None)
        if j is None:  # an item of another split
            continue
        for name in ("image", "text"):
            value = hit["scores"].get(name)
            if value is not None:
                assert value == pytest.approx(float(measured[name][0, j]), abs=1e-5)
                checked += 1
    assert checked


def test_the_index_records_the_checkpoint_and_refuses_another(
    runs: dict[str, Path], data: Path, tmp_path: Path
) -> None:
    index = _index(data, runs["qi"], tmp_path / "idx")
    recorded = json.loads((index / "index.json").read_text(encoding="utf-8"))
    text = json.dumps(recorded)
    assert "clip4meme-qi" in text and "weights_sha256" in text
    with pytest.raises(Exception, match="built with encoder"):
        Index.open(index, model=f"checkpoint:{runs['qc']}")


def test_unservable_and_missing_runs_are_clear_errors(runs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(EncoderLoadError, match="neither a run directory nor a checkpoint"):
        create_encoder(f"checkpoint:{tmp_path / 'nope'}", device="cpu")
    other = tmp_path / "other"
    shutil.copytree(runs["qi"], other)
    for config in other.glob("checkpoints/*/config.json"):
        info = json.loads(config.read_text(encoding="utf-8"))
        info["task"] = "synthetic"
        config.write_text(json.dumps(info), encoding="utf-8")
    with pytest.raises(EncoderLoadError, match="serves runs of clip4meme-qi"):
        create_encoder(f"checkpoint:{other}", device="cpu")


def test_ief_search_reranks_its_candidates_by_their_tokens(
    runs: dict[str, Path], data: Path, tmp_path: Path
) -> None:
    """The vector store only proposes candidates: the hits' image scores are the token-wise scores, and
    an item whose tokens are gone keeps its vector score (nothing crashes)."""
    index = _index(data, runs["ief-qi"], tmp_path / "idx")
    query = read_dataset(data)[SPLIT].queries[0].text
    measured = _served(index, data)["image"]
    with Index.open(index) as idx:
        searcher = Searcher(idx)
        hits = searcher.search(query, k=5, weights={"image": 1.0}).hits
        assert hits
        rowids, scores = searcher.score_matrix([query], weights={"image": 1.0})
        by_row = dict(zip(rowids.tolist(), scores["image"][0].tolist(), strict=True))
        for hit in hits:
            assert hit.scores["image"] == pytest.approx(by_row[idx.rowid_of(hit.id)], abs=1e-5)
        vectors = idx.vector_scores("image", idx.encoder.encode_text([query], kind="query"), rowids)[0]
        assert not np.allclose(vectors, scores["image"][0], atol=1e-3)  # late scores are not the CLS cosine
    assert np.isfinite(measured).all()


def test_evaluate_compare_of_a_stage1_run_reports_the_branches_the_index_serves(
    runs: dict[str, Path], data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``evaluate --compare --checkpoint QI`` (no --text-model): the text branch is the one
    ``checkpoint:QI`` serves, and every branch's metrics equal those of the served scores."""
    from memesearch.eval.compare import floor_missing
    from memesearch.eval.retrieval import evaluate_scores

    run = runs["qi"]
    out = tmp_path / "cmp"
    argv = ["evaluate", "--dataset", str(data), "--split", SPLIT, "--checkpoint", str(run), "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    report = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert report["inputs"]["text_model"] == f"checkpoint:{run}"
    rows = {r["branch"]: r for r in report["rows"] if r["queries"] == "all"}
    served = _served(_index(data, run, tmp_path / "idx"), data)
    sp = read_dataset(data)[SPLIT]
    for name in ("image", "text"):
        metrics = evaluate_scores(
            floor_missing(served[name]),
            {q.id: dict(q.qrels) for q in sp.queries},
            [q.id for q in sp.queries],
            sp.item_ids(),
        )
        for key in ("R@1", "R@5", "R@10", "MdR"):
            assert rows[name][key] == pytest.approx(metrics[key], abs=1e-9), (name, key)
