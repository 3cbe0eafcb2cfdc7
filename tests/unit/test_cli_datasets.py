"""``memesearch datasets formats | convert | validate`` through the real entry point."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from memesearch.cli.main import main
from memesearch.data.formats import read_dataset

ROWS = [
    "大宅门演员表\t70001002_h0871hjdde8\thttp://puui.qpic.cn/a.jpg\t2",
    "大宅门演员表\t80000851_BV1\thttp://i0.hdslb.com/b.jpg\t0",
    "猫\t80000851_BV1\thttp://i0.hdslb.com/b.jpg\t0",
]


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich tables must not wrap the cells the tests look for


@pytest.fixture
def cbvs_file(tmp_path: Path) -> Path:
    path = tmp_path / "cbvs.tsv"
    path.write_text("\n".join(ROWS) + "\n", encoding="utf-8")
    return path


def test_formats_lists_every_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "formats"]) == 0
    out = capsys.readouterr().out
    for name in ("native", "msrvtt", "cbvs", "cbvs-train", "folder"):
        assert f" {name} " in out


def test_convert_and_validate(cbvs_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "native"
    assert (
        main(["datasets", "convert", "--from", "cbvs", "--to", "native", str(cbvs_file), str(out_dir)]) == 0
    )
    out = capsys.readouterr().out
    assert "│ test  │     2 │       2 │         1 │" in out and f"written to {out_dir}" in out
    assert read_dataset(out_dir)["test"].item_ids() == ["70001002_h0871hjdde8", "80000851_BV1"]

    assert main(["datasets", "validate", "native", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "│ test  │     2 │       2 │         1 │" in out
    assert re.search(r"│ test +│ warning │ queries without positives +│ +1 │ 猫 ", out)
    assert main(["datasets", "validate", "native", str(out_dir), "--strict"]) == 2
    assert "--strict: 0 bad rows skipped and 2 kinds of warnings found" in capsys.readouterr().err


def test_convert_refuses_to_replace_then_overwrites(
    cbvs_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "copy.tsv"
    argv = ["datasets", "convert", "--to", "cbvs", str(cbvs_file), str(target)]
    assert main(argv) == 0
    assert main(argv) == 2
    assert "error: would replace existing" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    assert target.read_text(encoding="utf-8") == cbvs_file.read_text(encoding="utf-8")


def test_bad_row_is_an_error_naming_file_and_line(
    cbvs_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cbvs_file.write_text("\n".join([*ROWS, "q\td\tu\t7", "too\tfew"]) + "\n", encoding="utf-8")
    assert main(["datasets", "validate", "cbvs", str(cbvs_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {cbvs_file}:4: label must be 0, 1 or 2, got '7'")


def test_skip_bad_prints_every_skipped_row(cbvs_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cbvs_file.write_text("\n".join([*ROWS, "q\td\tu\t7", "too\tfew"]) + "\n", encoding="utf-8")
    assert main(["datasets", "validate", "auto", str(cbvs_file), "--skip-bad"]) == 0
    out = capsys.readouterr().out
    assert "2 bad rows skipped" in out
    assert f"{cbvs_file}:4" in out and "label must be 0, 1 or 2" in out
    assert f"{cbvs_file}:5" in out and "expected 4 tab-separated columns" in out
    assert "│ test  │     2 │       2 │         1 │" in out
    assert main(["datasets", "validate", "auto", str(cbvs_file), "--skip-bad", "--strict"]) == 2


def test_validate_folder_reports_missing_and_suspicious(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "memes").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "memes" / "a.png")
    assert main(["datasets", "validate", "folder", str(tmp_path / "memes")]) == 0
    out = capsys.readouterr().out
    assert "│ all   │     1 │       0 │         0 │" in out
    assert "items without captions or OCR" in out


def test_convert_with_split_selection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "memes").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "memes" / "a.png")
    out_dir = tmp_path / "m"
    argv = [
        "datasets",
        "convert",
        "--to",
        "msrvtt",
        "--split",
        "all=train",
        str(tmp_path / "memes"),
        str(out_dir),
    ]
    assert main(argv) == 0
    assert read_dataset(out_dir).split_names == ["train"]
    assert (out_dir / "images" / "a.png").is_file()
    assert (
        main(["datasets", "convert", "--to", "native", "--split", "=x", str(out_dir), str(tmp_path / "n")])
        == 2
    )
    assert "--split expects NAME or OLD=NEW" in capsys.readouterr().err


def test_unknown_format_and_read_only_target(
    cbvs_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["datasets", "convert", "--to", "parquet", str(cbvs_file), str(tmp_path / "x")]) == 2
    assert "unknown dataset format 'parquet'" in capsys.readouterr().err
    assert main(["datasets", "convert", "--to", "folder", str(cbvs_file), str(tmp_path / "x")]) == 2
    assert "read only" in capsys.readouterr().err


def test_build_group_is_wired(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--help"]) == 0
    out = capsys.readouterr().out
    assert "build" in out and "convert" in out and "validate" in out


def test_convert_skip_bad_prints_rows_and_writes_the_rest(
    cbvs_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cbvs_file.write_text("\n".join([*ROWS, "q\td\tu\t7"]) + "\n", encoding="utf-8")
    target = tmp_path / "n"
    assert main(["datasets", "convert", "--to", "native", str(cbvs_file), str(target)]) == 2
    assert f"{cbvs_file}:4: label must be 0, 1 or 2" in capsys.readouterr().err and not target.exists()
    assert main(["datasets", "convert", "--to", "native", "--skip-bad", str(cbvs_file), str(target)]) == 0
    out = capsys.readouterr().out
    assert "1 bad row skipped" in out and f"{cbvs_file}:4" in out
    assert read_dataset(target).counts() == {"test": {"items": 2, "queries": 2, "positives": 1}}
