"""Drawing one short-video cover with Pillow: a scene, then (maybe) the cover text.

A :class:`CoverJob` holds every decision the assembly took (scene, emoji, text, font, layout, style,
size) and a seed for the rest (colours, positions, noise), so the same job gives the same bytes in any
process and order; :func:`render_cover` is top level so the pooled image writer
(:func:`memesearch.data.emoji.images.run_image_jobs`) can run it.

Scene: a ``flat`` colour field, a ``gradient`` (vertical, horizontal or diagonal) or coarse colour
``noise``, then an emoji composite: the topic's emoji large (and, on some covers, one or two smaller
copies), maybe a small emoji of another topic (a distractor), and the genre's icon in a top corner.
Text layouts: ``top``, ``bottom``, ``centre``, ``top-left``, ``bottom-left`` and ``banner`` (a dark band
across the bottom). Text styles: ``outline`` (white, black outline), ``yellow`` (yellow, black outline:
the Chinese variety-show look) and ``band`` (white on a dark box behind each line).
"""

from __future__ import annotations

import colorsys
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BACKGROUNDS: tuple[str, ...] = ("flat", "gradient", "noise")
LAYOUTS: tuple[str, ...] = ("top", "bottom", "centre", "top-left", "bottom-left", "banner")
TEXT_STYLES: tuple[str, ...] = ("outline", "yellow", "band")


@dataclass(frozen=True, slots=True)
class CoverJob:
    """One cover to draw; ``target`` is relative to the dataset folder, emoji paths absolute.

    ``lines`` is empty for a cover without text (then the font, layout and style are unused).
    """

    target: str
    width: int
    height: int
    seed: int
    background: str
    emoji: str
    copies: int = 1
    distractor: str | None = None
    icon: str | None = None
    lines: tuple[str, ...] = ()
    font: str | None = None
    font_index: int = 0
    layout: str = "bottom"
    text_style: str = "outline"
    text_scale: float = 0.14
    quality: int = 90


def _colour(rng: random.Random, lo: float = 0.2, hi: float = 0.85) -> tuple[int, int, int]:
    r, g, b = colorsys.hls_to_rgb(rng.random(), rng.uniform(lo, hi), rng.uniform(0.25, 0.9))
    return (round(r * 255), round(g * 255), round(b * 255))


def _scene(job: CoverJob, rng: random.Random) -> Any:
    import numpy as np
    from PIL import Image

    w, h = job.width, job.height
    if job.background == "flat":
        return Image.new("RGB", (w, h), _colour(rng))
    if job.background == "gradient":
        a = np.array(_colour(rng), dtype=np.float32)
        b = np.array(_colour(rng), dtype=np.float32)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        t = rng.choice((ys / max(1, h - 1), xs / max(1, w - 1), (xs + ys) / max(1, w + h - 2)))
        return Image.fromarray((a + (b - a) * t[..., None]).round().astype(np.uint8), "RGB")
    if job.background == "noise":
        cells = rng.choice((4, 6, 10, 16))
        noise = np.random.default_rng(job.seed).integers(0, 256, size=(cells, cells, 3), dtype=np.uint8)
        coarse = Image.fromarray(noise, "RGB").resize((w, h), Image.Resampling.BICUBIC)
        return Image.blend(Image.new("RGB", (w, h), _colour(rng)), coarse, 0.55)
    raise ValueError(f"{job.target}: unknown background {job.background!r}; choose from {BACKGROUNDS}")


def _paste(canvas: Any, source: str, side: int, xy: tuple[int, int]) -> None:
    from PIL import Image

    with Image.open(source) as src:
        emoji = src.convert("RGBA")  # twitter PNGs may be palette images
    canvas.alpha_composite(emoji.resize((side, side), Image.Resampling.LANCZOS), xy)


