"""Drawing one meme image with Pillow: a background, then text like a meme or a sticker caption.

A :class:`RenderJob` holds every decision already taken by the assembly (background kind, emoji
picture, text lines, font, layout, text style, size) plus a seed for the colours and noise, so that the
same job gives the same bytes, in any process and any order. :func:`render_meme` is a top-level
function, so :func:`memesearch.data.emoji.images.run_image_jobs` can run it in a process pool.

Backgrounds: ``emoji`` (a 64-px emoji PNG from the npm packages, Lanczos-scaled, centred on a light
colour; a text-less sticker is the emoji alone on white), ``flat`` (one colour), ``gradient`` (two colours,
vertical, horizontal or diagonal) and ``noise`` (coarse colour noise smoothed by upsampling).
Text styles: ``outline`` (white letters with a black outline, the classic meme) and ``dark`` (dark letters,
on a light band unless the background is a light flat colour). Layouts: ``top``, ``bottom``, ``centre``
and, for two lines, ``top-bottom`` (first line at the top, second at the bottom).
"""

from __future__ import annotations

import colorsys
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BACKGROUNDS: tuple[str, ...] = ("emoji", "flat", "gradient", "noise")
TEXT_STYLES: tuple[str, ...] = ("outline", "dark")
LAYOUTS: tuple[str, ...] = ("top", "bottom", "centre", "top-bottom")


@dataclass(frozen=True, slots=True)
class RenderJob:
    """One image to draw; ``target`` is relative to the dataset folder, ``emoji_source`` absolute.

    ``lines`` is empty for a text-less sticker (then ``font``, ``layout`` and ``text_style`` are unused).
    """

    target: str
    width: int
    height: int
    seed: int
    background: str
    emoji_source: str | None = None
    lines: tuple[str, ...] = ()
    font: str | None = None
    layout: str = "centre"
    text_style: str = "outline"


def _colour(rng: random.Random, light: bool | None = None) -> tuple[int, int, int]:
    """A colour from hue, lightness and saturation drawn by ``rng`` (light, dark or any)."""
    hue = rng.random()
    if light is True:
        lightness = rng.uniform(0.78, 0.95)
    elif light is False:
        lightness = rng.uniform(0.15, 0.45)
    else:
        lightness = rng.uniform(0.2, 0.9)
    r, g, b = colorsys.hls_to_rgb(hue, lightness, rng.uniform(0.3, 0.9))
    return (round(r * 255), round(g * 255), round(b * 255))


def _background(job: RenderJob, rng: random.Random) -> tuple[Any, bool]:
    """The background image (RGB) and whether it is a light flat colour (dark text needs no band)."""
    import numpy as np
    from PIL import Image

    w, h = job.width, job.height
    if job.background == "emoji":
        if job.emoji_source is None:
            raise ValueError(f"{job.target}: an emoji background needs emoji_source")
        plain = not job.lines
        canvas = Image.new("RGBA", (w, h), (255, 255, 255, 255) if plain else (*_colour(rng, True), 255))
        with Image.open(job.emoji_source) as src:
            emoji = src.convert("RGBA")  # twitter PNGs may be palette images
        side = round(min(w, h) * (0.85 if plain else rng.uniform(0.55, 0.75)))
        emoji = emoji.resize((side, side), Image.Resampling.LANCZOS)
        canvas.alpha_composite(emoji, ((w - side) // 2, (h - side) // 2))
        return canvas.convert("RGB"), False
    if job.background == "flat":
        light = rng.random() < 0.5 if job.text_style == "outline" else True
        return Image.new("RGB", (w, h), _colour(rng, light)), light
    if job.background == "gradient":
        a = np.array(_colour(rng), dtype=np.float32)
        b = np.array(_colour(rng), dtype=np.float32)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        direction = rng.choice(("vertical", "horizontal", "diagonal"))
        if direction == "vertical":
            t = ys / max(1, h - 1)
        elif direction == "horizontal":
            t = xs / max(1, w - 1)
        else:
            t = (xs + ys) / max(1, w + h - 2)
        pixels = a + (b - a) * t[..., None]  # (H, W, 3)
        return Image.fromarray(pixels.round().astype(np.uint8), "RGB"), False
    if job.background == "noise":
        cells = rng.choice((4, 8, 16))
        noise = np.random.default_rng(job.seed).integers(0, 256, size=(cells, cells, 3), dtype=np.uint8)
        small = Image.fromarray(noise, "RGB")
        base = Image.new("RGB", (w, h), _colour(rng))
        return Image.blend(base, small.resize((w, h), Image.Resampling.BICUBIC), 0.6), False
    raise ValueError(f"{job.target}: unknown background {job.background!r}; choose from {BACKGROUNDS}")


def _fit_font(draw: Any, lines: tuple[str, ...], font_path: str, width: int, height: int) -> tuple[Any, int]:
    """The largest font (and its outline width) whose widest line fits 92% of the width."""
    from PIL import ImageFont

    size = max(10, round(height * (0.15 if len(lines) == 1 else 0.12)))
    while True:
        font = ImageFont.truetype(font_path, size)
        stroke = max(1, size // 12)
        widest = max(draw.textbbox((0, 0), line, font=font, stroke_width=stroke)[2] for line in lines)
        if widest <= width * 0.92 or size <= 10:
            return font, stroke
        size -= 2


def _draw_text(image: Any, job: RenderJob, light_flat: bool, rng: random.Random) -> None:
    from PIL import ImageDraw

    if job.font is None:
        raise ValueError(f"{job.target}: text needs a font")
    draw = ImageDraw.Draw(image)
    w, h = image.size
    font, stroke = _fit_font(draw, job.lines, job.font, w, h)
    line_h = font.getbbox("Hg国")[3] + 2 * stroke
    gap = max(2, line_h // 6)
    margin = max(4, h // 25)
    if job.layout == "top-bottom" and len(job.lines) == 2:
        placed = [(job.lines[0], margin), (job.lines[1], h - margin - line_h)]
    else:
        block = len(job.lines) * line_h + (len(job.lines) - 1) * gap
        top = {"top": margin, "bottom": h - margin - block}.get(job.layout, (h - block) // 2)
        placed = [(line, top + i * (line_h + gap)) for i, line in enumerate(job.lines)]
    if job.text_style == "outline":
        fill, outline, stroke_width = (255, 255, 255), (0, 0, 0), stroke
    else:
        fill, outline, stroke_width = _colour(rng, False), None, 0
        if not light_flat:  # a caption band keeps dark text readable on any picture
            band = (rng.randint(235, 255),) * 3
            for line, y in placed:
                x0, _, x1, _ = draw.textbbox((w // 2, y), line, font=font, anchor="ma")
                draw.rectangle((x0 - margin, y - gap, x1 + margin, y + line_h + gap // 2), fill=band)
    for line, y in placed:
        draw.text(
            (w // 2, y),
            line,
            font=font,
            fill=fill,
            anchor="ma",
            stroke_width=stroke_width,
            stroke_fill=outline,
        )


def draw_meme(job: RenderJob) -> Any:
    """The image of ``job`` as a PIL RGB image (nothing written)."""
    rng = random.Random(job.seed)
    image, light_flat = _background(job, rng)
    if job.lines:
        _draw_text(image, job, light_flat, rng)
    return image


def render_meme(job: RenderJob, root: str) -> None:
    """Draw ``job`` and write it as PNG under ``root`` (a process-pool worker; top level so it pickles)."""
    target = Path(root) / job.target
    target.parent.mkdir(parents=True, exist_ok=True)
    draw_meme(job).save(target, format="PNG")
