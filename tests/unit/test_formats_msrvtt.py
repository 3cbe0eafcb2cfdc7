"""MSRVTT-style meme format (CLIP4Meme / IEF): both layouts read and written, every sentence kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from memesearch.data.formats import BadRowReport, detect_format, read_dataset, write_dataset
from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import ConfigError, DataFormatError


def _image(path: Path, fmt: str = "JPEG", frames: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    first, *rest = [Image.new("RGB", (8, 8), c) for c in ("red", "blue", "green")[:frames]]
    if rest:
        first.save(path, fmt, save_all=True, append_images=rest, duration=50)
    else:
        first.save(path, fmt)


def _json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def meme_folder(tmp_path: Path) -> Path:
    """A small dataset in both layouts, with the variants the seeds' data shows."""
    root = tmp_path / "memes"
    images = root / "images"
    _image(images / "1.jpg")
    _image(images / "2.jpg", "PNG")  # a PNG saved under the seed's .jpg name
    _image(images / "3.gif", "GIF", frames=3)  # an id that carries its extension
    _image(images / "4" / "img_00001.jpg")  # IEF frame-folder layout
    _image(images / "t1.jpg")
    _image(images / "t2.jpg")
    (root / "train_ids.csv").write_text("image_id\n1\n2\n3.gif\n4\n")
    _json(
        root / "train_data.json",
        {
            "sentences": [
                {"image_id": 1, "caption": "催青年大学习的meme"},  # numeric id
                {"image_id": "2", "caption": "催青年大学习的meme"},
                {"image_id": "1", "caption": "早上好"},  # a second sentence of image 1: kept
                {"video_id": "3.gif", "caption": "早上好"},
                {"image_id": "99", "caption": "not in train_ids.csv"},
            ],
            "titles": {"1": ["an old woman holding glasses"], "2": ["a cat", "猫"], "3.gif": [], "99": ["x"]},
        },
    )
    _json(
        root / "train_emotion.json",
        [
            {"image_id": "1", "emotion": [{"person_1": "开心"}, {"person_2": "幽默"}]},
            {"image_id": "2", "emotion": [{"person_1": "sad", "person_2": "angry"}]},
        ],
    )
    _json(
        root / "test_data.json",
        {
            "t1": {"gt": "周一上班", "titles": ["a tired dog"]},
            "t2": {"gt": ["周一上班", "下班啦"], "titles": []},  # extension: several queries
        },
    )
    _json(root / "test_emotion.json", [{"video_id": "t2", "emotion": [{"person_1": "累"}]}])
    return root


def test_read_both_layouts(meme_folder: Path) -> None:
    assert detect_format(meme_folder) == "msrvtt"
    ds = read_dataset(meme_folder)
    assert ds.split_names == ["train", "test"] and ds.root == meme_folder.resolve()
    train = ds["train"]
    assert [(it.id, it.path, it.media) for it in train.items] == [
        ("1", "images/1.jpg", "image"),
        ("2", "images/2.jpg", "image"),
        ("3.gif", "images/3.gif", "gif"),
        ("4", "images/4/img_00001.jpg", "image"),
    ]
    assert train.items[0].captions == ["an old woman holding glasses"]
    assert train.items[0].emotions == ["开心", "幽默"] and train.items[1].emotions == ["sad", "angry"]
    assert train.items[3].captions == [] and train.items[3].emotions == []
    # every sentence kept; one query per unique text; ids outside train_ids.csv are not train items
    assert train.queries == [
        Query("q1", "催青年大学习的meme", {"1": 1, "2": 1}),
        Query("q2", "早上好", {"1": 1, "3.gif": 1}),
    ]
    test = ds["test"]
    assert [it.id for it in test.items] == ["t1", "t2"] and test.items[1].emotions == ["累"]
    assert test.queries == [Query("q1", "周一上班", {"t1": 1, "t2": 1}), Query("q2", "下班啦", {"t2": 1})]


def test_train_layout_without_ids_csv(meme_folder: Path) -> None:
    (meme_folder / "train_ids.csv").unlink()
    train = read_dataset(meme_folder, "msrvtt")["train"]
    assert [it.id for it in train.items] == ["1", "2", "3.gif", "99"]
    assert train.queries[-1] == Query("q3", "not in train_ids.csv", {"99": 1})


def _canonical(ds: Dataset) -> dict[str, Any]:
    """What the MSRVTT-style format keeps: items (resolved file, media, captions, emotions) and
    queries by text with their positives (query ids are renumbered q1, q2, ...)."""
    out: dict[str, Any] = {}
    for split in ds:
        items = []
        for it in split.items:
            path = it.resolve_path(ds.root)
            items.append(
                (
                    it.id,
                    path.read_bytes() if path and path.is_file() else None,
                    it.media,
                    it.captions,
                    it.emotions,
                )
            )
        queries = [(q.text, {i: 1 for i, g in q.qrels.items() if g > 0}) for q in split.queries]
        out[split.name] = (items, queries)
    return out


