"""``memesearch evaluate`` end to end: printed table, metrics.json / metrics.md / PNG, and errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from memesearch.cli.main import main
from memesearch.eval.run import Run
from memesearch.eval.run_io import write_qrels, write_run

CBVS_RUN = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cbvs" / "inference_result.txt"
GOLDEN = {
    "PNR": 3.0708,
    "NDCG@1": 0.7844,
    "NDCG@3": 0.8026,
    "NDCG@5": 0.8464,
    "NDCG@10": 0.8927,
    "MAP": 0.7788,
}


def printed_metrics(text: str) -> dict[str, float]:
    """metric -> value from the rich table rows (``│ NDCG@5 │ 0.8464 │ 2382 │``)."""
    out = {}
    for m in re.finditer(r"^\W*([A-Za-z]+(?:@\d+)?)\s*\W\s*([0-9.]+|n/a)\s*\W", text, flags=re.M):
        if m.group(2) != "n/a":
            out[m.group(1)] = float(m.group(2))
    return out


@pytest.mark.skipif(not CBVS_RUN.is_file(), reason=f"the real CBVS run is not here ({CBVS_RUN})")
def test_cbvs_run_prints_and_writes_the_golden_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["evaluate", "--format", "cbvs", "--run", str(CBVS_RUN), "--out", str(out), "--plot"])
    assert code == 0
    text = capsys.readouterr().out
    shown = printed_metrics(text)
    for name, value in GOLDEN.items():
        assert shown[name] == pytest.approx(value, abs=5e-4), name
    assert "ties: input" in text and "grade >= 2" in text
    data = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    for name, value in GOLDEN.items():
        assert data["metrics"][name] == pytest.approx(value, abs=5e-4), name
    assert data["settings"]["ties"] == "input" and data["inputs"]["format"] == "cbvs"
    md = (out / "metrics.md").read_text(encoding="utf-8")
    assert "| NDCG@5 | 0.8464 | 2382 |" in md
    png = (out / "recall_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_trec_run_with_qrels_and_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = Run.from_rows([("q1", "a", 0.9), ("q1", "b", 0.8), ("q2", "c", 0.5), ("q2", "d", 0.5)])
    write_run(run, tmp_path / "run.trec", "trec")
    write_qrels({"q1": {"b": 1}, "q2": {"d": 2, "e": 1}}, tmp_path / "qrels.txt")
    argv = ["evaluate", "--run", str(tmp_path / "run.trec"), "--qrels", str(tmp_path / "qrels.txt")]
    assert main([*argv, "--k", "1,2", "--ndcg-k", "2"]) == 0
    shown = printed_metrics(capsys.readouterr().out)
    # auto format -> trec, auto ties -> pessimistic: q1 finds b at 2, q2's d ties with c and goes 2nd
    assert shown["R@1"] == 0.0 and shown["R@2"] == 1.0 and shown["MdR"] == 2.0
    assert shown["recall@2"] == pytest.approx(0.75)
    assert main([*argv, "--ties", "input", "--threshold", "2", "--k", "1"]) == 0
    shown = printed_metrics(capsys.readouterr().out)
    assert shown["R@1"] == 0.0 and shown["MAP"] == pytest.approx(0.5)  # only q2 has grade >= 2
    assert main([*argv, "--ties", "optimistic", "--threshold", "2", "--k", "1"]) == 0
    assert printed_metrics(capsys.readouterr().out)["R@1"] == 1.0


def test_jsonl_run_with_labels_writes_files(tmp_path: Path) -> None:
    write_run(Run.from_rows([("q", "a", 0.1, 1), ("q", "b", 0.2, 0)]), tmp_path / "run.jsonl", "jsonl")
    assert main(["evaluate", "--run", str(tmp_path / "run.jsonl"), "--out", str(tmp_path / "o")]) == 0
    data = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert data["metrics"]["MdR"] == 2.0 and data["settings"]["format"] == "jsonl"
    assert not (tmp_path / "o" / "recall_curve.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "cbvs"], "bad.txt:2: expected 4 tab-separated fields"),
        (["--format", "trec"], "needs relevance judgements"),
        (["--format", "xml"], "unknown run format 'xml'"),
        (["--ties", "random"], "unknown tie rule 'random'"),
        (["--k", "1,five"], "--k expects comma-separated positive integers"),
        (["--threshold", "0"], "threshold must be >= 1"),
        (["--plot"], "--plot writes recall_curve.png into --out"),
    ],
)
def test_bad_input_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("2\tq\td1\t0.5\n1\tq\td2\n", encoding="utf-8")
    if args[:2] == ["--format", "trec"]:
        bad.write_text("q Q0 d 1 0.5 t\n", encoding="utf-8")
    assert main(["evaluate", "--run", str(bad), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_missing_run_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate"]) == 2
    assert "--run" in capsys.readouterr().err
