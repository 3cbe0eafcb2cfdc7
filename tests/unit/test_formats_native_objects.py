"""The native manifest's ``objects`` field: round trip with boxes, labels, scores and RLE masks; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from memesearch.data.formats import read_dataset, write_dataset
from memesearch.data.formats.native import read_items
from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import DataFormatError
from memesearch.objects import Region, decode_rle


def test_objects_round_trip(tmp_path: Path) -> None:
    mask = np.zeros((6, 8), bool)
    mask[1:4, 2:7] = True
    objects = [
        Region(box=(1.0, 2.0, 5.5, 6.0), label="grinning face"),
        Region.from_mask(mask, score=0.5),
    ]
    items = [Item("a", path="a.png", objects=objects), Item("b", path="b.png")]
    ds = Dataset(
        "toy", {"test": Split("test", items=items, queries=[Query("q", "cat", {"a": 1})])}, root=tmp_path
    )
    write_dataset(ds, tmp_path / "out", "native")
    line = json.loads((tmp_path / "out" / "test" / "items.jsonl").read_text().splitlines()[0])
    assert line["objects"][0] == {"box": [1.0, 2.0, 5.5, 6.0], "label": "grinning face"}
    assert line["objects"][1]["mask_rle"]["size"] == [6, 8] and line["objects"][1]["score"] == 0.5
    back = read_dataset(tmp_path / "out")["test"]
    assert back.items[0].objects == objects
    assert back.items[1].objects == []  # left out when empty
    assert "objects" not in json.loads(
        (tmp_path / "out" / "test" / "items.jsonl").read_text().splitlines()[1]
    )
    assert (decode_rle(back.items[0].objects[1].mask) == mask).all()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        ('{"box": [0, 0, 1]}', '"objects" must be a list'),
        ('[{"box": [0, 0, 1]}]', r'"objects"\[0\]: an object needs "box"'),
        ('[{"box": [0, 0, 1, 1], "kind": "x"}]', r'"objects"\[0\]: unknown object field'),
        ('[{"box": [0, 0, 1, 1], "mask_rle": {"size": [2, 2], "counts": [1]}}]', "sum to 1"),
        ('[{"box": [3, 0, 1, 1]}]', "x1 > x0"),
    ],
)
def test_bad_objects_name_file_and_line(tmp_path: Path, objects: str, message: str) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text('{"id": "a", "path": "a.png", "objects": ' + objects + "}\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=message) as info:
        read_items(path)
    assert "items.jsonl:1" in str(info.value)


def test_validate_flags_objects_outside_the_image_or_with_a_wrong_mask(tmp_path: Path) -> None:
    from PIL import Image

    from memesearch.data.formats.check import check_dataset

    Image.new("RGB", (20, 10), "white").save(tmp_path / "a.png")
    good = Region(box=(0.0, 0.0, 20.0, 10.0))
    outside = Region(box=(15.0, 2.0, 30.0, 8.0))
    wrong_mask = Region.from_mask(np.ones((4, 4), bool))
    item = Item("a", path="a.png", objects=[good, outside, wrong_mask])
    ds = Dataset("toy", {"test": Split("test", items=[item])}, root=tmp_path)
    (problem,) = [p for p in check_dataset(ds) if p.kind.startswith("objects")]
    assert problem.count == 2
    assert "object 1 box [15.0, 2.0, 30.0, 8.0] leaves the 20x10 image" in problem.examples[0]
    assert "object 2 mask is 4x4, image 10x20" in problem.examples[1]