def test_msrvtt_round_trip(meme_folder: Path, tmp_path: Path) -> None:
    ds = read_dataset(meme_folder)
    out = write_dataset(ds, tmp_path / "copy", "msrvtt")
    back = read_dataset(out)
    assert _canonical(back) == _canonical(ds)
    assert [q.id for q in back["train"].queries] == ["q1", "q2"]
    # the IEF frame folder becomes the seed's <id>.jpg; the test layout keeps a list gt only when needed
    assert back["train"].items[3].path == "images/4.jpg"
    test_data = json.loads((out / "test_data.json").read_text(encoding="utf-8"))
    assert test_data["t1"]["gt"] == "周一上班" and test_data["t2"]["gt"] == ["周一上班", "下班啦"]
    emotions = json.loads((out / "train_emotion.json").read_text(encoding="utf-8"))
    assert emotions[1] == {"video_id": "2", "emotion": [{"person_1": "sad"}, {"person_2": "angry"}]}


def test_native_to_msrvtt_canonicalises_ids_and_grades(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "src"
    _image(src / "a.png", "PNG")
    _image(src / "b.jpeg")
    _image(src / "sub" / "c.gif", "GIF", 2)
    items = [
        Item("a", path="a.png", captions=["red"], emotions=["开心"], ocr="LOL"),
        Item("b", path="b.jpeg"),
        Item("sub/c.gif", path="sub/c.gif", media="gif"),
        Item("d", url="https://example.com/d.jpg"),
    ]
    queries = [
        Query("x", "red or blue", {"a": 2, "b": 1, "d": 0}),
        Query("y", "gifs", {"sub/c.gif": 1}),
        Query("z", "none", {}),
    ]
    ds = Dataset("n", splits={"eval": Split("eval", items=items, queries=queries)}, root=src)
    out = write_dataset(ds, tmp_path / "out", "msrvtt")
    assert (
        "cannot hold" in caplog.text
        and "item OCR texts" in caplog.text
        and "queries without positives" in caplog.text
    )

    back = read_dataset(out)
    assert back.split_names == ["test"]  # a single split of another name is the test layout
    test = back["test"]
    # "a" has a PNG file: renamed a.png so the file keeps its extension; "b" is a JPEG: stays "b" (b.jpg)
    assert [(it.id, it.path, it.media) for it in test.items] == [
        ("a.png", "images/a.png", "image"),
        ("b", "images/b.jpg", "image"),
        ("sub/c.gif", "images/sub/c.gif", "gif"),
        ("d", "images/d.jpg", "image"),  # no local file: expected at images/d.jpg
    ]
    assert (out / "images" / "b.jpg").read_bytes() == (src / "b.jpeg").read_bytes()
    assert not (out / "images" / "d.jpg").exists()
    assert test.queries == [
        Query("q1", "red or blue", {"a.png": 1, "b": 1}),
        Query("q2", "gifs", {"sub/c.gif": 1}),
    ]
    assert test.items[0].captions == ["red"] and test.items[0].emotions == ["开心"]


def test_split_mapping(meme_folder: Path, tmp_path: Path) -> None:
    ds = read_dataset(meme_folder)
    three = Dataset("x", splits={**ds.splits, "val": Split("val")}, root=ds.root)
    with pytest.raises(ConfigError, match=r"train and a test layout only"):
        write_dataset(three, tmp_path / "a", "msrvtt")
    out = write_dataset(three, tmp_path / "a", "msrvtt", splits={"train": "train"})
    assert read_dataset(out).split_names == ["train"]
    # rewriting with another mapping removes the old layout instead of leaving it to be read back
    write_dataset(three, out, "msrvtt", splits={"test": "test"}, overwrite=True)
    assert read_dataset(out).split_names == ["test"] and not (out / "train_ids.csv").exists()


def test_writer_refuses_to_replace_without_overwrite(meme_folder: Path, tmp_path: Path) -> None:
    ds = read_dataset(meme_folder)
    out = write_dataset(ds, tmp_path / "o", "msrvtt")
    with pytest.raises(ConfigError, match=r"would replace existing"):
        write_dataset(ds, out, "msrvtt")
    write_dataset(read_dataset(out), out, "msrvtt", overwrite=True)  # in place: images are the same files
    assert _canonical(read_dataset(out)) == _canonical(ds)


def test_writer_rejects_ids_escaping_the_images_folder(tmp_path: Path) -> None:
    ds = Dataset("d", splits={"test": Split("test", items=[Item("../evil.jpg", url="u")])})
    with pytest.raises(DataFormatError, match=r"outside"):
        write_dataset(ds, tmp_path / "o", "msrvtt")


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("train_ids.csv", "id\n1\n", "no id column: expected a header naming `video_id` or `image_id`"),
        ("train_ids.csv", "", "file is empty"),
        ("train_data.json", '{"sentences": [', "invalid JSON"),
        ("train_data.json", '{"titles": {}}', 'expected an object with "sentences"'),
        ("train_data.json", "", "train_data.json is empty"),
        ("test_data.json", '{"t1": {"titles": []}}', 'missing "gt"'),
        ("test_data.json", '{"t1": {"gt": 5}}', '"gt" must be a list of strings'),
        ("test_data.json", '{"t1": {"gt": "x", "titles": "one"}}', '"titles" must be a list of strings'),
        ("test_data.json", '{"t1": {"gt": "x"}, "t1": {"gt": "y"}}', "key appears more than once"),
        ("test_emotion.json", '{"t1": []}', "expected a JSON list"),
        ("test_emotion.json", '[{"video_id": "t1", "emotion": "开心"}]', '"emotion" must be a list'),
        ("test_emotion.json", '[{"video_id": "t1", "emotion": [{"person_1": 3}]}]', "person -> emotion word"),
        ("test_emotion.json", '[{"emotion": []}]', "missing the id"),
        (
            "train_data.json",
            '{"sentences": [{"image_id": "1", "caption": ""}], "titles": {}}',
            '"caption" (the query',
        ),
        (
            "train_data.json",
            '{"sentences": [{"image_id": true, "caption": "x"}], "titles": {}}',
            "integer id",
        ),
    ],
)
def test_bad_input_names_file_and_record(meme_folder: Path, file: str, content: str, message: str) -> None:
    (meme_folder / file).write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        read_dataset(meme_folder, "msrvtt")
    assert message in str(info.value)
    assert info.value.path == str(meme_folder.resolve() / file)
    assert str(info.value).startswith(str(meme_folder.resolve() / file))


