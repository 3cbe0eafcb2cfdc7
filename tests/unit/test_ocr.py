"""OCRReader: real RapidOCR on text rendered with PIL (English and Chinese), filters, order, bad input."""

from __future__ import annotations

import pickle
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from memesearch.data.records import OCRLine
from memesearch.enrich.ocr import MIN_SIDE, MODEL_FILES, OCRReader, OCRUnavailableError, reading_order
from memesearch.errors import ConfigError, DataFormatError

pytest.importorskip("rapidocr")
pytest.importorskip("onnxruntime")

LATIN_FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
]
# fonts with CJK glyphs as Debian installs them (fonts-wqy-microhei, fonts-wqy-zenhei, fonts-noto-cjk, ...)
CJK_FONTS = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
]


def latin_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in LATIN_FONTS:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)  # Pillow's own scalable font


def cjk_font(size: int) -> ImageFont.FreeTypeFont:
    candidates = [p for p in CJK_FONTS if Path(p).is_file()]
    try:  # any other font fontconfig knows with Chinese glyphs
        listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10)
        candidates += [line.split(":")[0].strip() for line in listed.stdout.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        pass
    for path in candidates:
        font = ImageFont.truetype(path, size)
        if font.getbbox("你")[2] > 0 and font.getmask("你").getbbox():  # the glyph exists and has ink
            return font
    pytest.skip(
        "no font with Chinese glyphs on this machine; install one: apt-get install fonts-wqy-microhei"
    )


def render(rows: list[list[tuple[str, int]]], font_for, size: int = 40) -> Image.Image:
    """Black text on a white 360 x 360 canvas: ``rows`` of ``(text, x)``, one row every 2 x size pixels.

    Square and small on purpose: RapidOCR scales the shorter side to 736 px for detection, so a wide
    canvas would cost several times more.
    """
    image = Image.new("RGB", (360, 360), "white")
    draw = ImageDraw.Draw(image)
    for r, row in enumerate(rows):
        for text, x in row:
            draw.text((x, 30 + r * 2 * size), text, fill="black", font=font_for(size))
    return image


@pytest.fixture(scope="module")
def reader() -> OCRReader:
    # the models must come from the wheel: any network connection while loading fails the test
    with pytest.MonkeyPatch.context() as mp:

        def no_network(*args: object, **kwargs: object) -> None:
            raise AssertionError(f"OCR tried to open a network connection: {args}")

        mp.setattr(socket.socket, "connect", no_network)
        mp.setattr(socket, "create_connection", no_network)
        return OCRReader().load()


def squash(lines: list[OCRLine]) -> str:
    return "".join(line.text for line in lines).replace(" ", "")


def test_reads_english(reader: OCRReader) -> None:
    image = render([[("HELLO WORLD", 10)]], latin_font)
    lines = reader.read(image)
    assert squash(lines).upper() == "HELLOWORLD"
    for line in lines:
        assert line.score >= 0.9 and line.text == line.text.strip() and line.text
        x0, y0, x1, y1 = line.box
        assert 0 <= x0 < x1 <= image.width and 0 <= y0 < y1 <= image.height


def test_reads_chinese_exactly(reader: OCRReader) -> None:
    image = render([[("你好世界", 10)]], cjk_font, size=56)
    assert squash(reader.read(image)) == "你好世界"


def test_pil_and_numpy_inputs_agree(reader: OCRReader) -> None:
    image = render([[("MEME TEXT", 10)]], latin_font)
    from_pil = reader.read(image)
    assert squash(from_pil).upper() == "MEMETEXT"
    assert reader.read(np.asarray(image)) == from_pil  # RGB array
    assert reader.read(image.convert("RGBA")) == from_pil  # alpha composited on white
    grey = reader.read(np.asarray(image.convert("L")))  # (H, W) greyscale
    assert squash(grey).upper() == "MEMETEXT"


def test_blank_and_tiny_images_give_nothing(reader: OCRReader) -> None:
    assert reader.read(Image.new("RGB", (256, 256), "white")) == []
    assert reader.read(np.zeros((300, 300, 3), dtype=np.uint8)) == []
    fresh = OCRReader()
    assert fresh.read(Image.new("RGB", (MIN_SIDE - 1, 400), "black")) == []
    assert fresh._engine is None  # too small to hold text: the models were never loaded


def test_min_score_filters_lines(reader: OCRReader) -> None:
    image = render([[("KEEP THIS", 10)], [("AND THAT", 10)]], latin_font)
    everything = reader.read(image, min_score=0.0)
    assert len(everything) >= 2
    scores = sorted(line.score for line in everything)
    threshold = (scores[0] + scores[-1]) / 2 if scores[0] < scores[-1] else scores[0]
    kept = reader.read(image, min_score=threshold)
    assert kept == [line for line in everything if line.score >= threshold]
    assert reader.read(image, min_score=1.0) == [line for line in everything if line.score >= 1.0]
    assert all(line.score < 1.0 for line in everything)  # so a 1.0 threshold dropped every line


def test_reading_order_rows_then_left_to_right(reader: OCRReader) -> None:
    image = render([[("ALPHA", 10), ("BETA", 230)], [("GAMMA", 10)]], latin_font)
    texts = [line.text.upper() for line in reader.read(image)]
    assert texts == ["ALPHA", "BETA", "GAMMA"]


def test_reading_order_function() -> None:
    def line(text: str, x0: float, y0: float, x1: float, y1: float) -> OCRLine:
        return OCRLine(text, 0.99, (x0, y0, x1, y1))

    right_higher = line("b", 300, 8, 400, 42)  # same row as "a", slightly higher: still after it
    a = line("a", 10, 12, 200, 50)
    below = line("c", 10, 70, 200, 110)
    below_right = line("d", 250, 72, 380, 108)
    shuffled = [below_right, right_higher, below, a]
    assert [ln.text for ln in reading_order(shuffled)] == ["a", "b", "c", "d"]
    assert reading_order([]) == []


@pytest.mark.slow  # a 2,400-px-wide image: ~3,500 x 736 px through the detector
def test_boxes_are_in_input_pixels_for_a_large_image(reader: OCRReader) -> None:
    # wider than rapidocr's 2,000-px limit: the image is shrunk for detection, boxes are mapped back
    image = Image.new("RGB", (2400, 500), "white")
    draw = ImageDraw.Draw(image)
    font = latin_font(120)
    draw.text((1500, 180), "FAR RIGHT", fill="black", font=font)
    x0, y0, x1, y1 = draw.textbbox((1500, 180), "FAR RIGHT", font=font)  # the ink
    lines = reader.read(image)
    assert squash(lines).upper() == "FARRIGHT"
    bx0, by0 = min(ln.box[0] for ln in lines), min(ln.box[1] for ln in lines)
    bx1, by1 = max(ln.box[2] for ln in lines), max(ln.box[3] for ln in lines)
    # the detector's box holds the ink with some padding, and is centred on it
    assert bx0 <= x0 + 5 and by0 <= y0 + 5 and bx1 >= x1 - 5 and by1 >= y1 - 5
    assert abs((bx0 + bx1) / 2 - (x0 + x1) / 2) < 20 and abs((by0 + by1) / 2 - (y0 + y1) / 2) < 20


def test_version_names_package_models_and_threshold() -> None:
    version = OCRReader(min_score=0.9).version
    from importlib.metadata import version as package_version

    assert f"rapidocr-{package_version('rapidocr')}" in version
    assert all(name in version for name in MODEL_FILES.values())
    assert "min_score=0.9" in version
    assert OCRReader(min_score=0.8).version != version
    assert OCRReader(min_score=0.9, threads=2).version == version  # threads change speed, not text


def test_pickles_without_the_engine(reader: OCRReader) -> None:
    copy = pickle.loads(pickle.dumps(reader))
    assert copy._engine is None and copy.min_score == reader.min_score and copy.threads == reader.threads


@pytest.mark.parametrize(
    "kwargs", [{"min_score": 1.5}, {"min_score": -0.1}, {"threads": 0}, {"threads": 1.5}, {"det_side": 8}]
)
def test_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        OCRReader(**kwargs)  # type: ignore[arg-type]


def test_bad_images() -> None:
    reader = OCRReader()
    with pytest.raises(DataFormatError, match="uint8"):
        reader.read(np.zeros((64, 64, 3), dtype=np.float32))
    with pytest.raises(DataFormatError, match=r"\(H, W, 3\)"):
        reader.read(np.zeros((64, 64, 4), dtype=np.uint8))
    with pytest.raises(DataFormatError, match="PIL image or a numpy array"):
        reader.read("meme.png")  # type: ignore[arg-type]


def test_missing_rapidocr_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rapidocr", None)  # importing it now fails, as where it is absent
    with pytest.raises(OCRUnavailableError, match=r"rapidocr.*pip install"):
        OCRReader()
