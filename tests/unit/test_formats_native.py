"""Native manifest: round trips (folder and single file), and a clear error for every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from memesearch.data.formats import BadRowReport, read_dataset, write_dataset
from memesearch.data.formats.native import read_items, read_queries, write_items, write_queries
from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import ConfigError, DataFormatError


def _dataset(root: Path) -> Dataset:
    (root / "img").mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(root / "img" / "a.png")
    Image.new("RGB", (8, 8), "blue").save(root / "img" / "b.jpg")
    items = [
        Item(
            "a",
            path="img/a.png",
            captions=["a red square", "红色"],
            ocr="LOL",
            emotions=["开心", "幽默"],
            source="test",
            meta={"style": "flat", "n": 1},
        ),
        Item("b", path="img/b.jpg", media="image"),
        Item("c", url="https://example.com/c.gif", media="gif", ocr=""),
    ]
    train = Split(
        "train", items=items[:2], queries=[Query("q1", "red things", {"a": 2, "b": 0}, meta={"k": "v"})]
    )
    test = Split("test", items=items, queries=[Query("q2", "动图", {"c": 1}), Query("q3", "nothing", {})])
    return Dataset("toy", splits={"train": train, "test": test}, root=root, meta={"licence": "CC0"})


def _resolved(ds: Dataset) -> dict[str, list[tuple[object, ...]]]:
    """Everything a dataset says, with item paths resolved (the documented canonical form)."""
    out: dict[str, list[tuple[object, ...]]] = {}
    for split in ds:
        rows: list[tuple[object, ...]] = []
        for it in split.items:
            path = it.resolve_path(ds.root)
            fields = (it.url, it.media, it.captions, it.ocr, it.emotions, it.source, it.meta)
            rows.append(("item", it.id, path.resolve() if path else None, *fields))
        rows += [("query", q.id, q.text, q.qrels, q.meta) for q in split.queries]
        out[split.name] = rows
    return out


def test_folder_round_trip_is_exact(tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    out = write_dataset(ds, tmp_path, "native")  # next to its media: paths stay as they are
    back = read_dataset(out)
    assert back.name == ds.name and back.meta == ds.meta and back.root == tmp_path.resolve()
    assert back.splits == ds.splits
    assert json.loads((tmp_path / "dataset.json").read_text())["splits"] == ["train", "test"]
    with pytest.raises(ConfigError, match=r"would replace existing .*dataset.json"):
        write_dataset(back, tmp_path, "native")
    write_dataset(back, tmp_path, "native", overwrite=True)
    assert read_dataset(tmp_path).splits == ds.splits


def test_folder_round_trip_elsewhere_rewrites_paths(tmp_path: Path) -> None:
    ds = _dataset(tmp_path / "src")
    back = read_dataset(write_dataset(ds, tmp_path / "out" / "ds", "native"), "native")
    assert _resolved(back) == _resolved(ds)
    assert back["train"].items[0].path == "../../src/img/a.png"  # relative, so both can move together


def test_single_file_round_trip(tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    one = Dataset("toy", splits={"all": Split("all", ds["test"].items, ds["test"].queries)}, root=tmp_path)
    path = write_dataset(one, tmp_path / "toy.jsonl")
    back = read_dataset(path)
    assert back.splits == one.splits and back.name == "toy"
    kinds = [json.loads(line)["type"] for line in path.read_text().splitlines()]
    assert kinds == ["item"] * 3 + ["query"] * 2


def test_single_file_without_type_field(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"id": "x", "path": "x.png"}\n\n{"id": "q", "text": "hi", "qrels": {"x": 1}}\n{"id": "u", "url": "http://u"}\n'
    )
    split = read_dataset(path)["all"]
    assert [it.id for it in split.items] == ["x", "u"] and split.queries == [Query("q", "hi", {"x": 1})]


def test_items_and_queries_files(tmp_path: Path) -> None:
    items = [Item("a", path="a.png", captions=["x"]), Item("b", url="http://b", media="video")]
    queries = [Query("q", "text", {"a": 1, "b": 0})]
    write_items(items, tmp_path / "items.jsonl")
    write_queries(queries, tmp_path / "queries.jsonl")
    assert read_items(tmp_path / "items.jsonl") == items
    assert read_queries(tmp_path / "queries.jsonl") == queries
    # a file written with defaults left out stays short
    assert json.loads((tmp_path / "items.jsonl").read_text().splitlines()[1]) == {
        "id": "b",
        "url": "http://b",
        "media": "video",
    }


def test_gallery_split_without_queries_file(tmp_path: Path) -> None:
    write_dataset(Dataset("g", splits={"all": Split("all", items=[Item("a", path="a.png")])}), tmp_path / "g")
    (tmp_path / "g" / "all" / "queries.jsonl").unlink()
    assert read_dataset(tmp_path / "g")["all"].queries == []


BAD_ITEM_LINES = [
    ('{"id": "a", "path": "a.png"', "invalid JSON"),
    ('["a", "a.png"]', "expected a JSON object, got a list"),
    ('{"id": 5, "path": "a.png"}', '"id" must be a string, got a number'),
    ('{"id": "", "path": "a.png"}', '"id" must be a non-empty string'),
    ('{"path": "a.png"}', '"id" is required'),
    ('{"id": "a", "path": ""}', '"path" must be a non-empty string'),
    ('{"id": "a", "path": "a.png", "media": "audio"}', '"media" must be one of image, gif, video'),
    ('{"id": "a", "path": "a.png", "captions": "one"}', '"captions" must be a list of strings'),
    ('{"id": "a", "path": "a.png", "captions": ["x", 3]}', '"captions"[1] must be a string'),
    ('{"id": "a", "path": "a.png", "emotions": [null]}', '"emotions"[0] must be a string'),
    ('{"id": "a", "path": "a.png", "ocr": 7}', '"ocr" must be a string'),
    ('{"id": "a", "path": "a.png", "meta": []}', '"meta" must be an object'),
    ('{"id": "a", "path": "a.png", "votes": 3}', 'unknown field(s) "votes"'),
    ('{"id": "a", "path": "a.png", "id": "b"}', 'field "id" appears twice'),
    ('{"id": "a", "path": "a.png", "type": "query"}', "this file holds items"),
]


@pytest.mark.parametrize(("line", "message"), BAD_ITEM_LINES)
def test_bad_item_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text('{"id": "ok", "path": "ok.png"}\n' + line + "\n")
    with pytest.raises(DataFormatError) as info:
        read_items(path)
    assert info.value.path == str(path) and info.value.line == 2
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}:2: ")


BAD_QUERY_LINES = [
    ('{"id": "q", "qrels": {"a": 1}}', '"text" is required'),
    ('{"id": "q", "text": "", "qrels": {}}', '"text" must be a non-empty string'),
    ('{"id": "q", "text": "t", "qrels": [["a", 1]]}', '"qrels" must be an object'),
    ('{"id": "q", "text": "t", "qrels": {"a": 1.5}}', 'grade of item "a" must be an integer >= 0'),
    ('{"id": "q", "text": "t", "qrels": {"a": true}}', "must be an integer"),
    ('{"id": "q", "text": "t", "qrels": {"a": -1}}', "must be an integer >= 0"),
    ('{"id": "q", "text": "t", "qrels": {"": 1}}', "empty item id"),
    ('{"id": "q", "text": "t", "positives": ["a"]}', 'unknown field(s) "positives"'),
]


@pytest.mark.parametrize(("line", "message"), BAD_QUERY_LINES)
def test_bad_query_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "queries.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(DataFormatError, match=r"queries.jsonl:1: ") as info:
        read_queries(path)
    assert message in str(info.value)


def test_duplicate_ids_point_at_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(
        '{"id": "a", "path": "1.png"}\n{"id": "b", "path": "2.png"}\n{"id": "a", "path": "3.png"}\n'
    )
    with pytest.raises(DataFormatError, match=r"items.jsonl:3: duplicate item id 'a' \(first on line 1\)"):
        read_items(path)


def test_skip_bad_reports_every_row_and_keeps_the_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    lines = (
        ['{"id": "ok1", "path": "a.png"}']
        + [line for line, _ in BAD_ITEM_LINES]
        + ['{"id": "ok2", "url": "u"}']
    )
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "\xff\xfe", "path": "x"}\n')
    report = BadRowReport()
    items = read_items(path, skip_bad=True, report=report)
    assert [it.id for it in items] == ["ok1", "ok2"]
    assert [row.line for row in report] == [*range(2, 2 + len(BAD_ITEM_LINES)), len(lines) + 1]
    assert all(row.path == str(path) for row in report)
    assert "not valid UTF-8" in list(report)[-1].reason
    assert (
        report.summary() == f"{len(BAD_ITEM_LINES) + 1} bad rows skipped ({path}: {len(BAD_ITEM_LINES) + 1})"
    )


def test_non_utf8_line(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_bytes('{"id": "a", "path": "a.png"}\n{"id": "错误", "path": "b.png"}\n'.encode("gbk"))
    with pytest.raises(DataFormatError, match=r"items.jsonl:2: line is not valid UTF-8 .*iconv"):
        read_items(path)


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a", "path": "a.png"}\r\n{"id": "b", "path": "b.png"}\r\n')
    assert [it.id for it in read_items(path)] == ["a", "b"]


def test_empty_single_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(DataFormatError, match=r"empty.jsonl: file is empty"):
        read_dataset(path)


def _manifest(tmp_path: Path, manifest: object) -> Path:
    folder = tmp_path / "ds"
    (folder / "test").mkdir(parents=True)
    (folder / "test" / "items.jsonl").write_text("")
    (folder / "dataset.json").write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ([], "expected a JSON object"),
        ({"format": "other", "version": 1, "name": "x", "splits": ["test"]}, '"format" must be "memesearch"'),
        ({"format": "memesearch", "version": 9, "name": "x", "splits": ["test"]}, "upgrade memesearch"),
        ({"format": "memesearch", "version": "1", "name": "x", "splits": ["test"]}, '"version" must be'),
        ({"format": "memesearch", "version": 1, "name": "", "splits": ["test"]}, '"name" must be'),
        ({"format": "memesearch", "version": 1, "name": "x", "splits": "test"}, '"splits" must be a list'),
        ({"format": "memesearch", "version": 1, "name": "x", "splits": ["../up"]}, "not a valid folder name"),
        (
            {"format": "memesearch", "version": 1, "name": "x", "splits": ["test", "val"]},
            "items of split 'val' not found",
        ),
        (
            {"format": "memesearch", "version": 1, "name": "x", "splits": ["test"], "extra": 1},
            "unknown field(s) 'extra'",
        ),
    ],
)
def test_bad_manifest(tmp_path: Path, manifest: object, message: str) -> None:
    folder = _manifest(tmp_path, manifest)
    with pytest.raises(DataFormatError) as info:
        read_dataset(folder, "native")
    assert message in str(info.value)


def test_invalid_manifest_json_names_line(tmp_path: Path) -> None:
    folder = _manifest(tmp_path, {})
    (folder / "dataset.json").write_text('{\n  "format": "memesearch",\n  "version": 1,,\n}')
    with pytest.raises(DataFormatError, match=r"dataset.json:3: invalid JSON"):
        read_dataset(folder, "native")


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"dataset manifest not found"):
        read_dataset(tmp_path, "native")


def test_text_only_items_round_trip(tmp_path: Path) -> None:
    split = Split(
        "test", items=[Item("m1", captions=["cat asleep"])], queries=[Query("q", "sleepy", {"m1": 2})]
    )
    ds = Dataset("text", splits={"test": split})
    assert read_dataset(write_dataset(ds, tmp_path / "t")).splits == ds.splits


@pytest.mark.parametrize(
    ("split", "message"),
    [
        (
            Split("s", queries=[Query("q", "", {})]),
            r"cannot write query 'q': \"text\" must be a non-empty string",
        ),
        (Split("s", queries=[Query("q", "t", {"a": -1})]), "must be an integer >= 0"),
        (
            Split("s", items=[Item("a", meta={"x": object()})]),
            "cannot write item 'a'.*meta values must be JSON",
        ),
    ],
)
def test_writer_refuses_what_the_reader_would_reject(tmp_path: Path, split: Split, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        write_dataset(Dataset("d", splits={"s": split}), tmp_path / "out")


def test_writer_rejects_duplicate_ids(tmp_path: Path) -> None:
    split = Split("s", items=[Item("a", path="a"), Item("a", path="b")])
    with pytest.raises(DataFormatError, match=r"two items with id 'a'"):
        write_dataset(Dataset("d", splits={"s": split}), tmp_path / "out")


def test_single_file_holds_one_split(tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    with pytest.raises(DataFormatError, match=r"holds one split"):
        write_dataset(ds, tmp_path / "x.jsonl")