def test_invalid_json_reports_its_line(meme_folder: Path) -> None:
    (meme_folder / "test_data.json").write_text('{\n "t1": {"gt": "x"},\n "t2": {"gt": "y",}\n}')
    with pytest.raises(DataFormatError, match=r"test_data.json:3: invalid JSON"):
        read_dataset(meme_folder, "msrvtt")


def test_csv_bad_rows(meme_folder: Path) -> None:
    (meme_folder / "train_ids.csv").write_text("image_id\n1\n2\n1\n\n")
    with pytest.raises(DataFormatError, match=r"train_ids.csv:4: duplicate id '1' \(first on line 2\)"):
        read_dataset(meme_folder, "msrvtt")


def test_skip_bad_reports_every_record(meme_folder: Path) -> None:
    _json(
        meme_folder / "test_data.json",
        {"t1": {"gt": "ok"}, "bad1": {"titles": []}, "bad2": "x", "t2": {"gt": ["a", 3]}},
    )
    _json(
        meme_folder / "test_emotion.json",
        [{"video_id": "t1", "emotion": [{"p": "x"}]}, {"video_id": "t1", "emotion": []}],
    )
    report = BadRowReport()
    ds = read_dataset(meme_folder, "msrvtt", skip_bad=True, report=report)
    assert [(Path(r.path).name, r.record) for r in report] == [
        ("test_data.json", "'bad1'"),
        ("test_data.json", "'bad2'"),
        ("test_data.json", "'t2'"),
        ("test_emotion.json", "[1]"),
    ]
    assert [it.id for it in ds["test"].items] == ["t1"] and ds["test"].items[0].emotions == ["x"]


def test_emotion_file_without_data_file(tmp_path: Path, meme_folder: Path) -> None:
    (meme_folder / "test_data.json").unlink()
    with pytest.raises(DataFormatError, match=r"test_emotion.json found without test_data.json"):
        read_dataset(meme_folder, "msrvtt")


def test_images_option_and_missing_folder(meme_folder: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (meme_folder / "images").rename(elsewhere)
    item = read_dataset(meme_folder, "msrvtt", images=elsewhere)["test"].items[0]
    assert Path(item.path or "") == elsewhere.resolve() / "t1.jpg"
    with pytest.raises(ConfigError, match=r"has no read option 'image_dir'"):
        read_dataset(meme_folder, "msrvtt", image_dir=elsewhere)
    with pytest.raises(DataFormatError, match=r"no MSRVTT-style data here"):
        read_dataset(elsewhere, "msrvtt")
