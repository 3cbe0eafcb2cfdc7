"""Synthetic media for tests, benchmarks and examples: meme-like pictures with captions, animations,
videos, and hostile files (a decompression bomb). Everything is generated locally with PIL / PyAV.

Example::

    >>> img = meme_image("MONDAY AGAIN", seed=3)     # 320 x 320 RGB picture with a caption strip
    >>> img.size
    (320, 320)
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Fonts tried in order for rendered text; the CJK one (Debian fonts-wqy-microhei) also draws Chinese.
FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)


@cache
def font(size: int = 32, *, cjk: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A TrueType font of ``size`` px (``cjk``: one that draws Chinese, else any); PIL's default last."""
    for path in FONT_CANDIDATES[:1] if cjk else FONT_CANDIDATES:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    if cjk:
        raise FileNotFoundError("no CJK font found; install the Debian package fonts-wqy-microhei")
    return ImageFont.load_default(size)


def has_cjk_font() -> bool:
    return Path(FONT_CANDIDATES[0]).is_file()


def shapes_image(seed: int, size: tuple[int, int] = (256, 256)) -> Image.Image:
    """A random composition of coloured ellipses and rectangles on a random background."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    w, h = size
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
        x1, y1 = x0 + int(rng.integers(15, w // 2)), y0 + int(rng.integers(15, h // 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    return img


def text_image(text: str, size: tuple[int, int] = (480, 160), *, font_size: int = 48) -> Image.Image:
    """Black text centred on white (lines split on ``\\n``); uses a CJK font when the text needs one."""
    needs_cjk = any(ord(c) > 0x2E80 for c in text)
    f = font(font_size, cjk=needs_cjk)
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    box = draw.multiline_textbbox((0, 0), text, font=f, align="center")
    x = (size[0] - (box[2] - box[0])) // 2 - box[0]
    y = (size[1] - (box[3] - box[1])) // 2 - box[1]
    draw.multiline_text((x, y), text, fill="black", font=f, align="center")
    return img


def word_card(text: str, background: tuple[int, int, int], size: tuple[int, int] = (480, 200)) -> Image.Image:
    """Black bold Latin words centred on a coloured card (DejaVu Sans Bold 48 px when installed): what OCR
    reads reliably, for tests of search over text in images."""
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    try:
        face: Any = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 48)
    except OSError:
        face = ImageFont.load_default(size=48)
    box = draw.textbbox((0, 0), text, font=face)
    w, h = size
    draw.text(
        ((w - box[2] + box[0]) // 2, (h - box[3] + box[1]) // 2 - box[1]), text, fill=(0, 0, 0), font=face
    )
    return image


def meme_image(caption: str, *, seed: int = 0, size: int = 320) -> Image.Image:
    """A meme-like square: a random picture with a white caption strip (black text) at the bottom."""
    img = shapes_image(seed, (size, size))
    strip_h = size // 4
    strip = text_image(caption, (size, strip_h), font_size=max(12, strip_h // 2))
    img.paste(strip, (0, size - strip_h))
    return img


def save_animation(path: str | Path, frames: Sequence[Image.Image], duration_ms: int = 100) -> Path:
    """Write an animated GIF/WebP/PNG (format from the suffix)."""
    path = Path(path)
    first, *rest = [f.convert("RGB") for f in frames]
    first.save(path, save_all=True, append_images=rest, duration=duration_ms, loop=0)
    return path


def write_video(
    path: str | Path,
    n_frames: int = 12,
    size: tuple[int, int] = (64, 48),
    *,
    fps: int = 6,
    codec: str = "mpeg4",
) -> Path:
    """A real video whose colour changes over time (PyAV; ``mpeg4`` is in every PyAV wheel)."""
    import av

    path = Path(path)
    w, h = size
    with av.open(str(path), "w") as container:
        stream: Any = container.add_stream(codec, rate=fps)  # a VideoStream for a video codec
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(n_frames):
            arr = np.zeros((h, w, 3), dtype=np.uint8)
            arr[..., 0] = i * 255 // max(n_frames - 1, 1)
            arr[..., 1] = 128
            arr[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] = 255 - arr[0, 0]
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A valid, tiny 1-bit greyscale PNG of ``width x height`` black pixels (a decompression bomb).

    Built in milliseconds without ever holding the pixel data: ~0.3 MB for 50,000 x 50,000.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    # Every byte of the raw data is 0 (filter byte 0 + black pixels). After a full flush deflate forgets
    # its history, so compressing another identical block yields identical bytes: compress one block,
    # repeat it, finish with the remainder. The zlib trailer (Adler-32 of n zeros) is a = 1, b = n mod 65521.
    n = (1 + (width + 7) // 8) * height
    block = 1 << 20
    count, rest = divmod(n, block)
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = head.compress(bytes(block)) + head.flush(zlib.Z_FULL_FLUSH)
    tail_c = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = tail_c.compress(bytes(rest)) + tail_c.flush()
    adler = ((n % 65521) << 16) | 1
    idat = b"\x78\xda" + piece * count + tail + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
