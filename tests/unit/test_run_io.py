"""Run and qrels files: round trips for every format, the Run type, and clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from memesearch.data.records import Query
from memesearch.errors import DataFormatError
from memesearch.eval.run import Run
from memesearch.eval.run_io import detect_run_format, read_qrels, read_run, write_qrels, write_run


@pytest.fixture
def labelled_run() -> Run:
    rows = [
        ("大宅门演员表", "70001002_d3349orxhl9", 0.3051548898220062, 1),
        ("大宅门演员表", "70001002_h0871hjdde8", 0.39615771174430847, 2),
        ("a kite", "80000851_057fb", 1e-300, 0),
        ("大宅门演员表", "70001002_h0871hjdde8", 0.39615771174430847, 2),  # exact duplicate row: kept
        ("a kite", "80000851_x", -2.5, 2),
    ]
    return Run.from_rows(rows)


@pytest.mark.parametrize("fmt", ["cbvs", "jsonl"])
def test_labelled_round_trip(tmp_path: Path, labelled_run: Run, fmt: str) -> None:
    path = write_run(labelled_run, tmp_path / f"run.{fmt}", fmt)
    back = read_run(path, fmt)
    assert back == labelled_run
    assert len(back) == 5 and back.duplicate_rows() == 1
    assert detect_run_format(path) == fmt


def test_trec_round_trip(tmp_path: Path) -> None:
    run = Run.from_rows([("q1", "d1", 0.5), ("q2", "d9", 0.25), ("q1", "d2", 0.75), ("q1", "d3", 0.75)])
    path = write_run(run, tmp_path / "run.trec", "trec")
    assert path.read_text().splitlines()[2] == "q1 Q0 d2 2 0.75 memesearch"
    back = read_run(path, "trec")
    assert back == run and back.labels is None
    assert detect_run_format(path) == "trec"


def test_unlabelled_jsonl_round_trip(tmp_path: Path) -> None:
    run = Run.from_rows([("q", "a", 1.0), ("q", "b", float("inf"))])
    assert read_run(write_run(run, tmp_path / "r.jsonl", "jsonl"), "jsonl") == run


def test_by_query_keeps_input_order(labelled_run: Run) -> None:
    groups = labelled_run.by_query()
    assert list(groups) == ["大宅门演员表", "a kite"]
    first = groups["大宅门演员表"]
    assert first.rows.tolist() == [0, 1, 3]
    assert first.item_ids == ["70001002_d3349orxhl9", "70001002_h0871hjdde8", "70001002_h0871hjdde8"]
    assert first.labels is not None and first.labels.tolist() == [1, 2, 2]
    assert groups["a kite"].scores.tolist() == [1e-300, -2.5]


def test_qrels_from_labels(labelled_run: Run) -> None:
    assert labelled_run.qrels_from_labels() == {
        "大宅门演员表": {"70001002_d3349orxhl9": 1, "70001002_h0871hjdde8": 2},
        "a kite": {"80000851_057fb": 0, "80000851_x": 2},
    }
    conflict = Run.from_rows([("q", "a", 1.0, 1), ("q", "a", 1.0, 2)])
    with pytest.raises(ValueError, match="labels 1 and 2"):
        conflict.qrels_from_labels()


def test_trec_qrels_round_trip(tmp_path: Path) -> None:
    qrels = {"q1": {"a": 2, "b": 0}, "q2": {"c": 1}}
    assert read_qrels(write_qrels(qrels, tmp_path / "qrels.txt")) == qrels


def test_native_queries_jsonl_qrels(tmp_path: Path) -> None:
    from memesearch.data.formats.native import write_queries

    path = tmp_path / "queries.jsonl"
    write_queries([Query("q1", "funny cat", {"img1": 2, "img2": 0}), Query("q2", "sad", {"img3": 1})], path)
    assert read_qrels(path) == {"q1": {"img1": 2, "img2": 0}, "q2": {"img3": 1}}


def test_native_dataset_folder_qrels(tmp_path: Path) -> None:
    formats = pytest.importorskip("memesearch.data.formats", reason="dataset formats not available")
    from memesearch.data.records import Dataset, Item, Split

    ds = Dataset(
        name="toy",
        splits={
            "test": Split(
                "test", items=[Item("img1", path="a.png")], queries=[Query("q1", "hi", {"img1": 1})]
            ),
            "train": Split(
                "train", items=[Item("img2", path="b.png")], queries=[Query("q2", "yo", {"img2": 2})]
            ),
        },
    )
    formats.write_dataset(ds, tmp_path / "toy")
    assert read_qrels(tmp_path / "toy") == {"q1": {"img1": 1}}
    assert read_qrels(tmp_path / "toy", split="train") == {"q2": {"img2": 2}}
    with pytest.raises(DataFormatError, match="split"):
        read_qrels(tmp_path / "toy", split="nope")


# ------------------------------------------------------------------------------------------ bad input
def write(tmp_path: Path, text: str, name: str = "run.txt") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("fmt", "text", "line", "message"),
    [
        ("cbvs", "2\tq\td1\t0.5\n1\tq\td2\n", 2, "expected 4 tab-separated fields, got 3"),
        ("cbvs", "2\tq\td1\t0.5\nhigh\tq\td2\t0.1\n", 2, "label 'high' is not an integer"),
        ("cbvs", "-1\tq\td1\t0.5\n", 1, "label '-1' is not an integer >= 0"),
        ("cbvs", "2\tq\td1\tabc\n", 1, "score 'abc' is not a number"),
        ("cbvs", "\n\n2\tq\td1\tnan\n", 3, "score 'nan' is not a number"),
        ("cbvs", "2\t\td1\t0.5\n", 1, "empty query or docid"),
        ("trec", "q Q0 d 1 0.5 tag\nq Q0 d 2 tag\n", 2, "expected 6 whitespace-separated fields, got 5"),
        ("trec", "q Q0 d 1 x tag\n", 1, "score 'x' is not a number"),
        ("jsonl", '{"query_id": "q", "item_id": "a", "score": 1}\n{"query_id": "q"\n', 2, "invalid JSON"),
        ("jsonl", '{"query_id": "q", "item_id": "a"}\n', 1, "missing key(s) score"),
        ("jsonl", '{"query_id": "q", "item_id": "a", "score": "high"}\n', 1, "is not a number"),
        (
            "jsonl",
            '{"query_id": "q", "item_id": "a", "score": 1, "label": 1.5}\n',
            1,
            "label 1.5 is not an integer",
        ),
        ("jsonl", "[1, 2]\n", 1, "expected a JSON object, got list"),
        (
            "jsonl",
            '{"query_id": "q", "item_id": "a", "score": 1, "label": 1}\n'
            '{"query_id": "q", "item_id": "b", "score": 1}\n',
            2,
            "some rows have a label and others do not",
        ),
    ],
)
def test_bad_run_rows_name_file_and_line(
    tmp_path: Path, fmt: str, text: str, line: int, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataFormatError) as info:
        read_run(path, fmt)
    assert info.value.line == line
    assert info.value.path == str(path)
    assert message in str(info.value)
    assert f"{path}:{line}" in str(info.value)


def test_bad_run_files(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="not found"):
        read_run(tmp_path / "missing.txt", "cbvs")
    with pytest.raises(DataFormatError, match="no rows"):
        read_run(write(tmp_path, "\n \n"), "cbvs")
    with pytest.raises(DataFormatError, match="unknown run format"):
        read_run(write(tmp_path, "x"), "csv")
    with pytest.raises(DataFormatError, match="a folder"):
        read_run(tmp_path, "cbvs")
    (tmp_path / "latin1.txt").write_bytes("2\tcaf\xe9\td\t0.5\n".encode("latin-1"))
    with pytest.raises(DataFormatError, match="UTF-8"):
        read_run(tmp_path / "latin1.txt", "cbvs")
    with pytest.raises(DataFormatError, match="cannot tell the run format"):
        detect_run_format(write(tmp_path, "just some words\n"))


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("q1 0 a 1\nq1 0 b\n", 2, "expected 4 whitespace-separated fields, got 3"),
        ("q1 0 a 1\nq1 0 b x\n", 2, "grade 'x' is not an integer >= 0"),
        ("q1 0 a 1\nq1 0 a 2\n", 2, "judges item 'a' twice"),
    ],
)
def test_bad_qrels(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text, "qrels.txt")
    with pytest.raises(DataFormatError) as info:
        read_qrels(path)
    assert info.value.line == line and message in str(info.value)


def test_bad_native_queries_qrels(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"id": "q1", "text": "x", "qrels": {"a": "two"}}) + "\n", "q.jsonl")
    with pytest.raises(DataFormatError) as info:
        read_qrels(path)
    assert info.value.line == 1


def test_writer_refuses_what_the_format_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a label"):
        write_run(Run.from_rows([("q", "a", 1.0)]), tmp_path / "r", "cbvs")
    with pytest.raises(ValueError, match="whitespace"):
        write_run(Run.from_rows([("two words", "a", 1.0)]), tmp_path / "r", "trec")
    with pytest.raises(ValueError, match="tab/newline"):
        write_run(Run.from_rows([("q\tx", "a", 1.0, 1)]), tmp_path / "r", "cbvs")


def test_run_validation() -> None:
    with pytest.raises(ValueError, match="NaN"):
        Run(query_ids=["q"], item_ids=["a"], scores=np.array([np.nan]))
    with pytest.raises(ValueError, match="equal length"):
        Run(query_ids=["q"], item_ids=[], scores=np.array([1.0]))
    with pytest.raises(ValueError, match=">= 0"):
        Run.from_rows([("q", "a", 1.0, -1)])
    with pytest.raises(ValueError, match="mix"):
        Run.from_rows([("q", "a", 1.0, 1), ("q", "b", 1.0)])
