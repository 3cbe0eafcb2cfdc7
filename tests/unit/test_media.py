"""decode_media on real files written by Pillow and PyAV: formats, modes, animations, videos, thumbnails, and
every kind of bad input (missing, empty, text, truncated, corrupt, decompression bombs, odd file names)."""

from __future__ import annotations

import io
import os
import pickle
import resource
import struct
import threading
import time
import unicodedata
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFile

from memesearch.enrich.media import (
    DEFAULT_MAX_PIXELS,
    MEDIA_ERROR_REASONS,
    DecodedMedia,
    MediaError,
    decode_media,
    make_thumbnail,
)
from memesearch.errors import MemesearchError

EMOJI_DIR = Path(__file__).resolve().parents[2] / "data" / "emoji" / "images"
PALETTE = ["red", "lime", "blue", "yellow", "white", "black", "gray", "cyan", "magenta", "orange"]


# ------------------------------------------------------------------------------------------------ helpers


def _shapes(size: tuple[int, int] = (120, 80)) -> Image.Image:
    """A picture with structure: gradient background, a disc, a bar and some text."""
    width, height = size
    ramp = np.linspace(0, 255, width, dtype=np.float64)[None, :].repeat(height, axis=0)  # (H, W)
    rgb = np.stack([ramp, ramp[::-1, ::-1] * 0.5, np.full_like(ramp, 90.0)], axis=-1).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 8, height // 8, width // 2, height * 3 // 4), fill=(250, 240, 30))
    draw.rectangle((width * 5 // 8, height // 4, width * 7 // 8, height // 2), fill=(20, 20, 200))
    draw.text((4, height - 14), "meme", fill=(0, 0, 0))
    return image


def _encoded(image: Image.Image, fmt: str, **kwargs: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def _mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean())


def _zeros_zlib(n: int, block: int = 1 << 20) -> bytes:
    """A zlib stream of ``n`` zero bytes without compressing ``n`` bytes.

    After a full flush, deflate keeps no history, so each block of zeros compresses to the same bytes:
    one compressed block is repeated, a fresh compressor ends the stream, and the Adler-32 of ``n`` zeros
    is known in closed form (a = 1, b = n mod 65521).
    """
    first = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate (no zlib header / trailer)
    piece = first.compress(b"\x00" * block) + first.flush(zlib.Z_FULL_FLUSH)
    count, rest = divmod(n, block)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = last.compress(b"\x00" * rest) + last.flush()
    adler = ((n % 65521) << 16) | 1
    return b"\x78\xda" + piece * count + tail + adler.to_bytes(4, "big")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_zeros(width: int, height: int) -> bytes:
    """A complete, valid 1-bit greyscale PNG of ``width x height`` black pixels, written by hand."""
    row = 1 + (width + 7) // 8  # filter byte + packed bits
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit, greyscale, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", _zeros_zlib(row * height))
        + _png_chunk(b"IEND", b"")
    )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _write_video(
    path: Path,
    codec: str = "mpeg4",
    *,
    frames: int = 16,
    size: tuple[int, int] = (64, 48),
    rotation: int | None = None,
    fps: int = 8,
) -> Path:
    """A real video: the red channel ramps up and blue ramps down over the frames; a green top-left mark."""
    av = pytest.importorskip("av")
    if codec not in av.codecs_available:
        pytest.skip(f"codec {codec} is not in this PyAV build")
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            level = i * 255 // (frames - 1)
            arr = np.zeros((height, width, 3), dtype=np.uint8)  # (H, W, 3)
            arr[..., 0], arr[..., 2] = level, 255 - level
            arr[: height // 4, : width // 4] = (0, 255, 0)
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _reason(source: Any, **kwargs: Any) -> MediaError:
    with pytest.raises(MediaError) as info:
        decode_media(source, **kwargs)
    err = info.value
    assert err.reason in MEDIA_ERROR_REASONS
    assert "\n" not in str(err)
    return err


# --------------------------------------------------------------------------------------------- still images


@pytest.mark.parametrize(
    ("fmt", "suffix", "expected", "lossy"),
    [
        ("PNG", ".png", "png", False),
        ("JPEG", ".jpg", "jpeg", True),
        ("WEBP", ".webp", "webp", True),
        ("BMP", ".bmp", "bmp", False),
        ("TIFF", ".tiff", "tiff", False),
        ("GIF", ".gif", "gif", True),  # one frame: a still image
    ],
)
def test_still_formats(tmp_path: Path, fmt: str, suffix: str, expected: str, lossy: bool) -> None:
    original = _shapes()
    path = tmp_path / f"pic{suffix}"
    path.write_bytes(_encoded(original, fmt))
    decoded = decode_media(path)
    assert (decoded.media, decoded.format, decoded.width, decoded.height) == ("image", expected, 120, 80)
    assert (decoded.total_frames, decoded.duration_s, decoded.extension_mismatch) == (1, None, False)
    assert len(decoded.frames) == 1
    frame = decoded.frames[0]
    assert frame.mode == "RGB" and frame.size == (120, 80)
    assert _mean_abs_diff(frame, original) < (12.0 if lossy else 0.01)
    assert decoded.extension == (".jpg" if expected == "jpeg" else ".tif" if expected == "tiff" else suffix)


def test_bytes_source_matches_path_source(tmp_path: Path) -> None:
    data = _encoded(_shapes(), "PNG")
    (tmp_path / "a.png").write_bytes(data)
    from_path = decode_media(tmp_path / "a.png")
    from_bytes = decode_media(data, name="upload.png")
    assert np.array_equal(np.asarray(from_path.frames[0]), np.asarray(from_bytes.frames[0]))
    assert decode_media(data).extension_mismatch is False  # no name: nothing to compare


def test_transparency_is_composited_on_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (20, 10), (0, 0, 0, 0))  # transparent black
    ImageDraw.Draw(rgba).rectangle((0, 0, 9, 9), fill=(200, 0, 0, 255))
    rgba.save(tmp_path / "sticker.png")
    frame = decode_media(tmp_path / "sticker.png").frames[0]
    assert frame.mode == "RGB"
    assert frame.getpixel((15, 5)) == (255, 255, 255)
    assert frame.getpixel((5, 5)) == (200, 0, 0)

    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    palette.save(tmp_path / "pal.png", transparency=1)
    assert decode_media(tmp_path / "pal.png").frames[0].getpixel((0, 0)) == (255, 255, 255)


def test_cmyk_and_16_bit_and_grey(tmp_path: Path) -> None:
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")  # red in CMYK
    red = decode_media(tmp_path / "cmyk.jpg").frames[0].getpixel((4, 4))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60

    deep = Image.fromarray(np.full((8, 8), 65535 // 2, dtype=np.uint16))  # mid grey, 16-bit
    deep.save(tmp_path / "deep.png")
    value = decode_media(tmp_path / "deep.png").frames[0].getpixel((0, 0))
    assert 120 <= value[0] <= 135 and value[0] == value[1] == value[2]

    Image.new("L", (8, 8), 77).save(tmp_path / "grey.bmp")
    assert decode_media(tmp_path / "grey.bmp").frames[0].getpixel((0, 0)) == (77, 77, 77)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), "white")
    ImageDraw.Draw(image).rectangle((0, 0, 9, 9), fill="black")  # mark in the top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    decoded = decode_media(tmp_path / "phone.jpg")
    assert (decoded.width, decoded.height) == (20, 40)
    frame = decoded.frames[0]
    assert frame.getpixel((17, 2))[0] < 60  # the mark moved to the top-right corner
    assert frame.getpixel((2, 2))[0] > 200


def test_extension_mismatch_is_flagged_but_decoded(tmp_path: Path) -> None:
    png = _encoded(_shapes(), "PNG")
    for name, expected in [
        ("photo.jpg", True),
        ("photo.PNG", False),
        ("notes.txt", True),
        ("IMG_0001", False),  # no suffix
        ("meme v1.5", False),  # a suffix that names no type
    ]:
        (tmp_path / name).write_bytes(png)
        decoded = decode_media(tmp_path / name)
        assert decoded.format == "png" and decoded.media == "image"
        assert decoded.extension_mismatch is expected, name
        assert decode_media(png, name=name).extension_mismatch is expected


def test_frames_survive_pickling(tmp_path: Path) -> None:
    # ingest workers send decoded frames between processes
    (tmp_path / "a.jpg").write_bytes(_encoded(_shapes(), "JPEG"))
    frame = decode_media(tmp_path / "a.jpg").frames[0]
    copy = pickle.loads(pickle.dumps(frame))
    assert copy.mode == "RGB" and np.array_equal(np.asarray(copy), np.asarray(frame))


# ----------------------------------------------------------------------------------------------- animations


def _animation(path: Path, fmt: str, n: int, duration: int = 100) -> list[Image.Image]:
    frames = [Image.new("RGB", (40, 30), PALETTE[i % len(PALETTE)]) for i in range(n)]
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=duration, loop=0)
    return frames


