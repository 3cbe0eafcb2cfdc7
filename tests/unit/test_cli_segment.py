"""``memesearch segment``: PNG masks, overlay and JSON (boxes, RLE) from the auto segmenter; errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from memesearch.cli.main import main
from memesearch.objects import Rle, decode_rle


def _sheet(path: Path) -> Path:
    """A sticker sheet: three shapes on white."""
    im = Image.new("RGB", (200, 120), "white")
    d = ImageDraw.Draw(im)
    d.ellipse((10, 10, 60, 60), fill=(230, 60, 60))
    d.rectangle((90, 20, 139, 99), fill=(60, 120, 220))
    d.polygon([(160, 100), (190, 100), (175, 70)], fill=(40, 160, 60))
    im.save(path)
    return path


def test_segment_writes_masks_overlay_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = _sheet(tmp_path / "sheet.png")
    assert main(["segment", str(image), "--out", str(tmp_path / "out")]) == 0
    assert "3 regions" in capsys.readouterr().out
    doc = json.loads((tmp_path / "out" / "sheet.regions.json").read_text(encoding="utf-8"))
    assert doc["width"] == 200 and doc["height"] == 120 and doc["segmenter"]["name"] == "auto"
    assert len(doc["regions"]) == 3
    boxes = sorted(tuple(r["box"]) for r in doc["regions"])
    assert boxes[1] == (90.0, 20.0, 140.0, 100.0)  # the rectangle, exactly
    for row in doc["regions"]:
        with Image.open(tmp_path / "out" / row["mask_png"]) as im:
            png = np.asarray(im) > 0
        assert png.shape == (120, 200)
        assert (png == decode_rle(Rle.from_dict(row["mask_rle"]))).all()
        assert png.sum() == row["area"]
    with Image.open(tmp_path / "out" / "sheet.overlay.png") as im:
        assert im.size == (200, 120)


def test_segment_prompts_and_json_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = _sheet(tmp_path / "sheet.png")
    argv = ["segment", str(image), "--point", "35,35", "--box", "85,15,145,105", "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["prompts"] == {"points": [[35.0, 35.0]], "boxes": [[85.0, 15.0, 145.0, 105.0]]}
    assert [r["box"] for r in doc["regions"]] == [[10.0, 10.0, 61.0, 61.0], [90.0, 20.0, 140.0, 100.0]]
    assert not (tmp_path / "sheet-regions").exists()  # --json alone writes nothing


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--point", "1,2,3"], "--point expects 2 comma-separated numbers"),
        (["--box", "a,b,c,d"], "--box expects 4 comma-separated numbers"),
        (["--model", "yolo"], "unknown segmenter 'yolo'"),
        (["--min-area", "2"], "min_area_fraction must be in [0, 1)"),
    ],
)
def test_bad_options_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    image = _sheet(tmp_path / "sheet.png")
    assert main(["segment", str(image), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_or_broken_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["segment", str(tmp_path / "nothere.png")]) == 2
    assert "file not found" in capsys.readouterr().err
    (tmp_path / "text.png").write_text("not an image")
    assert main(["segment", str(tmp_path / "text.png")]) == 2
    assert "text.png" in capsys.readouterr().err
