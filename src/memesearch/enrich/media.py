"""Decode images, animations and videos into a few upright 8-bit RGB frames, refusing bad input clearly.

:func:`decode_media` is the single entry point the ingest pipeline, the HTTP upload and image queries use:

* the media type is decided by the **content** (magic bytes, see
  :func:`memesearch.data.formats.media.detect_media`), never by the file name. A PNG named
  ``.jpg`` is decoded as a PNG and flagged ``extension_mismatch``;
* still images (JPEG, PNG, WebP, BMP, TIFF, AVIF) give one frame; animations (GIF, animated WebP, APNG)
  give up to ``max_frames`` frames evenly spaced over the animation; videos (anything FFmpeg reads, via
  PyAV, :mod:`memesearch.enrich.video`) give the cover (first decodable frame) and up to
  ``max_frames - 1`` more, evenly spaced in time;
* every frame goes through :func:`memesearch.models.encoders.images.to_rgb`, so colour handling is the
  same as in the encoders: EXIF orientation applied, alpha composited onto white, CMYK / 16-bit converted;
* a frame larger than ``max_pixels`` (width x height, read from the header) is refused **before**
  any pixel is decoded, which defuses decompression bombs (a 50,000 x 50,000 PNG of a few hundred KB);
* an animation is decoded for at most :data:`ANIMATION_FRAME_LIMIT` frames and
  :data:`ANIMATION_PIXEL_BUDGET` pixels in all (a 768 KB GIF of 200 frames of 2000 x 2000 took 16 s to
  decode whole): past that, the kept frames are spaced over the part decoded and ``duration_s`` is
  ``None``, while ``total_frames`` still counts every frame;
* every failure is a :class:`MediaError` with a machine-readable ``reason`` and a message that names the
  file and says what was expected.

Example::

    >>> decoded = decode_media("memes/dance.gif", max_frames=4)     # doctest: +SKIP
    >>> decoded.media, decoded.total_frames, len(decoded.frames)
    ('gif', 24, 4)
    >>> thumb = make_thumbnail(decoded.frames[0], size=256)          # WebP bytes
"""

from __future__ import annotations

import functools
import io
import logging
import os
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NoReturn

from PIL import Image, UnidentifiedImageError

from memesearch.data.formats.media import MEDIA_EXTENSIONS, detect_media_stream
from memesearch.enrich.video import read_video
from memesearch.errors import MemesearchError, printable
from memesearch.models.encoders.images import to_rgb
from memesearch.utils.io import NotRegularFileError, open_regular

logger = logging.getLogger(__name__)

#: Largest frame (width x height) decoded by default: 40 MP covers 8K screenshots and long phone
#: screenshots (1440 x 27,000) while keeping one decoded RGB frame under ~120 MB.
DEFAULT_MAX_PIXELS = 40_000_000

#: Frames of one animation decoded at most (each frame is decoded in order: GIF/APNG frames build on the
#: previous one), and pixels decoded at most over all of them (~2 s at ~50 MP/s): frame-count bombs.
ANIMATION_FRAME_LIMIT = 10_000
ANIMATION_PIXEL_BUDGET = 100_000_000

#: Every value :attr:`MediaError.reason` can take.
MEDIA_ERROR_REASONS: frozenset[str] = frozenset(
    {"missing", "empty", "not-media", "truncated", "corrupt", "too-large", "unreadable-video", "unsupported"}
)

_EXPECTED = (
    "expected an image (JPEG, PNG, WebP, BMP, TIFF, AVIF), an animation (GIF, animated WebP, APNG) "
    "or a video (MP4, MOV, WebM, MKV, AVI, ...)"
)