@pytest.mark.parametrize(
    ("fmt", "suffix", "expected"), [("GIF", ".gif", "gif"), ("WEBP", ".webp", "webp"), ("PNG", ".png", "png")]
)
def test_animation_frames_evenly_spaced(tmp_path: Path, fmt: str, suffix: str, expected: str) -> None:
    path = tmp_path / f"anim{suffix}"
    originals = _animation(path, fmt, 10)
    decoded = decode_media(path, max_frames=4)
    assert (decoded.media, decoded.format, decoded.total_frames) == ("gif", expected, 10)
    assert decoded.duration_s == pytest.approx(1.0)
    assert len(decoded.frames) == 4
    for frame, index in zip(decoded.frames, [0, 2, 5, 7], strict=True):
        assert frame.mode == "RGB" and frame.size == (40, 30)
        assert _mean_abs_diff(frame, originals[index]) < 4.0, index  # WebP is lossy

    assert len(decode_media(path, max_frames=1).frames) == 1
    assert len(decode_media(path, max_frames=50).frames) == 10


def test_gif_frames_are_composited(tmp_path: Path) -> None:
    # frame 2 only changes a small square; Pillow writes it as a cropped sub-image over frame 1
    base = _shapes((60, 40))
    second = base.copy()
    ImageDraw.Draw(second).rectangle((5, 5, 14, 14), fill=(255, 0, 0))
    base.save(tmp_path / "a.gif", save_all=True, append_images=[second], duration=[50, 70], loop=0)
    decoded = decode_media(tmp_path / "a.gif", max_frames=2)
    assert decoded.total_frames == 2 and decoded.duration_s == pytest.approx(0.12)
    first, last = decoded.frames
    assert last.getpixel((9, 9))[0] > 200 and last.getpixel((9, 9))[1] < 60
    outside = (40, 30)
    assert np.abs(np.subtract(last.getpixel(outside), first.getpixel(outside))).max() < 40
    assert first is not last and first.getpixel((9, 9)) != last.getpixel((9, 9))


