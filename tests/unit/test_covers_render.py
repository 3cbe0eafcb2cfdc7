"""Drawing covers without npm packages (a made-up emoji PNG): determinism, text or not, every layout."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memesearch.data.covers.config import FONTS, CoversBuildConfig
from memesearch.data.covers.render import (
    BACKGROUNDS,
    LAYOUTS,
    TEXT_STYLES,
    CoverJob,
    draw_cover,
    render_cover,
)
from memesearch.errors import ConfigError


@pytest.fixture()
def emoji(tmp_path: Path) -> str:
    path = tmp_path / "emoji.png"
    im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    im.paste((230, 40, 40, 255), (8, 8, 56, 56))
    im.save(path)
    return str(path)


def _font(lang: str) -> tuple[str, int]:
    spec, index = FONTS[lang][0]
    if not spec.path().is_file():
        pytest.skip(f"font {spec.path()} missing: install the Debian package {spec.package}")
    return str(spec.path()), index


def _jpeg(job: CoverJob) -> bytes:
    buf = io.BytesIO()
    draw_cover(job).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_same_job_same_bytes_and_text_changes_pixels(emoji: str, layout: str) -> None:
    font, index = _font("zh")
    plain = CoverJob("x.jpg", 224, 126, 7, "gradient", emoji, copies=2, icon=emoji)
    text = CoverJob(
        "x.jpg", 224, 126, 7, "gradient", emoji, copies=2, icon=emoji,
        lines=("猫咪搞笑合集",), font=font, font_index=index, layout=layout,
    )  # fmt: skip
    assert _jpeg(text) == _jpeg(text)
    diff = np.abs(np.asarray(draw_cover(text), np.int16) - np.asarray(draw_cover(plain), np.int16))
    assert (diff.max(axis=2) > 60).mean() > 0.02  # the text covers a visible part of the cover


@pytest.mark.parametrize(("background", "style"), list(zip(BACKGROUNDS, TEXT_STYLES, strict=True)))
def test_backgrounds_and_styles_render_to_jpeg(
    tmp_path: Path, emoji: str, background: str, style: str
) -> None:
    font, index = _font("en")
    job = CoverJob(
        "images/c.jpg", 126, 224, 3, background, emoji, distractor=emoji,
        lines=("HOW TO DRAW", "A CAT"), font=font, font_index=index, text_style=style,
    )  # fmt: skip
    render_cover(job, str(tmp_path))
    with Image.open(tmp_path / "images" / "c.jpg") as im:
        assert im.format == "JPEG" and im.size == (126, 224)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"topics": 2}, "--topics must be 0 (all) or at least 3"),
        ({"size": 50}, "--size must be between 96 and 1024"),
        ({"textless_fraction": 1.0}, "--textless-fraction must be in [0, 1)"),
        ({"languages": ("en", "ja")}, "no fonts or texts for 'ja'"),
        ({"styles": ("apple2",)}, "unknown emoji style 'apple2'"),
    ],
)
def test_bad_options_are_one_line(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        CoversBuildConfig(**kwargs)  # type: ignore[arg-type]
    assert message in str(info.value) and "\n" not in str(info.value)
