"""The per-file work of ingest that runs in worker processes: decode, perceptual hash, OCR.

Everything here is a plain function of its arguments (picklable in and out), so it runs the same inline
(``workers=0``), in a process pool, or on another machine. The model forward pass is not here: it runs
batched in the parent process, where the encoder is loaded once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from memesearch.data.records import OCRLine
from memesearch.errors import MemesearchError
from memesearch.ingest.records import IngestFailure

logger = logging.getLogger(__name__)


@dataclass
class PrepareTask:
    """What a worker needs to prepare one file (``data`` for uploads held in memory)."""

    path: str
    sha256: str
    run_ocr: bool
    max_frames: int
    max_pixels: int
    frame_side: int
    ocr_min_score: float
    data: bytes | None = None


@dataclass
class Prepared:
    """A decoded file ready for the encoder: small frames, perceptual hash, OCR lines."""

    path: str
    sha256: str
    media: str
    format: str
    width: int
    height: int
    total_frames: int | None
    frames: list[Image.Image]
    phash: str
    ocr: list[OCRLine] | None = None
    extension_mismatch: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    frame_times: list[float] | None = None  # each frame's time (s) in an animation or video, if known


_OCR: dict[float, Any] = {}


def ocr_reader(min_score: float) -> Any:
    """One RapidOCR reader per process and threshold (1 thread: one reader per worker process)."""
    reader = _OCR.get(min_score)
    if reader is None:
        from memesearch.enrich.ocr import OCRReader

        threads = int(os.environ.get("MEMESEARCH_OCR_THREADS", "1"))
        reader = OCRReader(min_score=min_score, threads=threads)
        _OCR[min_score] = reader
    return reader


def ocr_version(min_score: float) -> str:
    """The cache version of an item's OCR lines: the reader's, and that every sampled frame is read
    (lines de-duplicated across frames, :mod:`memesearch.enrich.frame_text`); OCR cached when only the
    cover was read is read again."""
    return f"{ocr_reader(min_score).version};frames=sampled"


def prepare(task: PrepareTask) -> Prepared | IngestFailure:
    """Decode ``task.path`` (or ``task.data``), hash it perceptually and read its text when asked.

    Returns an :class:`IngestFailure` (never raises) for anything wrong with the file itself.
    """
    from memesearch.enrich.frame_text import read_frames
    from memesearch.enrich.hashing import phash, phash_hex
    from memesearch.enrich.media import MediaError, decode_media

    try:
        decoded = decode_media(
            task.data if task.data is not None else task.path,
            max_frames=task.max_frames,
            max_pixels=task.max_pixels,
            name=task.path,
        )
    except MediaError as exc:
        return IngestFailure(task.path, str(getattr(exc, "reason", "unreadable")), str(exc))
    except MemesearchError as exc:
        return IngestFailure(task.path, "unreadable", str(exc))
    except (OSError, ValueError, MemoryError) as exc:  # anything the decoders did not classify
        return IngestFailure(task.path, "unreadable", f"{task.path}: cannot decode the file ({exc})")
    except Exception as exc:  # a decoder library's own failure on one file must not end a run of thousands
        logger.warning("unexpected %s decoding %s", type(exc).__name__, task.path, exc_info=True)
        return IngestFailure(
            task.path, "unreadable", f"{task.path}: cannot decode the file ({type(exc).__name__}: {exc})"
        )
    cover = decoded.frames[0]
    lines: list[OCRLine] | None = None
    if task.run_ocr:
        try:
            lines = read_frames(ocr_reader(task.ocr_min_score), decoded.frames, decoded.frame_times)
        except MemesearchError:
            raise  # OCR missing entirely is a setup problem, not a file problem
        except Exception as exc:  # the OCR engine failing on one image must not stop the run
            logger.warning("OCR failed on %s: %s", task.path, exc)
            lines = None
    frames = [_shrink(f, task.frame_side) for f in decoded.frames]
    return Prepared(
        path=task.path,
        sha256=task.sha256,
        media=decoded.media,
        format=decoded.format,
        width=decoded.width,
        height=decoded.height,
        total_frames=decoded.total_frames,
        frames=frames,
        phash=phash_hex(phash(cover)),
        ocr=lines,
        extension_mismatch=bool(decoded.extension_mismatch),
        frame_times=None if decoded.frame_times is None else [float(t) for t in decoded.frame_times],
    )


def _shrink(image: Image.Image, side: int) -> Image.Image:
    """Downscale so the longest side is at most ``side`` (frames travel between processes)."""
    if max(image.size) <= side:
        return image
    out = image.copy()
    out.thumbnail((side, side), Image.Resampling.BICUBIC)
    return out