def test_transparent_animated_sticker_on_white(tmp_path: Path) -> None:
    frames = []
    for i in range(3):
        frame = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
        ImageDraw.Draw(frame).rectangle((i * 5, 0, i * 5 + 4, 4), fill=(0, 0, 255, 255))
        frames.append(frame)
    frames[0].save(tmp_path / "s.webp", save_all=True, append_images=frames[1:], duration=40, lossless=True)
    decoded = decode_media(tmp_path / "s.webp", max_frames=3)
    assert decoded.media == "gif" and len(decoded.frames) == 3
    for i, frame in enumerate(decoded.frames):
        assert frame.getpixel((19, 19)) == (255, 255, 255)
        assert frame.getpixel((i * 5 + 2, 2)) == (0, 0, 255)


# ---------------------------------------------------------------------------------------------------- video


@pytest.mark.parametrize(("codec", "suffix", "fmt"), [("mpeg4", ".mp4", "mp4"), ("libvpx", ".webm", "webm")])
def test_video_cover_and_spaced_frames(tmp_path: Path, codec: str, suffix: str, fmt: str) -> None:
    path = _write_video(tmp_path / f"clip{suffix}", codec)
    decoded = decode_media(path, max_frames=4)
    assert (decoded.media, decoded.format, decoded.width, decoded.height) == ("video", fmt, 64, 48)
    assert decoded.duration_s == pytest.approx(2.0, abs=0.2)
    assert decoded.total_frames in (16, None)  # WebM does not store a frame count
    assert decoded.extension_mismatch is False
    assert len(decoded.frames) == 4
    reds = [frame.getpixel((40, 40))[0] for frame in decoded.frames]
    assert reds[0] < 20  # the cover is the first frame
    assert reds == sorted(reds) and reds[-1] > 150  # later frames come later in time
    assert all(frame.mode == "RGB" and frame.size == (64, 48) for frame in decoded.frames)
    assert decoded.frames[0].getpixel((2, 2))[1] > 200  # the green mark, top-left


