"""Text over the sampled frames of an animation or a video: OCR on every frame, lines de-duplicated.

A sticker GIF often shows its caption only in a later frame ("...", then "我太难了"), so reading the cover
alone misses it. :func:`read_frames` reads each sampled frame with one
:class:`~memesearch.enrich.ocr.OCRReader` and keeps each distinct line once, where it first appears:
``frame`` (index among the sampled frames) and ``time_ms`` (that frame's time, when the file gives frame
times) are set on the kept :class:`~memesearch.data.records.OCRLine`. Lines are the same when their
:func:`normalise_line` forms are equal (Unicode NFKC, case folded, only letters and digits kept), so
"SO SLEEPY!" in frame 0 and "so sleepy" in frame 2 are one line. A frame whose pixels equal an earlier
frame's is not read again. The result keeps frame order, and reading order within a frame.

A still image (one frame) reads exactly as :meth:`OCRReader.read` does: ``frame`` and ``time_ms`` stay
None, so its stored lines do not change.

Example::

    >>> lines = read_frames(OCRReader(), decoded.frames, decoded.frame_times)   # doctest: +SKIP
    >>> [(ln.text, ln.time_ms) for ln in lines]                                  # doctest: +SKIP
    [('hello', 0), ('bye', 1200)]
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from PIL import Image

from memesearch.data.records import OCRLine


def normalise_line(text: str) -> str:
    """The form two OCR lines are compared in: NFKC, case folded, letters and digits only (the text
    itself when that leaves nothing, so a line of only symbols still compares with itself).

    >>> normalise_line("SO  Sleepy!"), normalise_line("so sleepy"), normalise_line("我 好困。")
    ('sosleepy', 'sosleepy', '我好困')
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")
    return kept or folded.strip()


def dedupe_lines(
    per_frame: Iterable[Sequence[OCRLine]], times: Sequence[float] | None = None
) -> list[OCRLine]:
    """Each distinct line (by :func:`normalise_line`) once, from the first frame that shows it, with that
    frame's index and time in ms (``times`` in seconds per frame, None = unknown). Frame order, then the
    reading order inside a frame."""
    seen: set[str] = set()
    out: list[OCRLine] = []
    for k, lines in enumerate(per_frame):
        time_ms = None if times is None or k >= len(times) else round(float(times[k]) * 1000)
        for line in lines:
            key = normalise_line(line.text)
            if not key or key in seen:
                continue
            seen.add(key)
            out.append(replace(line, frame=k, time_ms=time_ms))
    return out


def read_frames(
    reader: Any, frames: Sequence[Image.Image], times: Sequence[float] | None = None
) -> list[OCRLine]:
    """OCR lines of every frame in ``frames`` (``reader``: an :class:`~memesearch.enrich.ocr.OCRReader`),
    de-duplicated across frames (see the module docstring). One frame: the reader's lines unchanged."""
    if len(frames) <= 1:
        return list(reader.read(frames[0])) if frames else []
    per_frame: list[list[OCRLine]] = []
    read: set[bytes] = set()
    for frame in frames:
        digest = hashlib.blake2b(frame.tobytes(), digest_size=16).digest() + repr(frame.size).encode()
        if digest in read:
            per_frame.append([])  # the same pixels as an earlier frame: its lines are there already
            continue
        read.add(digest)
        per_frame.append(list(reader.read(frame)))
    return dedupe_lines(per_frame, times)


__all__ = ["dedupe_lines", "normalise_line", "read_frames"]
