"""Recognise images, GIFs and videos by their content (magic bytes), not by their file name.

A PNG named ``.jpg`` is an image; a text file named ``.png`` is not media. Animated GIF, animated
WebP, animated PNG (APNG) and AVIF/HEIF image sequences count as ``"gif"`` (an animation that is shown
like a sticker); every other still image is ``"image"``; MP4/MOV/3GP (ISO base media ``ftyp``, or a
QuickTime file starting with ``moov``/``mdat``/``wide``), WebM/MKV (EBML), AVI, FLV, ASF/WMV,
MPEG-TS/M2TS and MPEG-PS streams are ``"video"``.

Example::

    >>> detect_media("memes/cat.jpg")         # doctest: +SKIP
    'image'
    >>> [(p.name, kind) for p, kind in scan_media("memes")]   # doctest: +SKIP
    [('cat.jpg', 'image'), ('dance.webp', 'gif'), ('clip.mp4', 'video')]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from memesearch.data.records import MediaType
from memesearch.utils.io import open_regular

logger = logging.getLogger(__name__)

# File name endings that promise media; a file with one of these whose content is not media is
# suspicious (reported), while other non-media files (README.txt, .json sidecars) are simply not items.
MEDIA_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".webp", ".bmp", ".dib", ".tif",
        ".tiff", ".avif", ".heic", ".heif",
        ".mp4", ".m4v", ".mov", ".qt", ".3gp", ".3g2", ".webm", ".mkv", ".avi", ".flv", ".wmv", ".asf",
        ".ts", ".m2ts", ".mts", ".mpg", ".mpeg", ".vob",
    }
)  # fmt: skip

_HEAD_BYTES = 1024
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}
# ISO base media major brands: still images, image sequences (animations), audio only (not media here)
_STILL_BRANDS = {b"avif", b"heic", b"heix", b"heim", b"heis", b"mif1", b"mif2"}
_SEQUENCE_BRANDS = {b"avis", b"msf1", b"hevc", b"hevx"}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"pnot"}
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


def detect_media(path: str | os.PathLike[str]) -> MediaType | None:
    """The media type of a file from its content: ``"image"``, ``"gif"``, ``"video"`` or ``None``.

    ``None`` means the content is not a recognised image or video (text, audio, archives, truncated
    headers). Raises :class:`OSError` when the file cannot be read (missing, a folder, no permission, a
    named pipe or device: those are refused without reading, a pipe would block).
    """
    with open_regular(path) as fh:
        return detect_media_stream(fh)


def detect_media_stream(fh: BinaryIO) -> MediaType | None:
    """:func:`detect_media` on an open, seekable binary file (read from its start)."""
    fh.seek(0)
    head = fh.read(_HEAD_BYTES)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "gif" if _png_is_animated(fh) else "image"
    if head.startswith(b"\xff\xd8\xff"):
        return "image"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif" if _gif_frame_count(fh, stop_at=2) >= 2 else "image"
    if head.startswith(b"RIFF") and len(head) >= 12:
        if head[8:12] == b"WEBP":
            return "gif" if _webp_is_animated(head) else "image"
        if head[8:12] == b"AVI ":
            return "video"
        return None  # WAV and other RIFF files
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image"
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "image"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _STILL_BRANDS:
            return "image"
        if brand in _SEQUENCE_BRANDS:
            return "gif"
        if brand in _AUDIO_BRANDS:
            return None
        return "video"
    if len(head) >= 8 and head[4:8] in _QUICKTIME_ATOMS and int.from_bytes(head[:4], "big") >= 8:
        return "video"
    if head.startswith(
        (b"\x1a\x45\xdf\xa3", b"FLV\x01", _ASF_GUID, b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")
    ):
        return "video"  # Matroska/WebM, FLV, ASF/WMV, MPEG program stream, MPEG-1/2 video
    if _is_transport_stream(head):
        return "video"
    return None


def _is_transport_stream(head: bytes) -> bool:
    """MPEG-TS (188-byte packets) or M2TS (192-byte packets, 4-byte timestamp first): two sync bytes."""
    for offset, size in ((0, 188), (4, 192)):
        if len(head) > offset + size and head[offset] == 0x47 and head[offset + size] == 0x47:
            return True
    return False


def _png_is_animated(fh: BinaryIO) -> bool:
    """APNG: an ``acTL`` chunk announcing more than one frame before the first ``IDAT``."""
    fh.seek(8)
    while True:
        header = fh.read(8)
        if len(header) < 8:
            return False
        length = int.from_bytes(header[:4], "big")
        kind = header[4:8]
        if kind == b"acTL":
            data = fh.read(4)
            return len(data) == 4 and int.from_bytes(data, "big") > 1
        if kind in (b"IDAT", b"IEND"):
            return False
        fh.seek(length + 4, os.SEEK_CUR)  # chunk data + CRC


def _gif_frame_count(fh: BinaryIO, stop_at: int) -> int:
    """Number of image descriptors in a GIF, counting no further than ``stop_at`` (shapes: GIF89a spec)."""

    def skip_sub_blocks() -> None:
        while True:
            size = fh.read(1)
            if not size or size[0] == 0:
                return
            fh.seek(size[0], os.SEEK_CUR)

    fh.seek(6)
    screen = fh.read(7)  # logical screen descriptor: width, height, flags, background, aspect
    if len(screen) < 7:
        return 0
    if screen[4] & 0x80:  # global colour table: 3 * 2^(n+1) bytes
        fh.seek(3 * (2 ** ((screen[4] & 0x07) + 1)), os.SEEK_CUR)
    frames = 0
    while frames < stop_at:
        block = fh.read(1)
        if block == b"!":  # extension: label then data sub-blocks
            fh.read(1)
            skip_sub_blocks()
        elif block == b",":  # image descriptor: 9 bytes, optional local colour table, LZW data
            desc = fh.read(9)
            if len(desc) < 9:
                break
            frames += 1
            if desc[8] & 0x80:
                fh.seek(3 * (2 ** ((desc[8] & 0x07) + 1)), os.SEEK_CUR)
            fh.read(1)  # LZW minimum code size
            skip_sub_blocks()
        else:  # trailer ';', end of file or garbage
            break
    return frames


def _webp_is_animated(head: bytes) -> bool:
    """Extended WebP (``VP8X``) with the animation flag (bit 1 of the flags byte)."""
    return len(head) >= 21 and head[12:16] == b"VP8X" and bool(head[20] & 0x02)


def iter_files(root: str | os.PathLike[str], *, recursive: bool = True) -> Iterator[Path]:
    """Regular files under ``root`` in a stable (sorted) order, skipping hidden files and folders.

    Symbolic links to files are followed; links to folders are not (no cycles).
    """
    base = Path(root)
    if recursive:
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if not name.startswith(".") and path.is_file():
                    yield path
    else:
        for path in sorted(base.iterdir()):
            if not path.name.startswith(".") and path.is_file():
                yield path


def scan_media(root: str | os.PathLike[str], *, recursive: bool = True) -> Iterator[tuple[Path, MediaType]]:
    """Every image, GIF or video under ``root`` (recognised by content), with its media type.

    Files that are not media are left out; files that cannot be read are left out with a warning. Use
    :func:`memesearch.data.formats.read_dataset` with ``fmt="folder"`` to have suspicious files
    (a media name with other content) reported instead.
    """
    for path in iter_files(root, recursive=recursive):
        try:
            kind = detect_media(path)
        except OSError as exc:
            logger.warning("cannot read %s: %s", path, exc)
            continue
        if kind is not None:
            yield path, kind


_VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".qt", ".3gp", ".3g2", ".webm", ".mkv", ".avi", ".flv", ".wmv", ".asf", ".ts",
     ".m2ts", ".mts", ".mpg", ".mpeg", ".vob"}
)  # fmt: skip


def media_from_name(name: str) -> MediaType:
    """A guess from the file name alone, for files that are not (yet) on disk: ``.gif`` -> gif, video
    extensions -> video, anything else -> image."""
    suffix = Path(name).suffix.lower()
    if suffix == ".gif":
        return "gif"
    return "video" if suffix in _VIDEO_EXTENSIONS else "image"