def test_video_from_bytes_and_wrong_extension(tmp_path: Path) -> None:
    data = _write_video(tmp_path / "clip.mp4").read_bytes()
    decoded = decode_media(data, name="funny.gif", max_frames=2)
    assert decoded.media == "video" and decoded.extension_mismatch is True and len(decoded.frames) == 2
    assert decoded.extension == ".mp4"
    assert len(decode_media(data, max_frames=1).frames) == 1


def test_video_rotation_metadata_is_applied(tmp_path: Path) -> None:
    path = _write_video(tmp_path / "phone.mp4", "libx264", rotation=90)
    decoded = decode_media(path, max_frames=1)
    assert (decoded.width, decoded.height) == (48, 64)
    cover = decoded.frames[0]
    # displayed 90 degrees counter-clockwise: the top-left mark ends bottom-left
    assert cover.getpixel((2, 61))[1] > 200 and cover.getpixel((45, 2))[1] < 60


def test_unreadable_videos(tmp_path: Path) -> None:
    data = _write_video(tmp_path / "clip.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    err = _reason(cut)
    assert err.reason == "unreadable-video" and "cut.mp4" in str(err) and err.path == str(cut)
    junk = data[:32] + bytes(range(256)) * 4  # an MP4 header followed by garbage
    assert _reason(junk, name="junk.mp4").reason == "unreadable-video"


def test_video_pixel_limit(tmp_path: Path) -> None:
    path = _write_video(tmp_path / "clip.mp4")
    err = _reason(path, max_pixels=64 * 48 - 1)
    assert err.reason == "too-large" and "64 x 48" in str(err)


# ------------------------------------------------------------------------------------------------ bad input


def test_missing_empty_folder_and_text(tmp_path: Path) -> None:
    err = _reason(tmp_path / "nope.png")
    assert err.reason == "missing" and "nope.png" in str(err) and err.path == str(tmp_path / "nope.png")
    assert _reason(tmp_path).reason == "not-media"
    (tmp_path / "zero.jpg").write_bytes(b"")
    err = _reason(tmp_path / "zero.jpg")
    assert err.reason == "empty" and "zero.jpg" in str(err) and "expected an image" in str(err)
    err = _reason(b"", name="upload.png")
    assert err.reason == "empty" and err.path is None and "upload.png" in str(err)
    (tmp_path / "fake.png").write_text("definitely not a picture\n")
    err = _reason(tmp_path / "fake.png")
    assert err.reason == "not-media"
    assert "fake.png" in str(err) and ".png" in err.message and "text" in err.message
    random = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert _reason(random, name="blob.bin").reason == "not-media"


@pytest.mark.parametrize(
    ("fmt", "suffix"), [("PNG", ".png"), ("JPEG", ".jpg"), ("GIF", ".gif"), ("WEBP", ".webp")]
)
def test_truncated_images(tmp_path: Path, fmt: str, suffix: str) -> None:
    assert not ImageFile.LOAD_TRUNCATED_IMAGES  # a truncated image must not be half-decoded silently
    noise = np.random.default_rng(1).integers(0, 256, (80, 120, 3), dtype=np.uint8)
    data = _encoded(Image.fromarray(noise), fmt)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) // 2])
    err = _reason(path)
    assert err.reason == "truncated" and "cut" + suffix in str(err)
    assert _reason(data[: len(data) // 2], name="cut" + suffix).reason == "truncated"


def test_corrupt_header(tmp_path: Path) -> None:
    data = bytearray(_encoded(_shapes(), "PNG"))
    data[12:29] = b"\xff" * 17  # the IHDR chunk: name, size, depth, colour type
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    err = _reason(path)
    assert err.reason == "corrupt" and "bad.png" in str(err)
    jpeg = bytearray(_encoded(_shapes(), "JPEG"))
    jpeg[4:40] = b"\x00" * 36  # keep the SOI marker, destroy the segments after it
    assert _reason(bytes(jpeg), name="bad.jpg").reason in ("corrupt", "truncated")


@pytest.mark.filterwarnings("ignore::UserWarning")  # PIL warns about damaged TIFF tags before failing
@pytest.mark.parametrize(
    "fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF", "AVIF", "anim-GIF", "anim-WEBP"]
)
def test_damaged_files_never_crash(fmt: str) -> None:
    """Seeded random damage (flipped bytes, cuts, overwritten runs): decoded or a MediaError, nothing else."""
    image = _shapes((60, 40))
    if fmt.startswith("anim-"):
        frames = [image.rotate(angle) for angle in (0, 30, 60)]
        data = _encoded(frames[0], fmt[5:], save_all=True, append_images=frames[1:], duration=50)
    else:
        data = _encoded(image, fmt)
    rng = np.random.default_rng(7)
    reasons = set()
    for trial in range(24):
        damaged = bytearray(data)
        if trial % 3 == 0:
            for pos in rng.integers(0, len(damaged), 4):
                damaged[int(pos)] = int(rng.integers(0, 256))
        elif trial % 3 == 1:
            damaged = damaged[: int(rng.integers(1, len(damaged)))]
        else:
            pos = int(rng.integers(8, len(damaged)))
            damaged[pos : pos + 32] = rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
        try:
            decoded = decode_media(bytes(damaged), name="damaged")
        except MediaError as err:
            reasons.add(err.reason)
        else:
            assert decoded.frames and all(frame.mode == "RGB" for frame in decoded.frames)
    assert reasons <= MEDIA_ERROR_REASONS and reasons  # cutting a file in two always fails somewhere


def test_a_damaged_avif_is_corrupt_when_avif_can_be_decoded() -> None:
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF decoder")
    data = bytearray(_encoded(_shapes((60, 40)), "AVIF"))
    data[40:48] = b"\xff" * 8  # inside the boxes that describe the image
    err = _reason(bytes(data), name="damaged.avif")
    assert err.reason in {"corrupt", "truncated"} and "cannot decode" not in err.message.split("(")[0]


def test_png_bomb_construction_is_a_valid_png() -> None:
    # the same writer as the bomb, small enough to decode: proves the bomb is a real PNG
    image = Image.open(io.BytesIO(_png_zeros(3000, 700)))
    image.load()
    assert image.size == (3000, 700) and image.getextrema() == (0, 0)


def test_png_decompression_bomb_is_refused_fast_and_small(tmp_path: Path) -> None:
    data = _png_zeros(50_000, 50_000)  # 2.5 gigapixels
    assert len(data) < 1_000_000
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    rss_before = _peak_rss_mb()
    start = time.perf_counter()
    err = _reason(path)
    err_pil = _reason(path, max_pixels=10**12)  # PIL's own guard fires first: still a clean MediaError
    err_bytes = _reason(data, name="bomb.png")
    elapsed = time.perf_counter() - start
    assert err.reason == err_pil.reason == err_bytes.reason == "too-large"
    assert "bomb.png" in str(err)
    assert elapsed < 10.0  # not decoded: decoding 2.5 gigapixels takes minutes (loose: shared, loaded cores)
    assert _peak_rss_mb() - rss_before < 100  # decoding would need 2.5 GB (8-bit) or 312 MB (1-bit)


def test_pixel_limit_is_checked_before_decoding() -> None:
    data = _png_zeros(10_000, 5_000)  # 50 MP: over our default, under PIL's own warning threshold
    assert DEFAULT_MAX_PIXELS < 10_000 * 5_000
    err = _reason(data, name="big.png")
    assert err.reason == "too-large" and "10000 x 5000" in str(err) and "nothing was decoded" in str(err)
    small = _encoded(_shapes(), "PNG")
    assert _reason(small, max_pixels=120 * 80 - 1).reason == "too-large"
    assert decode_media(small, max_pixels=120 * 80).width == 120


def _gif_of_big_frames(side: int, frames: int) -> bytes:
    """A GIF of ``frames`` frames of ``side x side`` red pixels, 20 ms each: ~4 KB per 4 MP frame."""
    image = Image.new("P", (side, side), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    data = _encoded(image, "GIF")
    start = data.index(b",")  # the image descriptor: Pillow writes no extension before it
    control = b"!\xf9\x04\x04\x02\x00\x00\x00"  # graphic control: keep the frame, 20 ms
    return data[:start] + (control + data[start:-1]) * frames + b";"


def test_an_animation_is_decoded_within_a_pixel_budget() -> None:
    from memesearch.enrich.media import ANIMATION_PIXEL_BUDGET

    data = _gif_of_big_frames(2000, 200)  # 800 MP in all, in 770 KB: 16 s to decode whole
    assert len(data) < 1_000_000
    decoded = decode_media(data, name="bomb.gif", max_frames=4)
    decoded_frames = ANIMATION_PIXEL_BUDGET // (2000 * 2000)  # 25
    assert decoded.total_frames == 200 and len(decoded.frames) == 4
    assert decoded.duration_s is None  # the part not decoded has no known length
    assert decoded.frame_times is not None and max(decoded.frame_times) < decoded_frames * 0.02
    small = decode_media(_gif_of_big_frames(100, 30), name="small.gif", max_frames=4)
    assert small.total_frames == 30 and small.duration_s == pytest.approx(0.6)  # under budget: whole


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_named_pipe_or_a_device_is_refused_without_blocking(tmp_path: Path) -> None:
    from memesearch.data.formats.media import detect_media

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    device = tmp_path / "zero.jpg"
    device.symlink_to("/dev/zero")
    outcome: dict[str, object] = {}

    def read() -> None:
        for path in (fifo, device):
            outcome[path.name] = _reason(path).reason
            with pytest.raises(OSError, match="not a regular file"):
                detect_media(path)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # a plain open() waits for a writer: give it one so the test can end
        with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb"):
            pass
        pytest.fail("decoding a named pipe blocked")
    assert outcome == {"pipe.png": "not-media", "zero.jpg": "not-media"}


# ------------------------------------------------------------------------------------------------ file names


@pytest.mark.parametrize(
    "name",
    [
        "😂 so funny.png",
        "\u202ememe.png",  # right-to-left override
        "ميم مضحك.png",
        "表情包 笑哭了.jpg",
        "  spaces  .png",
        "line\nbreak.png",
        "tab\tname.gif",
    ],
)
def test_odd_file_names(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(_encoded(_shapes(), "PNG"))
    decoded = decode_media(path)
    assert decoded.media == "image" and decoded.width == 120
    err = _reason(tmp_path / ("missing " + name))
    assert err.reason == "missing" and err.path == str(tmp_path / ("missing " + name))


def test_dot_dot_segments_are_just_a_path(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "pic.png").write_bytes(_encoded(_shapes(), "PNG"))
    decoded = decode_media(tmp_path / "sub" / ".." / "pic.png")
    assert decoded.format == "png"
    decoded = decode_media(_encoded(_shapes(), "PNG"), name="../../etc/passwd.png")  # name is only a label
    assert decoded.format == "png"


def test_nfc_and_nfd_names_are_different_files(tmp_path: Path) -> None:
    nfc = unicodedata.normalize("NFC", "café.png")
    nfd = unicodedata.normalize("NFD", "café.png")
    assert nfc != nfd
    Image.new("RGB", (8, 8), "red").save(tmp_path / nfc)
    Image.new("RGB", (8, 8), "blue").save(tmp_path / nfd)
    assert decode_media(tmp_path / nfc).frames[0].getpixel((0, 0)) == (255, 0, 0)
    assert decode_media(tmp_path / nfd).frames[0].getpixel((0, 0)) == (0, 0, 255)


def test_unicode_video_name(tmp_path: Path) -> None:
    path = _write_video(tmp_path / "视频 🎬.mp4", frames=4)
    assert decode_media(path, max_frames=2).media == "video"


# ---------------------------------------------------------------------------------------- errors, thumbnails


def test_media_error_is_a_memesearch_error() -> None:
    err = MediaError("corrupt", "bad data", path=Path("x.png"), hint="re-export it")
    assert isinstance(err, MemesearchError)
    assert (err.reason, err.path, str(err)) == ("corrupt", "x.png", "x.png: bad data — re-export it")
    with pytest.raises(ValueError, match="unknown MediaError reason"):
        MediaError("weird", "x")
    with pytest.raises(ValueError, match="max_frames"):
        decode_media(b"x", max_frames=0)


@pytest.mark.parametrize(
    ("size", "limit", "expected"),
    [
        ((1000, 500), 256, (256, 128)),
        ((300, 900), 256, (85, 256)),
        ((100, 50), 256, (100, 50)),
        ((1, 2000), 64, (1, 64)),
    ],
)
def test_make_thumbnail(size: tuple[int, int], limit: int, expected: tuple[int, int]) -> None:
    data = make_thumbnail(_shapes(size), limit)
    thumb = Image.open(io.BytesIO(data))
    assert thumb.format == "WEBP" and thumb.mode == "RGB" and thumb.size == expected


def test_thumbnail_of_transparent_image_is_rgb_on_white() -> None:
    rgba = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    thumb = Image.open(io.BytesIO(make_thumbnail(rgba, 64)))
    assert thumb.mode == "RGB" and thumb.size == (64, 64)
    assert min(thumb.getpixel((32, 32))) > 245
    with pytest.raises(ValueError):
        make_thumbnail(rgba, 0)


# --------------------------------------------------------------------------------------------- real emoji


def test_real_emoji_pngs() -> None:
    files = sorted(EMOJI_DIR.glob("*/*.png"))[:20] if EMOJI_DIR.is_dir() else []
    if not files:
        pytest.skip(
            f"no emoji images under {EMOJI_DIR} (run `memesearch datasets build emoji` to create them)"
        )
    for path in files:
        decoded = decode_media(path)
        assert isinstance(decoded, DecodedMedia)
        assert decoded.media == "image" and decoded.format == "png"
        assert decoded.frames[0].mode == "RGB"
