"""Videos and animations -> timed captions -> SubRip (``.srt``) and JSON.

N frames evenly spaced over the clip are captioned; each caption spans its frame's share of the
duration: from the frame's time (the first from 0) to the next frame's time (the last to the end), so the
cues tile the clip without gaps or overlaps. Consecutive identical captions merge into one cue. Times
are rounded to whole milliseconds once, so a cue ends exactly where the next begins. (The seed's cues
covered only the first half of each share, truncated the milliseconds and shifted when a frame failed.)

Written files, for a clip ``clip.mp4``::

    clip.srt    1\\n00:00:00,000 --> 00:00:02,500\\ngrinning face\\n\\n2\\n...
    clip.json   [{"start": "00:00:00,000", "end": "00:00:02,500", "lang": "en", "text": "grinning face"}, ...]

Example::

    >>> cues = build_cues([0.0, 1.0, 2.0], ["a cat", "a cat", "a dog"], duration=3.0, lang="en")
    >>> [(c.start_ms, c.end_ms, c.text) for c in cues]
    [(0, 2000, 'a cat'), (2000, 3000, 'a dog')]
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from memesearch.caption.captioner import Captioner
    from memesearch.caption.decoding import DecodeConfig

#: Seconds a frame shows when neither frame times nor a duration are known (browsers show GIF frames
#: without a delay for 0.1 s).
DEFAULT_FRAME_S = 0.1


@dataclass(frozen=True)
class Cue:
    """One subtitle: ``[start_ms, end_ms)`` in whole milliseconds, the caption and its language."""

    start_ms: int
    end_ms: int
    text: str
    lang: str

    def to_dict(self) -> dict[str, str]:
        """The JSON entry: ``{"start", "end", "lang", "text"}`` with SubRip time stamps."""
        return {
            "start": format_timestamp(self.start_ms),
            "end": format_timestamp(self.end_ms),
            "lang": self.lang,
            "text": self.text,
        }


def format_timestamp(ms: int) -> str:
    """Milliseconds -> SubRip ``HH:MM:SS,mmm``.

    >>> format_timestamp(3_723_004)
    '01:02:03,004'
    """
    if ms < 0:
        raise ValueError(f"a time stamp cannot be negative, got {ms} ms")
    hours, rest = divmod(int(ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d},{millis:03d}"


def frame_spans(
    count: int, times: Sequence[float] | None = None, duration: float | None = None
) -> list[tuple[int, int]]:
    """``[start_ms, end_ms)`` of each of ``count`` frames (module docstring).

    ``times``: when each frame shows (seconds); without them the frames are taken as evenly spaced over
    ``duration``. ``duration``: the clip's length; unknown (or not after the last frame), the last frame
    gets the mean spacing of the others (or :data:`DEFAULT_FRAME_S`).
    """
    if count < 1:
        return []
    if times is None or len(times) != count or any(not math.isfinite(t) for t in times):
        step = duration / count if duration and duration > 0 else DEFAULT_FRAME_S
        times = [i * step for i in range(count)]
    starts = [0.0, *(max(0.0, float(t)) for t in times[1:])]
    for i in range(1, count):  # never go back in time (a bad pts)
        starts[i] = max(starts[i], starts[i - 1])
    if duration is None or not math.isfinite(duration) or duration <= starts[-1]:
        spacing = starts[-1] / (count - 1) if count > 1 and starts[-1] > 0 else DEFAULT_FRAME_S
        duration = starts[-1] + spacing
    bounds = [round(s * 1000) for s in starts] + [round(duration * 1000)]
    return [(bounds[i], max(bounds[i], bounds[i + 1])) for i in range(count)]


def build_cues(
    times: Sequence[float] | None, texts: Sequence[str], *, duration: float | None, lang: str
) -> list[Cue]:
    """Cues of frame captions ``texts`` (one per frame, in time order), identical neighbours merged and
    empty spans dropped."""
    cues: list[Cue] = []
    for (start, end), text in zip(frame_spans(len(texts), times, duration), texts, strict=True):
        if cues and cues[-1].text == text:
            cues[-1] = Cue(cues[-1].start_ms, end, text, lang)
        elif end > start:
            cues.append(Cue(start, end, text, lang))
    return cues


def to_srt(cues: Sequence[Cue]) -> str:
    """SubRip text: numbered blocks of ``start --> end`` and the caption, separated by blank lines."""
    blocks = [
        f"{i}\n{format_timestamp(c.start_ms)} --> {format_timestamp(c.end_ms)}\n{c.text}\n"
        for i, c in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def write_subtitles(cues: Sequence[Cue], out_dir: str | Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.srt`` and ``<stem>.json`` into ``out_dir`` (created); returns both paths."""
    from memesearch.utils.io import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    srt, data = out / f"{stem}.srt", out / f"{stem}.json"
    atomic_write_text(srt, to_srt(cues))
    atomic_write_text(data, json.dumps([c.to_dict() for c in cues], ensure_ascii=False, indent=2) + "\n")
    return srt, data


def caption_clip(
    captioner: Captioner,
    frames: Sequence[Image.Image],
    times: Sequence[float] | None,
    duration: float | None,
    decode: DecodeConfig | None = None,
) -> list[Cue]:
    """Caption each frame of a clip (one batch) and turn the captions into cues."""
    from memesearch.caption.decoding import DecodeConfig

    decode = decode or DecodeConfig()
    captions = captioner.caption(list(frames), decode)
    lang = decode.lang or captioner.languages[0]
    return build_cues(times, [c[0].text for c in captions], duration=duration, lang=lang)


def cues_from_json(entries: Sequence[dict[str, Any]]) -> list[Cue]:
    """Inverse of ``[c.to_dict() for c in cues]`` (reads the JSON file back)."""

    def ms(stamp: str) -> int:
        clock, millis = stamp.split(",")
        h, m, s = (int(x) for x in clock.split(":"))
        return ((h * 60 + m) * 60 + s) * 1000 + int(millis)

    return [Cue(ms(e["start"]), ms(e["end"]), str(e["text"]), str(e["lang"])) for e in entries]
