"""The content type a stored media file is served with: from its first bytes, never from a name that could
make a browser render HTML or SVG (``X-Content-Type-Options: nosniff`` keeps browsers to it)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

# Magic numbers of the formats the index accepts; the stored extension may be wrong (uploads keep the
# detected format, but indexed folders keep the user's file names).
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (8, b"WEBP", "image/webp"),
    (8, b"AVI ", "video/x-msvideo"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (4, b"ftypqt", "video/quicktime"),
    (4, b"ftyp", "video/mp4"),
)


def sniff_content_type(path: Path) -> str:
    """Content type of a media file from its first bytes, then its suffix, else octet-stream.

    A suffix only ever gives an ``image/*`` or ``video/*`` type, never SVG (it can hold scripts), so an
    indexed file named ``x.html`` or ``x.svg`` is served as ``application/octet-stream``.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError:
        head = b""
    for offset, magic, ctype in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return ctype
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed and guessed.startswith(("image/", "video/")) and "svg" not in guessed:
        return guessed
    return "application/octet-stream"
