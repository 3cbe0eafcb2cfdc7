"""CBVS TSV: the test file (query, docid, url, label) and the training file (title, url, ocr with \\N)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memesearch.data.formats import BadRowReport, detect_format, read_dataset, write_dataset
from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import ConfigError, DataFormatError

TENCENT = "http://puui.qpic.cn/vpic_cover/{0}/{0}_hz.jpg/640"
BILI = "http://i0.hdslb.com/bfs/archive/{0}.jpg"

TEST_ROWS = [
    ("大宅门演员表", "70001002_h0871hjdde8", TENCENT.format("h0871hjdde8"), "2"),
    ("大宅门演员表", "70001002_d3349orxhl9", TENCENT.format("d3349orxhl9"), "1"),
    ("大宅门演员表", "80000851_BV1xx", BILI.format("BV1xx"), "0"),
    ("猫咪 搞笑", "80000851_BV1xx", BILI.format("BV1xx"), "2"),  # a docid under two queries
    ("猫咪 搞笑", "70001002_h0871hjdde8", TENCENT.format("h0871hjdde8"), "0"),  # different label, other query
]


def _write_tsv(path: Path, rows: list[tuple[str, ...]] | list[str]) -> Path:
    lines = [r if isinstance(r, str) else "\t".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_read_test_file(tmp_path: Path) -> None:
    path = _write_tsv(tmp_path / "cbvs20k.txt", TEST_ROWS)
    ds = read_dataset(path)
    assert detect_format(path) == "cbvs" and ds.name == "cbvs20k" and ds.split_names == ["test"]
    split = ds["test"]
    assert [(it.id, it.source) for it in split.items] == [
        ("70001002_h0871hjdde8", "tencent-video"),
        ("70001002_d3349orxhl9", "tencent-video"),
        ("80000851_BV1xx", "bilibili"),
    ]
    assert split.items[2].url == BILI.format("BV1xx") and split.items[2].path is None
    assert split.queries == [
        Query(
            "大宅门演员表",
            "大宅门演员表",
            {"70001002_h0871hjdde8": 2, "70001002_d3349orxhl9": 1, "80000851_BV1xx": 0},
        ),
        Query("猫咪 搞笑", "猫咪 搞笑", {"80000851_BV1xx": 2, "70001002_h0871hjdde8": 0}),
    ]
    assert ds.counts() == {"test": {"items": 3, "queries": 2, "positives": 3}}


def test_repeated_rows_are_idempotent_and_header_is_skipped(tmp_path: Path) -> None:
    rows = ["query\tdocid\turl\tlabel", *["\t".join(r) for r in TEST_ROWS], "\t".join(TEST_ROWS[0])]
    ds = read_dataset(_write_tsv(tmp_path / "t.tsv", rows), "cbvs")
    assert read_dataset(_write_tsv(tmp_path / "u.tsv", TEST_ROWS), "cbvs")["test"] == ds["test"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("q\tdoc\turl", "expected 4 tab-separated columns (query, docid, url, label), got 3"),
        ("q\tdoc\turl\t2\textra", "got 5"),
        ("q\tdoc\turl\t3", "label must be 0, 1 or 2, got '3'"),
        ("q\tdoc\turl\trelevant", "label must be 0, 1 or 2"),
        ("\tdoc\turl\t1", "empty query"),
        ("q\t\turl\t1", "empty docid"),
        ("q\tdoc\t \t1", "empty url"),
        # conflicts with the first line: same (query, docid) with another label; same docid, other url
        ("大宅门演员表\t70001002_h0871hjdde8\t" + TENCENT.format("h0871hjdde8") + "\t0", "labels docid"),
        ("x\t70001002_h0871hjdde8\thttp://other.jpg\t0", "has url"),
    ],
)
def test_bad_test_row(tmp_path: Path, line: str, message: str) -> None:
    path = _write_tsv(tmp_path / "t.tsv", ["\t".join(TEST_ROWS[0]), line])
    with pytest.raises(DataFormatError) as info:
        read_dataset(path, "cbvs")
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}:2: ")


def test_conflicting_label_message_names_both_lines(tmp_path: Path) -> None:
    rows = [TEST_ROWS[0], TEST_ROWS[1], (*TEST_ROWS[0][:3], "1")]
    with pytest.raises(
        DataFormatError, match=r"t.tsv:3: .*labels docid '70001002_h0871hjdde8' 2 on line 1 but 1"
    ):
        read_dataset(_write_tsv(tmp_path / "t.tsv", rows), "cbvs")


def test_skip_bad_keeps_first_label_and_reports_each_row(tmp_path: Path) -> None:
    rows = [
        "\t".join(TEST_ROWS[0]),
        "only\ttwo",
        "\t".join((*TEST_ROWS[0][:3], "1")),
        "\t".join(TEST_ROWS[1]),
        "q\tdoc\turl\t9",
    ]
    path = _write_tsv(tmp_path / "t.tsv", rows)
    path.write_bytes(path.read_bytes() + "坏\tdoc\turl\t1\n".encode("gbk"))
    report = BadRowReport()
    ds = read_dataset(path, "cbvs", skip_bad=True, report=report)
    assert [row.line for row in report] == [2, 3, 5, 6]
    assert "not valid UTF-8" in list(report)[-1].reason
    assert ds["test"].queries[0].qrels == {"70001002_h0871hjdde8": 2, "70001002_d3349orxhl9": 1}


def test_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "e.tsv").write_text("")
    with pytest.raises(DataFormatError, match=r"e.tsv: file is empty"):
        read_dataset(tmp_path / "e.tsv", "cbvs")
    (tmp_path / "blank.tsv").write_text("\n  \r\n\n")
    with pytest.raises(DataFormatError, match=r"blank.tsv: file is empty"):
        read_dataset(tmp_path / "blank.tsv", "cbvs")
    (tmp_path / "tabs.tsv").write_text("\t\t\t\n")
    with pytest.raises(DataFormatError, match=r"tabs.tsv:1: empty query"):
        read_dataset(tmp_path / "tabs.tsv", "cbvs")
    with pytest.raises(DataFormatError, match=r"no such file or folder"):
        read_dataset(tmp_path / "missing.tsv", "cbvs")
    with pytest.raises(DataFormatError, match=r"expected CBVS test file to be a file, but it is a folder"):
        read_dataset(tmp_path, "cbvs")  # a folder is not a test file


def test_run_file_is_recognised_and_refused(tmp_path: Path) -> None:
    path = _write_tsv(
        tmp_path / "inference_result.txt", ["1\t大宅门演员表\t70001002_d3349orxhl9\t0.3051548898220062"]
    )
    with pytest.raises(DataFormatError, match=r"CBVS run file.*memesearch evaluate --format cbvs"):
        detect_format(path)
    with pytest.raises(DataFormatError, match=r"run file"):
        read_dataset(path, "cbvs")


def test_test_file_round_trip(tmp_path: Path) -> None:
    ds = read_dataset(_write_tsv(tmp_path / "in.tsv", TEST_ROWS), "cbvs")
    out = write_dataset(ds, tmp_path / "out.tsv", "cbvs")
    assert out.read_text(encoding="utf-8") == "".join("\t".join(r) + "\n" for r in TEST_ROWS)
    assert read_dataset(out, "cbvs")["test"] == ds["test"]


def test_local_files_round_trip_as_file_urls(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.jpg").write_bytes(b"\xff\xd8\xff")
    ds = Dataset(
        "local",
        splits={
            "test": Split("test", items=[Item("a", path="img/a.jpg")], queries=[Query("q", "cat", {"a": 2})])
        },
        root=tmp_path,
    )
    back = read_dataset(write_dataset(ds, tmp_path / "local.tsv", "cbvs"), "cbvs")
    item = back["test"].items[0]
    assert item.url is None and Path(item.path or "") == (tmp_path / "img" / "a.jpg").resolve()
    assert back["test"].queries == [Query("cat", "cat", {"a": 2})]  # query ids become their texts


@pytest.mark.parametrize(
    ("queries", "message"),
    [
        ([Query("q", "a\tb", {"a": 1})], "contains a tab"),
        ([Query("q", "x", {"a": 5})], "not a CBVS label"),
        ([Query("q", "x", {"zzz": 1})], "not in split"),
        ([Query("q1", "x", {"a": 1}), Query("q2", "x", {"a": 0})], "have the same text"),
    ],
)
def test_writer_errors(tmp_path: Path, queries: list[Query], message: str) -> None:
    ds = Dataset("d", splits={"test": Split("test", items=[Item("a", url="http://a")], queries=queries)})
    with pytest.raises(DataFormatError, match=message):
        write_dataset(ds, tmp_path / "x.tsv", "cbvs")


def test_writer_needs_one_split_and_overwrite(tmp_path: Path) -> None:
    two = Dataset("d", splits={"train": Split("train"), "val": Split("val")})
    with pytest.raises(ConfigError, match=r"holds one split"):
        write_dataset(two, tmp_path / "x.tsv", "cbvs")
    write_dataset(two, tmp_path / "x.tsv", "cbvs", split="val")
    with pytest.raises(ConfigError, match=r"already exists|would replace"):
        write_dataset(two, tmp_path / "x.tsv", "cbvs", split="val")
    write_dataset(two, tmp_path / "x.tsv", "cbvs", split="val", overwrite=True)


TRAIN_ROWS = [
    ("大宅门 第1集", "http://a.jpg", "大宅门"),
    ("猫咪合集", "http://b.jpg", "\\N"),
    ("大宅门 精彩片段", "http://a.jpg", "大宅门"),  # a second title of the same cover
    ("", "http://c.jpg", "\\N"),
]


def test_read_training_file(tmp_path: Path) -> None:
    path = _write_tsv(tmp_path / "cbvs5m.txt", TRAIN_ROWS)
    ds = read_dataset(path)
    assert detect_format(path) == "cbvs-train" and ds.split_names == ["train"]
    assert ds["train"].items == [
        Item("http://a.jpg", url="http://a.jpg", captions=["大宅门 第1集", "大宅门 精彩片段"], ocr="大宅门"),
        Item("http://b.jpg", url="http://b.jpg", captions=["猫咪合集"], ocr=None),
        Item("http://c.jpg", url="http://c.jpg", captions=[], ocr=None),
    ]


def test_training_file_round_trip(tmp_path: Path) -> None:
    ds = read_dataset(_write_tsv(tmp_path / "in.txt", TRAIN_ROWS), "cbvs-train")
    out = write_dataset(ds, tmp_path / "out.txt", "cbvs-train")
    back = read_dataset(out, "cbvs-train")
    assert back["train"] == ds["train"]
    assert "猫咪合集\thttp://b.jpg\t\\N\n" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("title\thttp://x.jpg", "expected 3 tab-separated columns (title, url, ocr), got 2"),
        ("title\t\t\\N", "empty url"),
        ("other\thttp://a.jpg\tdifferent text", "has OCR"),
    ],
)
def test_bad_training_row(tmp_path: Path, line: str, message: str) -> None:
    path = _write_tsv(tmp_path / "t.txt", ["\t".join(TRAIN_ROWS[0]), line])
    with pytest.raises(DataFormatError, match=r"t.txt:2: ") as info:
        read_dataset(path, "cbvs-train")
    assert message in str(info.value)


def test_training_writer_rejects_literal_null_ocr(tmp_path: Path) -> None:
    ds = Dataset("d", splits={"train": Split("train", items=[Item("u", url="u", ocr="\\N")])})
    with pytest.raises(DataFormatError, match=r"literally"):
        write_dataset(ds, tmp_path / "x.txt", "cbvs-train")
