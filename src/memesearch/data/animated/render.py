"""Drawing and writing one animation: two or three emoji shown in turn, maybe a caption in a later frame.

An :class:`AnimationJob` names everything an animation depends on (seed, size, container format, frame
time, the emoji in the order they show, the caption and its language); :func:`draw_frames` draws the
frames and :func:`render_animation` writes them. Every random choice comes from
``random.Random(job.seed)``, so the same job gives the same pixels in any process.

Each emoji shows for ``frames_per_concept`` frames, bobbing a little (position and size change from frame
to frame, so no two frames are identical and no encoder merges them) on one light background colour. The
caption, when there is one, is drawn only on the frames of the *last* emoji: black text on a white strip at
the bottom (DejaVu Sans Bold for en, WenQuanYi Micro Hei for zh: the fonts of the memes benchmark), wrapped
to at most two lines and shrunk until it fits.
"""

from __future__ import annotations

import colorsys
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from memesearch.data.memes.fonts import font_path

#: Pillow's save format and file name ending per container.
_SAVE: dict[str, tuple[str, str]] = {
    "gif": ("GIF", ".gif"),
    "webp": ("WEBP", ".webp"),
    "png": ("PNG", ".png"),
}
#: The caption strip's share of the side.
STRIP = 0.3


@dataclass(frozen=True, slots=True)
class AnimationJob:
    """One animation to draw and write to ``target`` (relative to the dataset folder); ``emoji`` holds
    ``(concept key, source PNG path)`` in the order they show."""

    target: str
    seed: int
    size: int
    fmt: str
    frame_ms: int
    frames_per_concept: int
    emoji: tuple[tuple[str, str], ...]
    text: str | None = None
    text_lang: str | None = None


def extension(fmt: str) -> str:
    """The file name ending of a container (``gif`` -> ``.gif``; APNG is written as ``.png``)."""
    return _SAVE[fmt][1]


def _background(rng: random.Random) -> tuple[int, int, int]:
    r, g, b = colorsys.hls_to_rgb(rng.random(), rng.uniform(0.86, 0.95), rng.uniform(0.3, 0.7))
    return (round(r * 255), round(g * 255), round(b * 255))


def _font(lang: str, size: int) -> Any:
    return ImageFont.truetype(str(font_path(lang)), size)


def _wrap(text: str, lang: str, font: Any, width: int, draw: ImageDraw.ImageDraw) -> list[str] | None:
    """``text`` in at most two lines no wider than ``width`` (None when it does not fit)."""
    units = list(text) if lang == "zh" else text.split()
    sep = "" if lang == "zh" else " "
    lines: list[str] = []
    current = ""
    for unit in units:
        trial = unit if not current else current + sep + unit
        if draw.textlength(trial, font=font) <= width:
            current = trial
            continue
        if not current:
            return None  # one word wider than the strip
        lines.append(current)
        current = unit
    if current:
        lines.append(current)
    return lines if len(lines) <= 2 and all(draw.textlength(ln, font=font) <= width for ln in lines) else None


def _caption(frame: Image.Image, text: str, lang: str) -> None:
    """Draw ``text`` on a white strip at the bottom of ``frame``, as large as fits (in place)."""
    w, h = frame.size
    strip = round(h * STRIP)
    draw = ImageDraw.Draw(frame)
    draw.rectangle((0, h - strip, w, h), fill=(255, 255, 255))
    for px in range(max(10, strip // 2), 9, -1):
        font = _font(lang, px)
        lines = _wrap(text, lang, font, w - 8, draw)
        if lines is None:
            continue
        block = "\n".join(lines)
        box = draw.multiline_textbbox((0, 0), block, font=font, align="center", spacing=2)
        if box[3] - box[1] > strip - 4:
            continue
        x = (w - (box[2] - box[0])) // 2 - box[0]
        y = h - strip + (strip - (box[3] - box[1])) // 2 - box[1]
        draw.multiline_text((x, y), block, fill=(0, 0, 0), font=font, align="center", spacing=2)
        return
    # no size fits: the text is left out of the picture (the item's meta records what was drawn)
    raise ValueError(f"caption {text!r} does not fit a {w}-px strip")


def fits(text: str, lang: str, size: int) -> bool:
    """Whether :func:`_caption` can draw ``text`` on a ``size``-px animation."""
    try:
        _caption(Image.new("RGB", (size, size)), text, lang)
    except ValueError:
        return False
    return True


def draw_frames(job: AnimationJob) -> list[Image.Image]:
    """The frames of ``job`` (RGB), emoji after emoji, the caption on the last emoji's frames."""
    rng = random.Random(job.seed)
    background = _background(rng)
    side = job.size
    frames: list[Image.Image] = []
    for n, (_, source) in enumerate(job.emoji):
        with Image.open(source) as im:
            emoji = im.convert("RGBA")
        last = n == len(job.emoji) - 1
        captioned = last and job.text is not None
        area = round(side * (1 - STRIP)) if captioned else side
        for f in range(job.frames_per_concept):
            frame = Image.new("RGB", (side, side), background)
            scale = (0.74 if f % 2 == 0 else 0.66) + rng.uniform(-0.03, 0.03)
            e = max(8, round(area * scale))
            pic = emoji.resize((e, e), Image.Resampling.LANCZOS)
            dx = rng.randint(-side // 20, side // 20)
            dy = rng.randint(-area // 20, area // 20)
            x = min(max(0, (side - e) // 2 + dx), side - e)
            y = min(max(0, (area - e) // 2 + dy), area - e)
            frame.paste(pic, (x, y), pic)
            if captioned:
                assert job.text is not None and job.text_lang is not None
                _caption(frame, job.text, job.text_lang)
            frames.append(frame)
    return frames


def render_animation(job: AnimationJob, root: str | Path) -> int:
    """Draw ``job`` and write it under ``root``; returns the number of frames written."""
    frames = draw_frames(job)
    path = Path(root) / job.target
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = _SAVE[job.fmt][0]
    options: dict[str, Any] = {
        "save_all": True,
        "append_images": frames[1:],
        "duration": job.frame_ms,
        "loop": 0,
    }
    if job.fmt == "webp":
        options.update(lossless=True, method=4)
    if job.fmt == "gif":
        options.update(optimize=False)
    frames[0].save(path, fmt, **options)
    return len(frames)


__all__ = ["AnimationJob", "draw_frames", "extension", "fits", "render_animation"]
