"""``memesearch evaluate --index``: the metrics of what search returns, qrels by id, SHA-256 or path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from memesearch.cli.main import main
from memesearch.data.formats import read_dataset
from memesearch.eval.index_eval import evaluate_index, queries_from_dataset, queries_from_file
from memesearch.index import Index
from memesearch.ingest import add_paths
from memesearch.models import create_encoder
from memesearch.search import Searcher
from memesearch.train.tasks.toy_dataset import write_toy_dataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("evalindex")
    data = write_toy_dataset(root / "toy")
    with Index.create(root / "idx", encoder=create_encoder("tiny-clip:0"), ocr=False) as idx:
        add_paths(idx, [data], splits=["test"], workers=0)
    return data, root / "idx"


def _queries_file(path: Path, data: Path, idx: Index) -> Path:
    """The toy test queries with qrels written as an id, a SHA-256, a relative and an absolute path."""
    ds = read_dataset(data)
    by_path = {p: it for it in idx.items(idx.rowids_where()).values() for p in it.paths}
    lines = []
    for n, q in enumerate(ds["test"].queries):
        qrels = {}
        for k, (item_id, grade) in enumerate(q.qrels.items()):
            file = str((data / "images" / f"{item_id}.png").resolve())
            item = by_path[file]
            ref = [item.id, item.sha256, f"toy/images/{item_id}.png", file][(n + k) % 4]
            qrels[ref] = grade
        lines.append(json.dumps({"id": q.id, "text": q.text, "qrels": qrels, "meta": {"lang": "en"}}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_qrels_by_id_sha_or_path_and_metrics_match_search(toy: tuple[Path, Path], tmp_path: Path) -> None:
    data, index_dir = toy
    searcher = Searcher.open(index_dir)
    qfile = _queries_file(data.parent / "queries.jsonl", data, searcher.index)
    qs = queries_from_file(qfile, searcher.index)
    result = evaluate_index(searcher, qs)
    assert set(result.reports) == {"all", "en"}
    assert list(result.reports["all"]) == ["image", "text", "lexical", "emotion", "fused"]
    # fused R@1 = the share of queries whose first `memesearch search` hit is relevant
    hits = [searcher.search(q.text, k=1).hits for q in qs.queries]
    top_ok = [bool(h) and q.qrels.get(h[0].id, 0) >= 1 for q, h in zip(qs.queries, hits, strict=True)]
    assert result.reports["all"]["fused"]["R@1"] == pytest.approx(np.mean(top_ok))
    # the same through the command line, with the reports written
    code = main(
        ["evaluate", "--index", str(index_dir), "--queries", str(qfile), "--out", str(tmp_path / "r")]
    )
    assert code == 0
    rows = json.loads((tmp_path / "r" / "index_eval.json").read_text())["rows"]
    assert {r["branch"] for r in rows} == {"image", "text", "lexical", "emotion", "fused"}
    searcher.index.close()


def test_dataset_split_queries_and_gallery(toy: tuple[Path, Path]) -> None:
    data, index_dir = toy
    ds = read_dataset(data)
    with Index.open(index_dir, readonly=True) as idx:
        qs = queries_from_dataset(ds, "test", idx, gallery="split")
        assert sorted(qs.labels) == sorted(it.id for it in ds["test"].items)
        res = evaluate_index(Searcher(idx), qs, by_lang=False)
        assert 0 <= res.reports["all"]["fused"]["R@10"] <= 1 and res.n_items == len(ds["test"].items)
        with pytest.raises(Exception, match="not in the index"):
            queries_from_dataset(ds, "val", idx)  # val was never indexed


def test_unknown_references_are_named(
    toy: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, index_dir = toy
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"id": "q1", "text": "red circle", "qrels": {"nope.png": 1, "0123456789abcdef": 1}}) + "\n"
    )
    assert main(["evaluate", "--index", str(index_dir), "--queries", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "2 relevance judgement(s) name no item of the index" in err and "nope.png" in err
    assert main(["evaluate", "--index", str(index_dir)]) == 2  # no queries given
