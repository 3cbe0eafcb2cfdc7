"""Video decoding with PyAV (FFmpeg): the cover and evenly spaced frames, upright, as RGB images.

Called by :func:`memesearch.enrich.media.decode_media` for content it recognised as video; every FFmpeg
failure becomes a ``MediaError`` with reason ``unreadable-video`` through the caller's context.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Protocol

from PIL import Image

if TYPE_CHECKING:
    import av.container
    import av.video.frame
    import av.video.stream

logger = logging.getLogger(__name__)

# First token of FFmpeg's demuxer name -> our format name.
_DEMUXERS = {
    "matroska": "mkv",
    "asf": "wmv",
    "mpegts": "ts",
    "mpeg": "mpg",
    "mpegvideo": "mpg",
    "m4v": "mpg",
}
_MAX_BAD_PACKETS = 64  # corrupt packets skipped while looking for a decodable video frame


class VideoContext(Protocol):
    """What the decoder needs from its caller: the limits, a printable name, and how to fail."""

    @property
    def max_frames(self) -> int: ...

    @property
    def label(self) -> str: ...

    def error(self, reason: str, message: str, *, hint: str | None = None) -> Exception: ...

    def check_pixels(self, width: int, height: int, what: str) -> None: ...


@dataclass
class VideoFrames:
    """What :func:`read_video` found: the container format, the frames (cover first), the length, and each
    frame's time in seconds from the start of the stream."""

    format: str
    frames: list[Image.Image] = field(repr=False)
    total_frames: int | None
    duration_s: float | None
    times: list[float] = field(default_factory=list)


def _video_format(head: bytes, demuxer: str) -> str:
    token = demuxer.split(",")[0]
    if token == "mov":
        if len(head) >= 12 and head[4:8] == b"ftyp":
            brand = head[8:12]
            if brand == b"qt  ":
                return "mov"
            return "3gp" if brand.startswith(b"3g") else "mp4"
        return "mov"
    if token == "matroska":
        return "webm" if b"webm" in head[:64] else "mkv"
    return _DEMUXERS.get(token, token)


def read_video(fh: BinaryIO, head: bytes, ctx: VideoContext) -> VideoFrames:
    """Cover + evenly spaced frames with PyAV; any FFmpeg failure becomes 'unreadable-video'."""
    import av  # heavy: only when a video is decoded

    def unreadable(message: str) -> Exception:
        return ctx.error(
            "unreadable-video",
            message,
            hint="check that it plays in a video player; re-encode it (e.g. to H.264 MP4) if it does not",
        )

    try:
        # a Python file object (not the path): works for uploads and for any file name the OS accepts
        with av.open(fh, mode="r", buffer_size=1 << 18) as container:
            if not container.streams.video:
                raise unreadable("the file has no video stream")
            stream = container.streams.video[0]
            if stream.codec_context is None:
                raise unreadable("FFmpeg has no decoder for the video codec of this file")
            width, height = stream.codec_context.width, stream.codec_context.height
            if width and height:
                ctx.check_pixels(width, height, "the video frame")
            fmt = _video_format(head, container.format.name)
            total = int(stream.frames) if stream.frames else None
            duration = _video_duration(container, stream)
            frames, times = _video_frames(container, stream, duration, ctx)
            if not frames:
                raise unreadable("no frame of the video could be decoded")
    except (av.FFmpegError, OSError, ValueError, EOFError, IndexError, RuntimeError) as exc:
        raise unreadable(f"FFmpeg cannot read the video ({type(exc).__name__}: {exc})") from None
    cover = frames[0]
    if not (width and height):
        ctx.check_pixels(cover.width, cover.height, "the video frame")
    return VideoFrames(format=fmt, frames=frames, total_frames=total, duration_s=duration, times=times)


def _video_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    """Seconds from the stream's metadata, else the container's; ``None`` when neither says."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        import av

        return float(container.duration) / av.time_base
    return None


def _video_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    duration: float | None,
    ctx: VideoContext,
) -> tuple[list[Image.Image], list[float]]:
    """The first decodable frame, then one frame at or after each of ``max_frames - 1`` evenly spaced
    times (seek to the keyframe before the time, decode forward to it); and each frame's time (s)."""
    import av

    first = next(_decoded(container, stream), None)
    if first is None:
        return [], []
    time_base = stream.time_base
    start = stream.start_time or 0

    def seconds(frame: av.video.frame.VideoFrame) -> float:
        return (
            max(0.0, float((frame.pts - start) * time_base)) if frame.pts is not None and time_base else 0.0
        )

    frames, times = [_frame_image(first)], [seconds(first)]
    if ctx.max_frames == 1 or not duration or time_base is None:
        return frames, times
    seen = {first.pts}
    for i in range(1, ctx.max_frames):
        target = start + int(i * duration / ctx.max_frames / time_base)  # in stream.time_base units
        try:
            container.seek(target, stream=stream, backward=True, any_frame=False)
            chosen = None
            for frame in _decoded(container, stream):
                chosen = frame
                if frame.pts is None or frame.pts >= target:
                    break
        except (av.FFmpegError, OSError, ValueError) as exc:
            # not seekable (no index) or damaged further on: the cover and the frames so far still count
            logger.info(
                "%s: stopped sampling video frames at %.2fs (%s)",
                ctx.label,
                float(target * time_base),
                exc,
            )
            break
        if chosen is None or chosen.pts in seen:
            continue  # the video is shorter than its metadata says, or frames are sparse
        seen.add(chosen.pts)
        frames.append(_frame_image(chosen))
        times.append(seconds(chosen))
    return frames, times


def _decoded(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[av.video.frame.VideoFrame]:
    """Video frames from the current position, skipping (a bounded number of) undecodable packets."""
    import av

    bad = 0
    for packet in container.demux(stream):
        try:
            decoded = packet.decode()
        except av.InvalidDataError:
            bad += 1
            if bad > _MAX_BAD_PACKETS:
                raise
            continue
        for frame in decoded:
            if isinstance(frame, av.VideoFrame):
                yield frame


def _frame_image(frame: av.video.frame.VideoFrame) -> Image.Image:
    """An upright RGB PIL image; the display-matrix rotation (phone videos) is applied."""
    image = frame.to_image()  # RGB, (H, W)
    rotation = getattr(frame, "rotation", 0) or 0
    turns = round(rotation / 90) % 4  # counter-clockwise quarter turns
    if turns:
        transpose = (None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)
        method = transpose[turns]
        assert method is not None
        image = image.transpose(method)
    return image
