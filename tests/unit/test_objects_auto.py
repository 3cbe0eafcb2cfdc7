"""The weight-free ``auto`` segmenter: finds the pasted emoji of a seeded collage, stays bounded on specks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from memesearch.data.collages.compose import CollageJob, PastedEmoji, draw_collage
from memesearch.errors import ConfigError, UnknownNameError
from memesearch.objects import SegmenterConfig, box_iou, create_segmenter
from memesearch.objects.auto import AutoSegmenter, foreground_mask


def _sticker(path: Path, colour: tuple[int, int, int], shape: str) -> str:
    """A 64-px RGBA drawing with transparent padding, an outline and white 'eyes' (holes to fill)."""
    im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    if shape == "circle":
        d.ellipse((6, 6, 58, 58), fill=(*colour, 255), outline=(40, 30, 20, 255), width=3)
    else:
        d.rounded_rectangle(
            (8, 12, 56, 52), radius=8, fill=(*colour, 255), outline=(40, 30, 20, 255), width=3
        )
    d.ellipse((20, 22, 28, 32), fill=(255, 255, 255, 255))
    d.ellipse((36, 22, 44, 32), fill=(255, 255, 255, 255))
    im.save(path)
    return str(path)


def _emoji(tmp_path: Path, n: int) -> tuple[PastedEmoji, ...]:
    colours = [(250, 200, 40), (230, 80, 60), (60, 140, 220), (90, 180, 90), (160, 90, 200), (240, 140, 30)]
    return tuple(
        PastedEmoji(
            f"k{i}", f"thing {i}", _sticker(tmp_path / f"{i}.png", colours[i], ("circle", "box")[i % 2])
        )
        for i in range(n)
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auto_finds_pasted_emoji_on_plain_background(tmp_path: Path, seed: int) -> None:
    job = CollageJob("c.png", seed=seed, size=256, background="plain", emoji=_emoji(tmp_path, 5))
    image, truth = draw_collage(job)
    assert len(truth) >= 4
    regions = create_segmenter("auto").segment(image)
    assert len(regions) == len(truth)
    for _, t in truth:
        best = max(box_iou(t.box, r.box) for r in regions)
        assert best >= 0.9, (t, best)
    for r in regions:  # masks are image-sized, filled (the white eyes belong to the object)
        mask = r.decoded_mask()
        assert mask is not None and mask.shape == (256, 256)
        assert r.area > 0.6 * (r.box[2] - r.box[0]) * (r.box[3] - r.box[1])


def test_auto_on_pattern_background_and_prompts(tmp_path: Path) -> None:
    job = CollageJob("c.png", seed=3, size=256, background="pattern", emoji=_emoji(tmp_path, 3))
    image, truth = draw_collage(job)
    seg = AutoSegmenter()
    regions = seg.segment(image)
    for _, t in truth:
        assert max(box_iou(t.box, r.box) for r in regions) >= 0.9
    t = truth[0][1]
    centre = ((t.box[0] + t.box[2]) / 2, (t.box[1] + t.box[3]) / 2)
    by_point = seg.segment(image, points=[centre])
    assert len(by_point) == 1 and box_iou(by_point[0].box, t.box) >= 0.9
    pad = (t.box[0] - 3, t.box[1] - 3, t.box[2] + 3, t.box[3] + 3)
    by_box = seg.segment(image, boxes=[pad, (1000, 1000, 1100, 1100)])  # the second lies outside: no region
    assert len(by_box) == 1 and box_iou(by_box[0].box, t.box) >= 0.9


def test_transparent_sticker_uses_alpha() -> None:
    im = Image.new("RGBA", (40, 30), (255, 255, 255, 0))
    ImageDraw.Draw(im).rectangle((5, 5, 14, 19), fill=(255, 255, 255, 255))  # white on transparent white
    fg = foreground_mask(np.asarray(im))
    assert fg.sum() == 10 * 15
    (region,) = AutoSegmenter(SegmenterConfig(min_area_fraction=0.0)).segment(im)
    assert region.box == (5.0, 5.0, 15.0, 20.0)


def test_ten_thousand_specks_stay_bounded() -> None:
    """The region count stays bounded (its speed is measured by bench/bench_auto_segmenter.py, not here)."""
    a = np.full((1000, 1000, 3), 255, np.uint8)
    rng = np.random.default_rng(0)
    # 10,000 one-pixel specks 10 px apart, each of a random dark colour (so they are not one texture)
    a[5::10, 5::10] = rng.integers(0, 160, (100, 100, 3), dtype=np.uint8)
    a[302:418, 302:458] = (200, 30, 30)  # one real object over some of them, 7 px from the rest
    image = Image.fromarray(a)
    regions = AutoSegmenter(SegmenterConfig(max_regions=8)).segment(image)
    assert len(regions) == 1 and regions[0].box == (302.0, 302.0, 458.0, 418.0)  # specks under min area
    kept = AutoSegmenter(SegmenterConfig(max_regions=8, min_area_fraction=0.0)).segment(image)
    assert len(kept) == 8 and kept[0].box == (302.0, 302.0, 458.0, 418.0)


def test_repeated_dots_are_background_texture() -> None:
    a = np.full((300, 300, 3), 240, np.uint8)
    ys, xs = np.mgrid[0:300, 0:300]
    dots = ((ys % 20 - 10) ** 2 + (xs % 20 - 10) ** 2) < 16  # dots that never touch the border
    a[dots] = (120, 160, 220)
    a[100:180, 120:200] = (230, 60, 60)  # the object, over some dots
    regions = AutoSegmenter(SegmenterConfig(min_area_fraction=0.0)).segment(Image.fromarray(a))
    assert [r.box for r in regions] == [(120.0, 100.0, 200.0, 180.0)]


def test_registry_errors() -> None:
    with pytest.raises(UnknownNameError, match="auto"):
        create_segmenter("mask-rcnn")
    with pytest.raises(ConfigError, match="no argument"):
        create_segmenter("auto:x")
    with pytest.raises(ConfigError, match="model folder or hub id"):
        create_segmenter("sam2:")
    with pytest.raises(ConfigError, match="max_regions"):
        SegmenterConfig(max_regions=0)