# File name endings that belong to each decoded format (used for `extension_mismatch` only).
_FORMAT_EXTENSIONS: dict[str, frozenset[str]] = {
    "png": frozenset({".png", ".apng"}),
    "jpeg": frozenset({".jpg", ".jpeg", ".jpe", ".jfif"}),
    "gif": frozenset({".gif"}),
    "webp": frozenset({".webp"}),
    "bmp": frozenset({".bmp", ".dib"}),
    "tiff": frozenset({".tif", ".tiff"}),
    "avif": frozenset({".avif"}),
    "heif": frozenset({".heic", ".heif"}),
    "mp4": frozenset({".mp4", ".m4v", ".mov", ".qt", ".3gp", ".3g2"}),
    "mov": frozenset({".mp4", ".m4v", ".mov", ".qt", ".3gp", ".3g2"}),
    "3gp": frozenset({".mp4", ".m4v", ".mov", ".qt", ".3gp", ".3g2"}),
    "webm": frozenset({".webm", ".mkv"}),
    "mkv": frozenset({".webm", ".mkv"}),
    "avi": frozenset({".avi"}),
    "flv": frozenset({".flv"}),
    "wmv": frozenset({".wmv", ".asf"}),
    "ts": frozenset({".ts", ".m2ts", ".mts"}),
    "mpg": frozenset({".mpg", ".mpeg", ".vob", ".m2v"}),
}
# Canonical file name ending per format (to store uploads under `<sha256><extension>`).
_CANONICAL_EXTENSION: dict[str, str] = {
    "jpeg": ".jpg",
    "tiff": ".tif",
    "heif": ".heic",
}
# A suffix that looks like a file type ("meme v1.5" has suffix ".5", which says nothing).
_TYPE_SUFFIX = re.compile(r"^\.[a-z][a-z0-9]{1,4}$")
# PIL's format names that are variants of a family above.
_PIL_FORMATS = {"mpo": "jpeg", "apng": "png", "dib": "bmp"}
# What PIL's plugins and decoders raise on damaged data (seen by fuzzing PNG, JPEG, GIF, WebP, BMP, TIFF;
# the AVIF plugin raises RuntimeError, e.g. "Failed to decode frame 0: Decoding of color planes failed").
_PIL_DECODE_ERRORS = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error, zlib.error,
    RuntimeError,
)  # fmt: skip


class MediaError(MemesearchError):
    """A file or upload that cannot be decoded as an image, animation or video.

    ``reason`` is machine-readable (one of :data:`MEDIA_ERROR_REASONS`):

    ``missing``
        the file does not exist or cannot be opened (permissions);
    ``empty``
        zero bytes;
    ``not-media``
        the content is not a recognised image or video (text, archives, a folder, random bytes);
    ``truncated``
        the content ends before the image data does (an interrupted download or copy);
    ``corrupt``
        the header or the data is damaged;
    ``too-large``
        a frame has more than ``max_pixels`` pixels (decompression-bomb guard);
    ``unreadable-video``
        FFmpeg cannot open or decode the video;
    ``unsupported``
        a recognised format this installation cannot decode.

    ``path`` is the file path (``None`` for uploaded bytes); the message names the file (or the upload's
    name) and says what was expected.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        path: str | os.PathLike[str] | None = None,
        name: str | None = None,
        hint: str | None = None,
    ) -> None:
        if reason not in MEDIA_ERROR_REASONS:
            raise ValueError(f"unknown MediaError reason {reason!r}; valid: {sorted(MEDIA_ERROR_REASONS)}")
        self.reason = reason
        self.path = os.fspath(path) if path is not None else None
        self.name = name if name is not None else self.path
        self.message = message
        self.hint = hint
        text = f"{_printable(self.name)}: {message}" if self.name else message
        if hint:
            text += f" — {hint}"
        super().__init__(text)


@dataclass
class DecodedMedia:
    """Frames decoded from one image, animation or video.

    Attributes:
        media: ``image``, ``gif`` (any animation: GIF, animated WebP, APNG) or ``video``.
        format: the container found in the content: ``png``, ``jpeg``, ``gif``, ``webp``, ``bmp``,
            ``tiff``, ``avif``, ``mp4``, ``mov``, ``webm``, ``mkv``, ``avi``, ...
        width, height: size of the first frame after EXIF orientation.
        frames: 8-bit RGB upright images, alpha composited onto white; ``frames[0]`` is the cover
            (first frame of an animation, first decodable frame of a video).
        total_frames: frames in the file (1 for still images; ``None`` when a video does not say).
        duration_s: length of the animation or video in seconds (``None`` for still images or unknown).
        extension_mismatch: the file name ends in a type suffix other than the content's
            (a PNG named ``.jpg``); the content was decoded anyway.
        frame_times: when each frame shows, in seconds from the start (animations whose frames carry
            durations, and videos); ``None`` for still images or unknown.
    """

    media: str
    format: str
    width: int
    height: int
    frames: list[Image.Image] = field(repr=False)
    total_frames: int | None = 1
    duration_s: float | None = None
    extension_mismatch: bool = False
    frame_times: list[float] | None = None

    @property
    def extension(self) -> str:
        """Canonical file name ending for the content (``".png"``, ``".jpg"``, ``".mp4"``): use it to store
        an upload under a content-derived name instead of the client's file name."""
        return _CANONICAL_EXTENSION.get(self.format, "." + self.format)


