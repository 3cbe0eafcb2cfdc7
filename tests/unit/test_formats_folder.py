"""A folder of media as a dataset, format detection, the format registry and the suspicious-data checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from memesearch.data.formats import (
    FORMATS,
    BadRowReport,
    detect_format,
    read_dataset,
    select_splits,
    write_dataset,
)
from memesearch.data.formats.check import check_dataset
from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import ConfigError, DataFormatError, UnknownNameError

MP4_HEADER = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41" + b"\x00\x00\x00\x10moov" + b"\x00" * 8


@pytest.fixture
def media_folder(tmp_path: Path) -> Path:
    root = tmp_path / "memes"
    (root / "gifs").mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(root / "cat.jpg", "PNG")  # PNG named .jpg
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    frames[0].save(root / "gifs" / "dance.gif", save_all=True, append_images=frames[1:])
    (root / "gifs" / "clip.bin").write_bytes(MP4_HEADER)  # video with a meaningless name
    (root / "README.txt").write_text("my memes")
    return root


def test_folder_items_by_content(media_folder: Path) -> None:
    assert detect_format(media_folder) == "folder"
    ds = read_dataset(media_folder)
    assert ds.name == "memes" and ds.root == media_folder.resolve() and ds.split_names == ["all"]
    assert ds["all"].items == [
        Item("cat.jpg", path="cat.jpg", media="image"),
        Item("gifs/clip.bin", path="gifs/clip.bin", media="video"),
        Item("gifs/dance.gif", path="gifs/dance.gif", media="gif"),
    ]
    flat = read_dataset(media_folder, "folder", recursive=False)
    assert flat["all"].item_ids() == ["cat.jpg"]


def test_text_named_png_is_a_bad_row(media_folder: Path) -> None:
    (media_folder / "gifs" / "broken.png").write_text("<html>404</html>")
    with pytest.raises(
        DataFormatError, match=r"broken.png: named like media \(.png\), but the content is not"
    ):
        read_dataset(media_folder)
    report = BadRowReport()
    ds = read_dataset(media_folder, skip_bad=True, report=report)
    assert [Path(row.path).name for row in report] == ["broken.png"]
    assert "broken.png" not in " ".join(ds["all"].item_ids())


def test_folder_to_native_and_msrvtt(media_folder: Path, tmp_path: Path) -> None:
    ds = read_dataset(media_folder)
    native_ds = read_dataset(write_dataset(ds, tmp_path / "native"))

    def files(d: Dataset) -> list[Path]:
        return [(d.root or Path()).joinpath(it.path or "").resolve() for it in d["all"].items]

    assert files(native_ds) == files(ds) and native_ds["all"].item_ids() == ds["all"].item_ids()
    back = read_dataset(write_dataset(ds, tmp_path / "msrvtt", "msrvtt"))
    assert [(it.id, it.media) for it in back["test"].items] == [
        ("cat.jpg", "image"),
        ("gifs/clip.bin", "video"),
        ("gifs/dance.gif", "gif"),
    ]


def test_folder_is_read_only(media_folder: Path, tmp_path: Path) -> None:
    assert FORMATS["folder"].can_read and not FORMATS["folder"].can_write
    with pytest.raises(
        ConfigError, match=r"read only; formats that can be written: native, msrvtt, cbvs, cbvs-train"
    ):
        write_dataset(read_dataset(media_folder), tmp_path / "x", "folder")


def test_registry_names() -> None:
    assert list(FORMATS) == ["native", "msrvtt", "cbvs", "cbvs-train", "folder"]
    assert all(spec.description and spec.name == name for name, spec in FORMATS.items())
    with pytest.raises(
        UnknownNameError, match=r"unknown dataset format 'csv'; valid formats: native, msrvtt"
    ):
        read_dataset(".", "csv")


def test_detect_format_cases(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": "a", "url": "u"}\n')
    (tmp_path / "test.tsv").write_text("q\td\tu\t2\n")
    (tmp_path / "train.tsv").write_text("t\tu\t\\N\n")
    (tmp_path / "weird.tsv").write_text("just one column\n")
    (tmp_path / "empty").mkdir()
    assert detect_format(tmp_path / "a.jsonl") == "native"
    assert detect_format(tmp_path / "test.tsv") == "cbvs"
    assert detect_format(tmp_path / "train.tsv") == "cbvs-train"
    with pytest.raises(
        DataFormatError, match=r"weird.tsv: cannot tell the format of this file — pass the format"
    ):
        detect_format(tmp_path / "weird.tsv")
    with pytest.raises(DataFormatError, match=r"the folder holds no files"):
        detect_format(tmp_path / "empty")
    with pytest.raises(DataFormatError, match=r"no such file or folder"):
        detect_format(tmp_path / "missing")


def test_option_checks(media_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"format 'folder' has no read option 'depth'; its read options: recursive"
    ):
        read_dataset(media_folder, "folder", depth=2)
    with pytest.raises(ConfigError, match=r"has no write option 'split'"):
        write_dataset(Dataset("d"), tmp_path / "x", "native", split="all")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"is a file, but format 'native' writes a folder"):
        write_dataset(Dataset("d"), tmp_path / "file", "native", overwrite=True)


def test_select_splits() -> None:
    ds = Dataset("d", splits={"train": Split("train"), "val": Split("val", items=[Item("a", url="u")])})
    out = select_splits(ds, {"val": "test"})
    assert out.split_names == ["test"] and out["test"].items == ds["val"].items
    with pytest.raises(ConfigError, match=r"has no split .nope.; its splits are: train, val"):
        select_splits(ds, {"nope": "x"})
    with pytest.raises(ConfigError, match=r"both be named 'x'"):
        select_splits(ds, {"train": "x", "val": "x"})


def test_check_dataset_finds_each_problem(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "ok.png")
    (tmp_path / "text.png").write_text("hello")
    frames = [Image.new("RGB", (4, 4), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    items = [
        Item("ok", path="ok.png", captions=["fine"]),
        Item("gone", path="gone.png", captions=["x"]),
        Item("text", path="text.png", captions=["", "y"]),
        Item("anim", path="anim.gif", media="image", ocr="hi"),
        Item("lonely", url="http://x", captions=["z"]),
        Item("bare", path="ok.png"),
    ]
    queries = [
        Query("q1", "good", {"ok": 1, "gone": 1, "text": 1, "anim": 0, "ghost": 2}),
        Query("q2", "no positives", {"ok": 0}),
        Query("q3", "good", {"ok": 1}),
    ]
    ds = Dataset(
        "d", splits={"s": Split("s", items=items, queries=queries), "empty": Split("empty")}, root=tmp_path
    )
    found = {p.kind: (p.count, p.examples, p.severity) for p in check_dataset(ds)}
    assert found == {
        "queries with the same text": (1, ["good"], "warning"),
        "queries without positives": (1, ["q2"], "warning"),
        "qrels pointing to unknown items": (1, ["q1 -> ghost"], "warning"),
        "items without captions or OCR": (1, ["bare"], "warning"),
        "empty strings among captions": (1, ["text"], "warning"),
        "items no query judges": (2, ["lonely", "bare"], "note"),
        "items whose files are missing": (1, [str(tmp_path / "gone.png")], "warning"),
        "items whose files are not images or videos": (1, [str(tmp_path / "text.png")], "warning"),
        "items whose media type differs from the file": (1, ["anim (image, file is gif)"], "warning"),
        "split has no items": (1, ["empty"], "warning"),
    }


def test_check_dataset_clean_and_without_file_checks(tmp_path: Path) -> None:
    ds = Dataset(
        "d", splits={"s": Split("s", items=[Item("a", path="missing.png", captions=["c"])], queries=[])}
    )
    assert [p.kind for p in check_dataset(ds)] == ["items whose files are missing"]
    assert check_dataset(ds, check_files=False) == []
