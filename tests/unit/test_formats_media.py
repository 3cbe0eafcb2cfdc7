"""Media recognised by content: real images written by Pillow, minimal video headers built byte by byte."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from PIL import Image

from memesearch.data.formats.media import detect_media, media_from_name, scan_media


def _frames(n: int) -> list[Image.Image]:
    colours = ["red", "blue", "green", "yellow"]
    return [Image.new("RGB", (16, 12), colours[i % len(colours)]) for i in range(n)]


def _save(path: Path, fmt: str, frames: int = 1) -> Path:
    first, *rest = _frames(frames)
    if rest:
        first.save(path, fmt, save_all=True, append_images=rest, duration=80, loop=0)
    else:
        first.save(path, fmt)
    return path


@pytest.mark.parametrize(
    ("fmt", "frames", "expected"),
    [
        ("PNG", 1, "image"),
        ("PNG", 3, "gif"),  # APNG
        ("JPEG", 1, "image"),
        ("GIF", 1, "image"),
        ("GIF", 3, "gif"),
        ("WEBP", 1, "image"),
        ("WEBP", 2, "gif"),
        ("BMP", 1, "image"),
        ("TIFF", 1, "image"),
    ],
)
def test_images_by_content(tmp_path: Path, fmt: str, frames: int, expected: str) -> None:
    # the name says nothing: content decides
    path = _save(tmp_path / "file.bin", fmt, frames)
    assert detect_media(path) == expected


def test_gif_with_local_colour_tables_and_extensions(tmp_path: Path) -> None:
    # Pillow writes graphic-control extensions and per-frame palettes for differing frames
    frames = [Image.new("P", (8, 8), i) for i in range(3)]
    for i, frame in enumerate(frames):
        frame.putpalette([i * 80, 0, 255 - i * 80] * 256)
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=50)
    assert detect_media(tmp_path / "a.gif") == "gif"


def test_png_named_jpg_is_an_image_and_text_named_png_is_not_media(tmp_path: Path) -> None:
    png = _save(tmp_path / "photo.jpg", "PNG")
    text = tmp_path / "fake.png"
    text.write_text("not an image\n")
    assert detect_media(png) == "image"
    assert detect_media(text) is None


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _ftyp(brand: bytes) -> bytes:
    return _box(b"ftyp", brand + b"\x00\x00\x02\x00" + brand + b"mp41")


VIDEO_HEADERS = {
    "mp4": _ftyp(b"isom") + _box(b"moov", b"\x00" * 16),
    "mov-ftyp": _ftyp(b"qt  ") + _box(b"mdat", b"\x00" * 16),
    "mov-legacy": _box(b"wide", b"") + _box(b"mdat", b"\x00" * 16),
    "webm": bytes.fromhex("1a45dfa3") + b"\x9f\x42\x86\x81\x01\x42\x82\x84webm",
    "avi": b"RIFF" + struct.pack("<I", 100) + b"AVI LIST" + b"\x00" * 16,
    "flv": b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00" * 8,
    "mpeg-ts": (b"\x47\x40\x00\x10" + b"\xff" * 184) * 3,
    "m2ts": (b"\x00\x00\x00\x00" + b"\x47\x40\x00\x10" + b"\xff" * 184) * 3,
    "mpeg-ps": b"\x00\x00\x01\xba\x44\x00\x04\x00\x04\x01" + b"\x00" * 16,
    "wmv": bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + b"\x00" * 16,
}


@pytest.mark.parametrize("name", sorted(VIDEO_HEADERS))
def test_video_headers(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.data"
    path.write_bytes(VIDEO_HEADERS[name])
    assert detect_media(path) == "video"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (_ftyp(b"avif"), "image"),  # AVIF still image
        (_ftyp(b"heic"), "image"),
        (_ftyp(b"avis"), "gif"),  # AVIF image sequence
        (_ftyp(b"M4A "), None),  # audio only
        (b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + b"\x00" * 16, None),  # WAV audio
        (b"", None),
        (b"BM not a bitmap header at all", None),
        (b"\x47" + b"\x00" * 100, None),  # one sync byte is not a transport stream
        (b'{"id": "x"}\n', None),
    ],
)
def test_other_content(tmp_path: Path, content: bytes, expected: str | None) -> None:
    path = tmp_path / "x.mp4"
    path.write_bytes(content)
    assert detect_media(path) == expected


def test_truncated_gif_with_one_frame_is_still(tmp_path: Path) -> None:
    data = _save(tmp_path / "a.gif", "GIF", 3).read_bytes()
    cut = tmp_path / "cut.gif"
    cut.write_bytes(data[:40])  # a GIF header, but no complete second frame
    assert detect_media(cut) == "image"


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        detect_media(tmp_path / "nope.png")


def test_scan_media_recursive_sorted_and_skips_hidden(tmp_path: Path) -> None:
    _save(tmp_path / "b.png", "PNG")
    (tmp_path / "sub").mkdir()
    _save(tmp_path / "sub" / "a.gif", "GIF", 2)
    (tmp_path / "sub" / "clip").write_bytes(VIDEO_HEADERS["mp4"])
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".hidden").mkdir()
    _save(tmp_path / ".hidden" / "c.png", "PNG")
    _save(tmp_path / ".d.png", "PNG")

    found = [(p.relative_to(tmp_path).as_posix(), kind) for p, kind in scan_media(tmp_path)]
    assert found == [("b.png", "image"), ("sub/a.gif", "gif"), ("sub/clip", "video")]
    flat = [(p.name, kind) for p, kind in scan_media(tmp_path, recursive=False)]
    assert flat == [("b.png", "image")]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.GIF", "gif"), ("a.mp4", "video"), ("a.webm", "video"), ("a.png", "image"), ("a", "image")],
)
def test_media_from_name(name: str, expected: str) -> None:
    assert media_from_name(name) == expected