def decode_media(
    source: str | os.PathLike[str] | bytes,
    *,
    max_frames: int = 4,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> DecodedMedia:
    """Decode an image, animation or video file (or its bytes) into up to ``max_frames`` RGB frames.

    Args:
        source: a path, or the raw bytes of an upload.
        max_frames: frames kept from animations and videos (evenly spaced; the first is always kept).
        max_pixels: the largest frame (width x height) accepted; checked from the header before decoding.
        name: the name shown in error messages and compared with the content for
            ``extension_mismatch`` (default: the path; ``"upload"`` for bytes). Only a label: nothing is
            opened or written under it.

    Raises:
        MediaError: with ``reason`` ``missing``, ``empty``, ``not-media``, ``truncated``, ``corrupt``,
            ``too-large``, ``unreadable-video`` or ``unsupported``.

    Example::

        >>> decode_media(Path("cat.png")).frames[0].mode           # doctest: +SKIP
        'RGB'
        >>> decode_media(upload_bytes, name="cat.jpg").media         # doctest: +SKIP
        'image'
    """
    if max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
    if isinstance(source, bytes | bytearray | memoryview):
        label = name or "upload"
        ctx = _Context(path=None, name=label, max_frames=max_frames, max_pixels=max_pixels)
        if len(source) == 0:
            raise ctx.error("empty", "the upload is empty (0 bytes)", hint=_EXPECTED)
        return _decode_stream(io.BytesIO(bytes(source)), ctx)
    if not isinstance(source, str | os.PathLike):
        raise TypeError(f"expected a path or bytes, got {type(source).__name__}")
    path = os.fspath(source)
    ctx = _Context(path=path, name=name or path, max_frames=max_frames, max_pixels=max_pixels)
    try:
        fh = open_regular(path)  # closed below; PIL reads lazily from it
    except FileNotFoundError:
        raise ctx.error("missing", "file not found", hint="check the path") from None
    except IsADirectoryError:
        raise ctx.error("not-media", "is a folder, not a file", hint=_EXPECTED) from None
    except NotRegularFileError:
        raise ctx.error(
            "not-media", "is a named pipe, a device or a socket, not a file", hint=_EXPECTED
        ) from None
    except OSError as exc:
        raise ctx.error("missing", f"cannot open the file ({exc.strerror or exc})") from None
    with fh:
        try:
            size = os.fstat(fh.fileno()).st_size
        except OSError:  # pragma: no cover - fstat on an open regular file does not fail in practice
            size = -1
        if size == 0:
            raise ctx.error("empty", "the file is empty (0 bytes)", hint=_EXPECTED)
        return _decode_stream(fh, ctx)


def make_thumbnail(image: Image.Image, size: int = 256, *, quality: int = 80) -> bytes:
    """A WebP thumbnail of ``image``: RGB, aspect ratio kept, longest side ``<= size``, never upscaled.

    Example::

        >>> data = make_thumbnail(Image.new("RGB", (1000, 500)), size=256)
        >>> Image.open(io.BytesIO(data)).size
        (256, 128)
    """
    if size < 1:
        raise ValueError(f"thumbnail size must be >= 1, got {size}")
    rgb = to_rgb(image)
    width, height = rgb.size
    longest = max(width, height)
    if longest > size:
        scale = size / longest
        new_size = (max(1, min(size, round(width * scale))), max(1, min(size, round(height * scale))))
        # reducing_gap: box-reduce by an integer factor first, then LANCZOS (fast, visually identical)
        rgb = rgb.resize(new_size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    rgb.save(out, "WEBP", quality=quality, method=4)
    return out.getvalue()


# --------------------------------------------------------------------------------------------- internals


@dataclass(frozen=True)
class _Context:
    """Where the content comes from and the limits, so every helper can raise a well-named error."""

    path: str | None
    name: str
    max_frames: int
    max_pixels: int

    def error(self, reason: str, message: str, *, hint: str | None = None) -> MediaError:
        return MediaError(reason, message, path=self.path, name=self.name, hint=hint)

    def check_pixels(self, width: int, height: int, what: str) -> None:
        if width * height > self.max_pixels:
            raise self.error(
                "too-large",
                f"{what} is {width} x {height} = {width * height:,} pixels, more than the limit of "
                f"{self.max_pixels:,} pixels per frame (decompression-bomb guard); nothing was decoded",
                hint="downscale the file, or raise max_pixels if it is genuine",
            )

    @property
    def label(self) -> str:
        """The name, safe to print on one line."""
        return _printable(self.name)

    def extension_mismatch(self, fmt: str) -> bool:
        suffix = Path(self.name).suffix.lower()
        if not _TYPE_SUFFIX.match(suffix):
            return False  # no suffix, or one that names no type ("v1.5")
        return suffix not in _FORMAT_EXTENSIONS.get(fmt, frozenset({"." + fmt}))


_printable = printable  # one home for the escaping of names in messages: memesearch.errors


def _decode_stream(fh: BinaryIO, ctx: _Context) -> DecodedMedia:
    """Dispatch on the content: images and animations to PIL, videos to PyAV."""
    fh.seek(0)
    head = fh.read(64)
    try:
        kind = detect_media_stream(fh)
    except OSError as exc:
        raise ctx.error("missing", f"cannot read the file ({exc})") from None
    fh.seek(0)
    if kind is None:
        suffix = Path(ctx.name).suffix.lower()
        claim = f"the name ends in {suffix} but " if suffix in MEDIA_EXTENSIONS else ""
        raise ctx.error(
            "not-media", f"{claim}the content is not an image or a video ({_describe(head)})", hint=_EXPECTED
        )
    if kind == "video":
        video = read_video(fh, head, ctx)
        return DecodedMedia(
            media="video",
            format=video.format,
            width=video.frames[0].width,
            height=video.frames[0].height,
            frames=video.frames,
            total_frames=video.total_frames,
            duration_s=video.duration_s,
            extension_mismatch=ctx.extension_mismatch(video.format),
            frame_times=video.times,
        )
    return _decode_image(fh, head, ctx)


def _describe(head: bytes) -> str:
    """A short description of unrecognised content for the error message."""
    sample = head[:16]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        return f"starts with bytes {sample.hex(' ')}"
    if text.isprintable() or all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return f"looks like text: {text!r}"
    return f"starts with bytes {sample.hex(' ')}"


def _image_format(head: bytes, pil_format: str | None) -> str:
    fmt = (pil_format or "").lower()
    fmt = _PIL_FORMATS.get(fmt, fmt)
    if not fmt and len(head) >= 12 and head[4:8] == b"ftyp":
        fmt = "avif" if head[8:12] in (b"avif", b"avis") else "heif"
    return fmt or "image"


def _decode_image(fh: BinaryIO, head: bytes, ctx: _Context) -> DecodedMedia:
    """Still images and animations with PIL: header first (size check), then the pixels."""
    try:
        image = Image.open(fh)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # PIL's own guard (its global MAX_IMAGE_PIXELS, 2x for the error) fired before ours could
        raise ctx.error(
            "too-large",
            f"the image is too large to decode safely ({exc})",
            hint="downscale the file",
        ) from None
    except UnidentifiedImageError:
        _raise_image_failure(fh, head, ctx, None)
    except _PIL_DECODE_ERRORS as exc:
        _raise_image_failure(fh, head, ctx, exc)
    fmt = _image_format(head, image.format)
    width, height = image.size
    ctx.check_pixels(width, height, "the image")
    mismatch = ctx.extension_mismatch(fmt)
    try:
        # only animation formats count frames (multi-page TIFF, MPO: the first page/picture is the image)
        animated = fmt in ("gif", "webp", "png", "avif") and bool(getattr(image, "is_animated", False))
        total = int(getattr(image, "n_frames", 1) or 1) if animated else 1
        if total > 1:
            frames, duration, times = _animation_frames(image, total, ctx)
            media = "gif"
        else:
            image.load()
            frames, total, duration, media, times = [to_rgb(image)], 1, None, "image", None
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # a later frame's size
        raise ctx.error("too-large", f"a frame is too large to decode safely ({exc})") from None
    except _PIL_DECODE_ERRORS as exc:
        _raise_image_failure(fh, head, ctx, exc)
    except MemesearchError as exc:  # to_rgb: a mode PIL cannot convert (e.g. LAB)
        raise ctx.error("unsupported", str(exc)) from None
    if mismatch:
        logger.info("%s: content is %s, the file name says otherwise", _printable(ctx.name), fmt)
    cover = frames[0]
    return DecodedMedia(
        media=media,
        format=fmt,
        width=cover.width,
        height=cover.height,
        frames=frames,
        total_frames=total,
        duration_s=duration,
        extension_mismatch=mismatch,
        frame_times=times,
    )


def _spaced(total: int, count: int) -> list[int]:
    """``count`` indices evenly spaced over ``range(total)``, starting at 0: 10 frames, 4 -> [0, 2, 5, 7]."""
    count = min(count, total)
    return sorted({i * total // count for i in range(count)})


def _animation_frames(
    image: Image.Image, total: int, ctx: _Context
) -> tuple[list[Image.Image], float | None, list[float] | None]:
    """Composited frames at evenly spaced indices, the summed frame durations and each kept frame's start
    (seconds; ``None`` when the frames carry no durations).

    GIF/APNG frames depend on the previous ones (disposal, blending), so PIL decodes each frame in
    order while seeking; the pass also collects every frame's duration.
    """
    area = max(1, image.width * image.height)
    scanned = min(total, ANIMATION_FRAME_LIMIT, max(1, ANIMATION_PIXEL_BUDGET // area))
    if scanned < total:
        what = f"{total} frames of {image.width} x {image.height}"
        logger.info("%s: %s; only the first %d are decoded", ctx.label, what, scanned)
    wanted = set(_spaced(scanned, ctx.max_frames))
    frames: list[Image.Image] = []
    starts_ms: list[float] = []
    duration_ms = 0.0
    has_duration = False
    for index in range(scanned):
        # a damaged later frame raises (EOFError, OSError): the file is reported, not half-indexed
        image.seek(index)
        if index:  # a GIF frame can grow the canvas
            ctx.check_pixels(image.width, image.height, f"frame {index}")
        image.load()  # WebP decodes lazily and sets the frame's duration only on load
        if index in wanted:
            starts_ms.append(duration_ms)
        value = image.info.get("duration")
        if isinstance(value, int | float):
            duration_ms += float(value)
            has_duration = True
        if index in wanted:
            frame = to_rgb(image)
            # to_rgb returns the live image when it is already RGB; the next seek would overwrite it
            frames.append(frame.copy() if frame is image else frame)
    if not has_duration:
        return frames, None, None
    if scanned < total:  # the length of the part not decoded is unknown
        return frames, None, [ms / 1000.0 for ms in starts_ms]
    return frames, duration_ms / 1000.0, [ms / 1000.0 for ms in starts_ms]


def _raise_image_failure(fh: BinaryIO, head: bytes, ctx: _Context, exc: BaseException | None) -> NoReturn:
    """Turn a PIL failure into 'truncated', 'corrupt' or 'unsupported' (never returns)."""
    detail = f" ({exc})" if exc is not None and str(exc) else ""
    if (exc is not None and "truncated" in str(exc).lower()) or _looks_truncated(fh, head):
        raise ctx.error(
            "truncated",
            f"the image data ends early{detail}",
            hint="the file was cut off (interrupted download or copy); fetch it again",
        ) from None
    if len(head) >= 12 and head[4:8] == b"ftyp" and not (head[8:12] in _AVIF_BRANDS and _avif_decoder()):
        raise ctx.error(
            "unsupported",
            f"AVIF/HEIF image that this installation cannot decode{detail}",
            hint="convert it to PNG or JPEG",
        ) from None
    raise ctx.error(
        "corrupt",
        f"the content starts like an image but cannot be decoded{detail}",
        hint="the header or the data is damaged; re-export or fetch the file again",
    ) from None


_AVIF_BRANDS = (b"avif", b"avis")


@functools.cache
def _avif_decoder() -> bool:
    """Whether this Pillow decodes AVIF: then a damaged AVIF is corrupt, not unsupported."""
    from PIL import features

    return bool(features.check("avif"))


def _looks_truncated(fh: BinaryIO, head: bytes) -> bool:
    """Structural check used only after a failure: is the format's end marker / declared size missing?"""
    try:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 32))
        tail = fh.read(32)
    except (OSError, ValueError):
        return False
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return b"IEND" not in tail
    if head.startswith(b"\xff\xd8\xff"):
        return b"\xff\xd9" not in tail
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return not tail.rstrip(b"\x00").endswith(b";")
    if head.startswith(b"RIFF") and len(head) >= 8:
        return size < int.from_bytes(head[4:8], "little") + 8
    if head[:2] == b"BM" and len(head) >= 6:
        return size < int.from_bytes(head[2:6], "little")
    return False


# ------------------------------------------------------------------------------------------------- video