def _composite(image: Any, job: CoverJob, rng: random.Random) -> Any:
    w, h = job.width, job.height
    canvas = image.convert("RGBA")
    short = min(w, h)
    side = max(8, round(short * rng.uniform(0.45, 0.7)))
    x = round((w - side) * rng.uniform(0.2, 0.8))
    y = round((h - side) * rng.uniform(0.3, 0.7))
    for _ in range(job.copies - 1):  # smaller copies first, the main emoji over them
        s = max(8, round(side * rng.uniform(0.35, 0.55)))
        _paste(canvas, job.emoji, s, (rng.randint(0, max(0, w - s)), rng.randint(0, max(0, h - s))))
    _paste(canvas, job.emoji, side, (x, y))
    if job.distractor is not None:
        s = max(8, round(short * rng.uniform(0.18, 0.28)))
        corner_x = rng.choice((0.03, 0.97))
        _paste(canvas, job.distractor, s, (round((w - s) * corner_x), round((h - s) * rng.uniform(0.4, 0.9))))
    if job.icon is not None:
        s = max(8, round(short * 0.22))
        left = rng.random() < 0.5
        _paste(canvas, job.icon, s, (round(w * 0.03) if left else w - s - round(w * 0.03), round(h * 0.04)))
    return canvas.convert("RGB")


def _font(job: CoverJob, size: int) -> Any:
    from PIL import ImageFont

    assert job.font is not None
    return ImageFont.truetype(job.font, size, index=job.font_index)


def _draw_text(image: Any, job: CoverJob, rng: random.Random) -> None:
    from PIL import ImageDraw

    if job.font is None:
        raise ValueError(f"{job.target}: text needs a font")
    draw = ImageDraw.Draw(image)
    w, h = image.size
    size = max(10, round(h * job.text_scale))
    while True:  # the largest size whose widest line fits 90% of the width
        font = _font(job, size)
        stroke = 0 if job.text_style == "band" else max(1, size // 10)
        widest = max(draw.textbbox((0, 0), ln, font=font, stroke_width=stroke)[2] for ln in job.lines)
        if widest <= w * 0.9 or size <= 10:
            break
        size -= 1
    line_h = font.getbbox("Hg国")[3] + 2 * stroke
    gap = max(2, line_h // 6)
    margin = max(3, round(h * 0.05))
    block = len(job.lines) * line_h + (len(job.lines) - 1) * gap
    layout = job.layout
    top = {"top": margin, "top-left": margin, "centre": (h - block) // 2}.get(layout, h - margin - block)
    left = layout in ("top-left", "bottom-left")
    x, anchor = (round(w * 0.05), "la") if left else (w // 2, "ma")
    if layout == "banner":
        dark = tuple(rng.randint(0, 60) for _ in range(3))
        draw.rectangle((0, top - gap, w, h), fill=dark)
    fill = (255, 221, 0) if job.text_style == "yellow" else (255, 255, 255)
    for i, line in enumerate(job.lines):
        y = top + i * (line_h + gap)
        if job.text_style == "band" and layout != "banner":
            x0, _, x1, _ = draw.textbbox((x, y), line, font=font, anchor=anchor)
            draw.rectangle((x0 - gap, y - gap // 2, x1 + gap, y + line_h), fill=(20, 20, 20))
        draw.text(
            (x, y), line, font=font, fill=fill, anchor=anchor, stroke_width=stroke, stroke_fill=(0, 0, 0)
        )


def draw_cover(job: CoverJob) -> Any:
    """The cover of ``job`` as a PIL RGB image (nothing written)."""
    rng = random.Random(job.seed)
    image = _composite(_scene(job, rng), job, rng)
    if job.lines:
        _draw_text(image, job, rng)
    return image


def render_cover(job: CoverJob, root: str) -> None:
    """Draw ``job`` and write it as JPEG under ``root`` (a process-pool worker; top level so it pickles)."""
    target = Path(root) / job.target
    target.parent.mkdir(parents=True, exist_ok=True)
    draw_cover(job).save(target, format="JPEG", quality=job.quality)
