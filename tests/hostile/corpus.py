"""A hostile-input corpus, generated deterministically into a folder: every format the media sniffer accepts
cut short and with flipped bits, empty files, decompression bombs (pixels, frames, metadata), polyglots,
non-images named like images, broken videos, special files (FIFO, device links, symlink loops) and hostile
file names; plus malformed rows for every dataset format.

Nothing here is random at run time: damage positions come from a seeded generator, so two builds give the
same bytes. Every input is a :class:`Case` saying what must happen to it:

``indexed``
    a valid file (maybe under a strange name, maybe with junk appended): it must be in the index afterwards;
``failed``
    it must be reported as a failure, with this ``reason`` when one is given;
``either``
    damaged data that a decoder may or may not recover (a JPEG missing its last bytes decodes): it must be
    indexed or reported, never lost, never a crash.

Example::

    corpus = build_media_corpus(tmp_path / "hostile")
    len(corpus.cases), corpus.extra_args     # every input, and paths to give on the command line too
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SEED = 20261207
TRUNCATE_AT = (1, 7, 13, 33, "1/4", "1/2", "3/4", -2, -1)  # byte offsets; fractions of the length
FLIPS_PER_REGION = 3  # seeded variants with flipped bits in the header, and as many in the data


@dataclass(frozen=True)
class Case:
    """One hostile input: ``path`` is absolute (``str``: it may hold undecodable bytes as surrogates)."""

    path: str
    category: str
    expect: str  # "indexed", "failed" or "either"
    reason: str | None = None  # the failure reason required when expect == "failed"
    note: str = ""


@dataclass
class Corpus:
    root: Path
    cases: list[Case] = field(default_factory=list)
    extra_args: list[str] = field(default_factory=list)  # inputs given directly, besides the folder

    def add(self, name: str | bytes, data: bytes | None, category: str, expect: str, **kw: str) -> str:
        """Write ``data`` under ``root/category/name`` (``None``: the caller makes the file) and record it."""
        folder = os.fsencode(self.root / category)
        os.makedirs(folder, exist_ok=True)
        path = folder + b"/" + (name if isinstance(name, bytes) else os.fsencode(name))
        if data is not None:
            with open(path, "wb") as fh:
                fh.write(data)
        text = os.fsdecode(path)
        self.cases.append(Case(text, category, expect, kw.get("reason"), kw.get("note", "")))
        return text

    def by_category(self) -> dict[str, list[Case]]:
        out: dict[str, list[Case]] = {}
        for case in self.cases:
            out.setdefault(case.category, []).append(case)
        return out


# ------------------------------------------------------------------------------------------ valid pictures


def picture(index: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    """A small picture that differs per ``index``: a colour ramp, a disc and a bar placed by ``index``."""
    width, height = size
    rng = np.random.default_rng(index)
    base = rng.integers(0, 256, 3)
    ramp = np.linspace(0, 1, width)[None, :, None]  # (1, W, 1)
    rgb = (base[None, None, :] * (0.4 + 0.6 * ramp)).repeat(height, axis=0)  # (H, W, 3)
    image = Image.fromarray(rgb.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    x, y = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
    draw.ellipse((x, y, x + width // 3, y + height // 3), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw.rectangle((width - 12, 4, width - 4, height - 4), fill=tuple(int(v) for v in 255 - base))
    return image


def _save(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def _frames(index: int, count: int) -> list[Image.Image]:
    first = picture(index)
    return [first.rotate(i * 360 / count) for i in range(count)]


def _video(index: int, frames: int = 8) -> bytes:
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for i in range(frames):
            arr = np.asarray(picture(index + i, (48, 32)))  # (H, W, 3)
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


#: every format the media sniffer accepts that this installation can write: name -> (suffix, bytes maker)
FORMATS: dict[str, tuple[str, Callable[[int], bytes]]] = {
    "png": (".png", lambda i: _save(picture(i), "PNG")),
    "jpeg": (".jpg", lambda i: _save(picture(i), "JPEG", quality=85)),
    "gif": (".gif", lambda i: _save(picture(i), "GIF")),
    "webp": (".webp", lambda i: _save(picture(i), "WEBP", quality=80)),
    "bmp": (".bmp", lambda i: _save(picture(i), "BMP")),
    "tiff": (".tif", lambda i: _save(picture(i), "TIFF")),
    "avif": (".avif", lambda i: _save(picture(i), "AVIF", quality=60)),
    "apng": (
        ".png",
        lambda i: _save(_frames(i, 3)[0], "PNG", save_all=True, append_images=_frames(i, 3)[1:]),
    ),
    "anim-gif": (
        ".gif",
        lambda i: _save(_frames(i, 3)[0], "GIF", save_all=True, append_images=_frames(i, 3)[1:], duration=60),
    ),
    "anim-webp": (
        ".webp",
        lambda i: _save(
            _frames(i, 3)[0], "WEBP", save_all=True, append_images=_frames(i, 3)[1:], duration=60
        ),
    ),
    "mp4": (".mp4", _video),
}


def _offset(spec: int | str, length: int) -> int:
    if isinstance(spec, str):
        num, den = (int(v) for v in spec.split("/"))
        return length * num // den
    return spec if spec > 0 else length + spec


def _flip(data: bytes, rng: np.random.Generator, start: int, stop: int, bits: int = 3) -> bytes:
    out = bytearray(data)
    for pos in rng.integers(start, max(start + 1, stop), bits):
        out[int(pos)] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


# ------------------------------------------------------------------------------------------------- bombs


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _zeros_deflated(n: int) -> bytes:
    """A zlib stream of ``n`` zero bytes, one compressed megabyte repeated (no ``n``-byte buffer)."""
    block = 1 << 20
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = comp.compress(b"\x00" * block) + comp.flush(zlib.Z_FULL_FLUSH)  # no history: repeatable
    count, rest = divmod(n, block)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = last.compress(b"\x00" * rest) + last.flush()
    adler = ((n % 65521) << 16) | 1  # Adler-32 of n zero bytes
    return b"\x78\xda" + piece * count + tail + adler.to_bytes(4, "big")


def png_pixel_bomb(width: int, height: int) -> bytes:
    """A complete 1-bit PNG of ``width x height`` black pixels: small on disk, gigabytes once decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    data = _zeros_deflated((1 + (width + 7) // 8) * height)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


def gif_frame_bomb(frames: int) -> bytes:
    """A 2x2 GIF with ``frames`` frames, written by hand (Pillow would merge identical frames)."""
    head = b"GIF89a" + struct.pack("<HHBBB", 2, 2, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    loop = b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    body = bytearray()
    for i in range(frames):
        body += b"!\xf9\x04\x04\x02\x00\x00\x00"  # graphic control: 20 ms, keep the frame
        body += b"," + struct.pack("<HHHHB", 0, 0, 2, 2, 0)
        pixels = bytes([0x84 if i % 2 else 0x04, 0x00])  # LZW-coded 2x2, colour depends on parity
        body += b"\x02\x02" + pixels + b"\x00"
    return head + loop + bytes(body) + b";"


def gif_area_bomb(side: int, frames: int) -> bytes:
    """``frames`` frames of ``side x side`` pixels of one colour: ~4 KB per 4 MP frame on disk."""
    image = Image.new("P", (side, side), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    data = _save(image, "GIF")
    start = data.index(b",")  # the image descriptor (Pillow writes no extension before it)
    control = b"!\xf9\x04\x04\x02\x00\x00\x00"
    return data[:start] + (control + data[start:-1]) * frames + b";"


def gif_screen_bomb() -> bytes:
    """A GIF whose logical screen is 65535 x 65535 (4.3 gigapixels) holding one 1x1 frame."""
    head = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    return head + b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00;"


def jpeg_with_segments(marker: int, payload: bytes, count: int) -> bytes:
    """A valid small JPEG with ``count`` extra APPn segments of ``payload`` (max 65,533 bytes) after SOI."""
    base = _save(picture(900), "JPEG")
    seg = bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return base[:2] + seg * count + base[2:]


def png_with_chunk(kind: bytes, payload: bytes) -> bytes:
    base = _save(picture(901), "PNG")
    return base[:33] + _png_chunk(kind, payload) + base[33:]  # after the IHDR chunk (8 + 25 bytes)


def exif_ifd_bomb(entries: int = 65535) -> bytes:
    """A TIFF-structured EXIF block whose first IFD claims ``entries`` tags, each pointing far away."""
    head = b"MM\x00*" + struct.pack(">I", 8)
    ifd = struct.pack(">H", entries)
    tag = struct.pack(">HHII", 0x010F, 2, 0x7FFFFFFF, 0x7FFFFFF0)  # Make: a 2 GB ASCII value out of range
    return head + ifd + tag * min(entries, 4000) + b"\x00\x00\x00\x00"


def tiff_strip_bomb() -> bytes:
    """A TIFF whose strip tables claim hundreds of millions of entries in a file of a few hundred bytes."""
    entries = [
        (256, 4, 1, 64),  # width
        (257, 4, 1, 64),  # height
        (258, 3, 1, 8),  # bits per sample
        (259, 3, 1, 1),  # no compression
        (262, 3, 1, 1),  # black is zero
        (273, 4, 400_000_000, 8),  # strip offsets: 400 M of them
        (277, 3, 1, 1),
        (278, 4, 1, 1),
        (279, 4, 400_000_000, 8),  # strip byte counts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHII", tag, kind, count, value)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00" + b"\x00" * 64


# --------------------------------------------------------------------------------------------- the corpus


def build_media_corpus(root: Path, *, formats: tuple[str, ...] | None = None) -> Corpus:
    """Write the hostile media corpus under ``root`` (created) and return what each input must give."""
    root.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(root)
    rng = np.random.default_rng(SEED)
    chosen = formats or tuple(FORMATS)
    originals: dict[str, bytes] = {}

    # 1. every format: the valid file, cut at several offsets, bits flipped in the header and in the data
    for n, fmt in enumerate(chosen):
        suffix, make = FORMATS[fmt]
        data = make(100 + n)
        originals[fmt] = data
        corpus.add(f"{fmt}-valid{suffix}", data, "damaged", "indexed")
        for spec in TRUNCATE_AT:
            cut = _offset(spec, len(data))
            label = str(spec).replace("/", "of")
            corpus.add(f"{fmt}-cut{label}-at{cut}{suffix}", data[:cut], "damaged", "either")
        header = min(64, len(data) // 4)
        for k in range(FLIPS_PER_REGION):
            corpus.add(f"{fmt}-flip-head{k}{suffix}", _flip(data, rng, 0, header), "damaged", "either")
            corpus.add(
                f"{fmt}-flip-data{k}{suffix}", _flip(data, rng, header, len(data)), "damaged", "either"
            )

    # 2. zero-byte files under every media name
    for suffix in (".png", ".jpg", ".gif", ".webp", ".bmp", ".tif", ".avif", ".mp4", ".webm", ".mkv"):
        corpus.add(f"empty{suffix}", b"", "empty", "failed", reason="empty")

    # 3. decompression bombs: by pixels, by frame count, by metadata
    corpus.add("png-50k-x-50k.png", png_pixel_bomb(50_000, 50_000), "bombs", "failed", reason="too-large")
    corpus.add("png-8k-x-6k.png", png_pixel_bomb(8_000, 6_000), "bombs", "failed", reason="too-large")
    corpus.add("gif-screen-65535.gif", gif_screen_bomb(), "bombs", "failed", reason="too-large")
    big_png_header = b"\x89PNG\r\n\x1a\n" + _png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", 2**31 - 1, 2**31 - 1, 8, 2, 0, 0, 0)
    )
    corpus.add("png-header-2g-x-2g.png", big_png_header + _png_chunk(b"IEND", b""), "bombs", "failed")
    webp_canvas = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (16383).to_bytes(3, "little") * 2
    corpus.add(
        "webp-canvas-16k.webp",
        b"RIFF" + struct.pack("<I", 4 + len(webp_canvas)) + b"WEBP" + webp_canvas,
        "bombs",
        "failed",
    )
    jpeg = originals.get("jpeg") or _save(picture(902), "JPEG")
    sof = jpeg.find(b"\xff\xc0")
    if sof > 0:
        huge = jpeg[: sof + 5] + struct.pack(">HH", 65000, 65000) + jpeg[sof + 9 :]
        corpus.add("jpeg-sof-65000.jpg", huge, "bombs", "failed", reason="too-large")
    bmp = bytearray(_save(picture(903), "BMP"))
    bmp[18:26] = struct.pack("<ii", 60_000, 60_000)
    corpus.add("bmp-60000.bmp", bytes(bmp), "bombs", "failed")
    corpus.add("tiff-strip-tables.tif", tiff_strip_bomb(), "bombs", "failed")
    corpus.add("gif-3000-frames.gif", gif_frame_bomb(3000), "bombs", "either", note="frame count")
    corpus.add("gif-20000-frames.gif", gif_frame_bomb(20_000), "bombs", "either", note="frame count")
    corpus.add(
        "gif-200-frames-of-4mp.gif", gif_area_bomb(2000, 200), "bombs", "either", note="frames x pixels"
    )
    apng = bytearray(originals.get("apng") or FORMATS["apng"][1](904))
    actl = apng.find(b"acTL")
    if actl > 0:  # claims 2^31 - 1 frames, holds 3
        apng[actl + 4 : actl + 8] = struct.pack(">I", 2**31 - 1)
        crc = zlib.crc32(bytes(apng[actl : actl + 12]))
        apng[actl + 12 : actl + 16] = struct.pack(">I", crc)
        corpus.add("apng-claims-2g-frames.png", bytes(apng), "bombs", "either", note="frame count")
    icc = bytes(rng.integers(0, 256, 65_000, dtype=np.uint8))
    corpus.add(
        "jpeg-icc-12mb.jpg",
        jpeg_with_segments(0xE2, b"ICC_PROFILE\x00\x01\x01" + icc, 190),
        "bombs",
        "either",
    )
    exif = b"Exif\x00\x00" + exif_ifd_bomb()
    corpus.add("jpeg-exif-ifd-bomb.jpg", jpeg_with_segments(0xE1, exif[:65_000], 1), "bombs", "either")
    corpus.add("png-exif-ifd-bomb.png", png_with_chunk(b"eXIf", exif_ifd_bomb()), "bombs", "either")
    corpus.add(
        "png-ztxt-64mb.png",
        png_with_chunk(b"zTXt", b"bomb\x00\x00" + _zeros_deflated(64 << 20)[:-4]),
        "bombs",
        "either",
    )
    corpus.add(
        "png-iccp-bomb.png",
        png_with_chunk(b"iCCP", b"icc\x00\x00" + _zeros_deflated(256 << 20)),
        "bombs",
        "either",
    )
    corpus.add(
        "png-itxt-8mb.png",
        png_with_chunk(b"iTXt", b"big\x00\x00\x00\x00\x00" + b"A" * (8 << 20)),
        "bombs",
        "either",
    )

    # 4. polyglots and non-images with image names
    png = originals.get("png") or _save(picture(905), "PNG")
    zip_tail = _zip_bytes()
    corpus.add("png-then-zip.png", png + zip_tail, "polyglots", "indexed")
    corpus.add("jpeg-then-html.jpg", jpeg + b"<html><script>alert(1)</script></html>", "polyglots", "indexed")
    corpus.add("gif-js-polyglot.gif", b"GIF89a/*\x00\x00\x00\x00*/=alert(1)//;", "polyglots", "failed")
    corpus.add("png-magic-then-html.png", b"\x89PNG\r\n\x1a\n<html>hello</html>", "polyglots", "failed")
    corpus.add("jpeg-named-png.png", _save(picture(906), "JPEG"), "polyglots", "indexed")
    corpus.add("zip-named.jpg", zip_tail, "polyglots", "failed", reason="not-media")
    corpus.add(
        "pdf-named.png",
        b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        "polyglots",
        "failed",
        reason="not-media",
    )
    corpus.add(
        "html-named.gif",
        b"<!doctype html><img src=x onerror=alert(1)>",
        "polyglots",
        "failed",
        reason="not-media",
    )
    corpus.add(
        "svg-named.png",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
        "polyglots",
        "failed",
        reason="not-media",
    )
    corpus.add(
        "elf-named.webp", b"\x7fELF\x02\x01\x01" + b"\x00" * 57, "polyglots", "failed", reason="not-media"
    )
    corpus.add("script-named.jpg", b"#!/bin/sh\nrm -rf /\n", "polyglots", "failed", reason="not-media")
    corpus.add(
        "json-named.webp", json.dumps({"path": "x.png"}).encode(), "polyglots", "failed", reason="not-media"
    )
    corpus.add(
        "wav-named.webp",
        b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 24,
        "polyglots",
        "failed",
        reason="not-media",
    )
    corpus.add("random-named.png", bytes(rng.integers(0, 256, 4096, dtype=np.uint8)), "polyglots", "failed")
    corpus.add(
        "utf16-text.jpg", "not an image at all".encode("utf-16"), "polyglots", "failed", reason="not-media"
    )

    # 5. videos that are garbage after their header
    mp4 = originals.get("mp4") or _video(907)
    garbage = bytes(rng.integers(0, 256, 8192, dtype=np.uint8))
    corpus.add(
        "mp4-header-then-garbage.mp4", mp4[:32] + garbage, "video", "failed", reason="unreadable-video"
    )
    corpus.add("mp4-ftyp-only.mp4", mp4[:32], "video", "failed")
    corpus.add("mkv-magic-then-garbage.mkv", b"\x1a\x45\xdf\xa3" + garbage, "video", "failed")
    corpus.add("webm-magic-only.webm", b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", "video", "failed")
    ts = bytearray(garbage[: 188 * 8])
    for i in range(0, len(ts), 188):
        ts[i] = 0x47
    corpus.add("ts-sync-then-garbage.ts", bytes(ts), "video", "failed")
    corpus.add("avi-header-then-garbage.avi", b"RIFF\xff\xff\xff\x7fAVI LIST" + garbage, "video", "failed")
    corpus.add("flv-magic-then-garbage.flv", b"FLV\x01\x05\x00\x00\x00\x09" + garbage, "video", "failed")
    corpus.add("mov-moov-huge-size.mov", struct.pack(">I", 0xFFFFFFF0) + b"moov" + garbage, "video", "failed")
    corpus.add(
        "mp4-without-moov.mp4",
        mp4[: mp4.find(b"moov") - 4] if b"moov" in mp4 else mp4[:64],
        "video",
        "either",
    )

    # 6. special files: a FIFO, device links, symlink loops, a folder named like an image
    special = root / "special"
    special.mkdir(exist_ok=True)
    fifo = special / "pipe.png"
    os.mkfifo(fifo)
    corpus.cases.append(Case(str(fifo), "special", "failed", "not-media", "named pipe"))
    for name, target in (
        ("zero.jpg", "/dev/zero"),
        ("random.gif", "/dev/urandom"),
        ("null.png", "/dev/null"),
    ):
        os.symlink(target, special / name)
        corpus.cases.append(Case(str(special / name), "special", "failed", None, f"link to {target}"))
    os.symlink("loop-b.png", special / "loop-a.png")
    os.symlink("loop-a.png", special / "loop-b.png")
    os.symlink("self.webp", special / "self.webp")
    os.symlink("gone.png", special / "dangling.png")
    for name in ("loop-a.png", "loop-b.png", "self.webp", "dangling.png"):
        corpus.cases.append(Case(str(special / name), "special", "failed", None, "symlink loop / dangling"))
    os.symlink(".", special / "dir-loop")  # a folder link to itself: not followed, not listed as a file
    (special / "folder.png").mkdir()
    corpus.add("inside.png", _save(picture(908), "PNG"), "special/folder.png", "indexed")
    # given directly on the command line: a FIFO, a device, a list file that is a FIFO
    direct = root.parent / f"{root.name}-direct"
    direct.mkdir(exist_ok=True)
    os.mkfifo(direct / "pipe.jpg")
    os.symlink("/dev/zero", direct / "zero.png")
    corpus.extra_args += [str(direct / "pipe.jpg"), str(direct / "zero.png")]
    for name in ("pipe.jpg", "zero.png"):
        corpus.cases.append(Case(str(direct / name), "special", "failed", None, "given directly"))

    # 7. hostile file names (valid pictures: they must be indexed under their exact names)
    names: list[str | bytes] = [
        "line\nbreak.png",
        "tab\there.png",
        "carriage\rreturn.png",
        "\u202egnp.exe.png",  # right-to-left override: shows as 'png.exe.png' reversed
        "\u200bzero\u200dwidth\ufeff.png",
        "😂🔥 meme 🐸.png",
        "a" * 246 + ".png",  # 250 bytes
        "é" * 123 + ".jpg",  # 250 bytes of two-byte characters
        "-rf.png",
        "--help.png",
        "-.gif",
        "'single' quotes.png",
        '"double" quotes.png',
        "$(touch pwned) `x`.png",
        "back\\slash.png",
        "semi;colon|pipe&amp.png",
        "   .png",
        "name.with.many.dots.png",
        b"bad\xff\xfeutf8.png",
        b"latin1-\xe9t\xe9.png",
        b"\xc3\x28-invalid-sequence.jpg",
        "NUL-looking-\u2400.png",
        "ﾒﾓ-halfwidth-表情包.webp",
    ]
    for i, name in enumerate(names):
        suffix = (name if isinstance(name, str) else os.fsdecode(name)).rsplit(".", 1)[-1]
        fmt = {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "webp": "WEBP"}[suffix]
        corpus.add(name, _save(picture(1000 + i), fmt), "names", "indexed")
    dashed = root / "names" / "-rf.png"
    corpus.extra_args.append(str(dashed))  # also given directly (after --)
    return corpus


def _zip_bytes() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("payload.txt", "hello from inside a picture")
    return out.getvalue()


def build_good_set(root: Path, count: int = 8) -> list[Path]:
    """``count`` valid, distinct pictures (PNG and JPEG): the items indexed before the hostile run."""
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        fmt, suffix = ("PNG", ".png") if i % 2 == 0 else ("JPEG", ".jpg")
        path = root / f"good-{i}{suffix}"
        path.write_bytes(_save(picture(i, (64, 48)), fmt, **({"quality": 90} if fmt == "JPEG" else {})))
        paths.append(path)
    return paths
