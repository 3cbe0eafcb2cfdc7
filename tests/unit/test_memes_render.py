"""The memes benchmark without npm packages: options, fonts, phrase families and the Pillow renderer."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memesearch.cli.main import main
from memesearch.data.memes.assemble import _split_lines, textless_count
from memesearch.data.memes.config import MemesBuildConfig
from memesearch.data.memes.fonts import FONT_DIR_ENV, FONTS, FontMissingError, check_fonts, font_path
from memesearch.data.memes.phrases import emotion_families, fold
from memesearch.data.memes.render import RenderJob, draw_meme, render_meme
from memesearch.errors import ConfigError


def _font(lang: str) -> str:
    path = FONTS[lang].path()
    if not path.is_file():
        pytest.skip(f"the {lang} font is missing ({path}): install the Debian package {FONTS[lang].package}")
    return str(path)


def _png(job: RenderJob) -> bytes:
    buf = io.BytesIO()
    draw_meme(job).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"languages": ("en", "ja")}, "no font or phrases for 'ja'"),
        ({"size": 50}, "--size must be between 96 and 1024"),
        ({"textless_fraction": 1.0}, "--textless-fraction must be in [0, 1)"),
        ({"limit": 4}, "--limit must be at least 6"),
        ({"styles": ("google", "emojione")}, "unknown emoji style 'emojione'"),
    ],
)
def test_bad_options_are_one_clear_sentence(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        MemesBuildConfig(**kwargs)  # type: ignore[arg-type]
    assert message in str(info.value) and "\n" not in str(info.value)


def test_cli_bad_option_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["datasets", "build", "memes", "--out", str(tmp_path / "m"), "--textless-fraction", "1.5"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --textless-fraction must be in [0, 1)") and err.count("\n") == 1


def test_missing_font_names_the_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(FONT_DIR_ENV, str(tmp_path / "no-fonts"))
    with pytest.raises(FontMissingError, match="fonts-wqy-microhei"):
        font_path("zh")
    with pytest.raises(FontMissingError, match="fonts-dejavu-core"):
        check_fonts(["en"])
    # the CLI checks fonts before installing or reading anything
    assert main(["datasets", "build", "memes", "--out", str(tmp_path / "m"), "--languages", "zh"]) == 2
    err = capsys.readouterr().err
    assert "apt-get install fonts-wqy-microhei" in err and err.count("\n") == 1
    assert not (tmp_path / "m").exists()


def test_emotion_families_split_words_by_script() -> None:
    tired = next(f for f in emotion_families(["en", "zh"]) if f.key == "emotion:tired")
    assert tired.emotions == ("tired",) and tired.stem == "emotion-tired"
    en = {p.text for p in tired.texts("en")}
    zh = {p.text for p in tired.texts("zh")}
    assert {"tired", "sleepy", "a tired, sleepy face"} <= en and {"困", "累", "困了，想睡觉"} <= zh
    # English prompts are descriptions, not meme text; Chinese prompts are meme-like phrases
    assert "a tired, sleepy face" not in {p.text for p in tired.drawable("en")}
    assert "困了，想睡觉" in {p.text for p in tired.drawable("zh")}
    only_en = next(f for f in emotion_families(["en"]) if f.key == "emotion:tired")
    assert {p.lang for p in only_en.phrases} == {"en"}
    assert fold("  So   TIRED ") == "so tired"


def test_textless_count_gives_the_asked_fraction() -> None:
    for n, langs, f in [(100, 2, 0.3), (100, 1, 0.3), (1000, 2, 0.5), (10, 2, 0.0)]:
        t = textless_count(n, n, langs, f)
        items = t + langs * (n - t)
        assert abs(t / items - f) < 0.02, (n, langs, f)
    assert textless_count(2, 100, 2, 0.9) == 2  # never more stickers than emoji families


def test_two_lines_split_at_a_space_or_comma() -> None:
    import random

    rng = random.Random(0)
    assert _split_lines("face with tears of joy", "en", rng) == ("face with", "tears of joy")
    assert _split_lines("困了，想睡觉很久很久", "zh", rng) == ("困了，", "想睡觉很久很久")
    assert _split_lines("面无表情的脸一直", "zh", rng) == ("面无表情", "的脸一直")


def test_rendering_is_deterministic_and_sized(tmp_path: Path) -> None:
    font = _font("en")
    for background in ("flat", "gradient", "noise"):
        job = RenderJob(
            "a.png", 240, 180, 11, background, None, ("SO", "TIRED"), font, "top-bottom", "outline"
        )
        assert _png(job) == _png(job)
        render_meme(job, str(tmp_path))
        with Image.open(tmp_path / "a.png") as im:
            assert im.size == (240, 180) and im.mode == "RGB"
    dark = RenderJob("b.png", 200, 200, 3, "noise", None, ("feeling tired today",), font, "centre", "dark")
    assert _png(dark) != _png(
        RenderJob("b.png", 200, 200, 4, "noise", None, dark.lines, font, "centre", "dark")
    )


def _ink(lines: tuple[str, ...], font: str) -> np.ndarray:
    """Where text changed the pixels of a flat light background (a boolean mask)."""
    plain = RenderJob("x.png", 256, 256, 5, "flat", None, (), None, "centre", "dark")
    drawn = RenderJob("x.png", 256, 256, 5, "flat", None, lines, font, "centre", "dark")
    a = np.asarray(draw_meme(plain), dtype=int)
    b = np.asarray(draw_meme(drawn), dtype=int)
    return np.abs(a - b).sum(axis=2) > 60


def test_chinese_text_is_drawn_as_glyphs_not_boxes() -> None:
    font = _font("zh")
    angry, tired = _ink(("气死我了",), font), _ink(("困困困困",), font)
    assert angry.mean() > 0.01 and tired.mean() > 0.01  # ink on the image
    # a font without CJK glyphs draws the same box for every character: two texts would ink alike
    assert (angry ^ tired).mean() > 0.3 * max(angry.mean(), tired.mean())


def test_ocr_reads_the_drawn_chinese_back() -> None:
    font = _font("zh")
    ocr = pytest.importorskip("memesearch.enrich.ocr")
    try:
        reader = ocr.OCRReader()
        lines = reader.read(
            draw_meme(RenderJob("x.png", 256, 192, 8, "noise", None, ("气死我了",), font, "bottom"))
        )
    except ocr.OCRUnavailableError as exc:
        pytest.skip(f"OCR is not available: {exc}")
    assert "气死我了" in [line.text for line in lines]
