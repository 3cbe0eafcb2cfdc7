"""Drawing one collage: emoji pasted at random positions and sizes on a plain, patterned or scene background.

A :class:`CollageJob` names everything a collage depends on (its seed, size, background kind and the
emoji to paste, each with its source PNG); :func:`draw_collage` draws it and returns the image and the
truth box of every emoji it pasted. Every random choice comes from ``random.Random(job.seed)``, so the
same job gives the same pixels and boxes in any process.

Layout: emoji are placed one after another on square cells of 16-34% of the side, at random positions
that keep a ``MARGIN`` of free pixels to every emoji already placed (so objects never touch); after 20
failed tries the cells shrink by 15%, and an emoji that finds no place after 60 tries is left out (the
truth only lists what was drawn). An emoji's truth box is the tight box of its pixels with alpha >= 64
after resizing (the visible drawing, not its transparent padding), in collage pixels, ``x1``/``y1``
exclusive.
"""

from __future__ import annotations

import colorsys
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.objects.regions import Region, mask_box

BACKGROUNDS: tuple[str, ...] = ("plain", "pattern", "scene")
#: Free pixels kept between two pasted emoji's cells.
MARGIN = 8
#: Alpha at or above which a pixel of a pasted emoji counts as drawn (for its truth box).
ALPHA_DRAWN = 64


@dataclass(frozen=True, slots=True)
class PastedEmoji:
    """An emoji to paste: its concept key, the label recorded with its box, its source PNG (absolute)."""

    key: str
    label: str
    source: str


@dataclass(frozen=True, slots=True)
class CollageJob:
    """One collage to draw and write to ``target`` (relative to the dataset folder)."""

    target: str
    seed: int
    size: int
    background: str
    emoji: tuple[PastedEmoji, ...]


def _colour(rng: random.Random, lo: float, hi: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hls_to_rgb(rng.random(), rng.uniform(lo, hi), rng.uniform(0.3, 0.8))
    return (round(r * 255), round(g * 255), round(b * 255))


def draw_background(kind: str, size: int, rng: random.Random) -> np.ndarray:
    """An ``(size, size, 3)`` uint8 background: ``plain`` colour, ``pattern`` (stripes, checks, dots) or
    ``scene`` (sky gradient, sun, clouds, ground)."""
    s = size
    ys, xs = np.mgrid[0:s, 0:s]
    if kind == "plain":
        # Light only: emoji are drawn for light backgrounds, and dark outlines vanish on a dark one.
        colour = _colour(rng, 0.72, 0.96)
        return np.broadcast_to(np.array(colour, np.uint8), (s, s, 3)).copy()
    if kind == "pattern":
        a = np.array(_colour(rng, 0.8, 0.95), np.uint8)
        b = np.array(_colour(rng, 0.6, 0.8), np.uint8)
        period = rng.randint(8, 24)
        style = rng.choice(("hstripes", "vstripes", "diagonal", "checks", "dots"))
        if style == "hstripes":
            on = (ys // period) % 2 == 0
        elif style == "vstripes":
            on = (xs // period) % 2 == 0
        elif style == "diagonal":
            on = ((xs + ys) // period) % 2 == 0
        elif style == "checks":
            on = ((xs // period) + (ys // period)) % 2 == 0
        else:
            cy, cx = ys % period - period / 2, xs % period - period / 2
            on = cy * cy + cx * cx > (period / 3) ** 2
        return np.where(on[..., None], a, b).astype(np.uint8)
    if kind == "scene":
        horizon = round(s * rng.uniform(0.55, 0.8))
        top = np.array(_colour(rng, 0.55, 0.7), np.float32) * np.array([0.6, 0.8, 1.0], np.float32)
        bottom = np.array([235, 240, 250], np.float32)
        t = (ys / max(1, horizon))[..., None].clip(0, 1)
        sky = top + (bottom - top) * t  # (s, s, 3) vertical gradient
        ground_colour = np.array(rng.choice([(110, 160, 80), (170, 140, 90), (90, 130, 150)]), np.float32)
        shade = ((ys - horizon) / max(1, s - horizon))[..., None].clip(0, 1)
        ground = ground_colour * (1.0 - 0.35 * shade)
        img = np.where((ys >= horizon)[..., None], ground, sky)
        sx, sy, sr = rng.uniform(0.1, 0.9) * s, rng.uniform(0.08, 0.3) * s, rng.uniform(0.05, 0.1) * s
        img[(xs - sx) ** 2 + (ys - sy) ** 2 < sr * sr] = (250, 220, 90)
        for _ in range(rng.randint(1, 3)):
            cx, cy = rng.uniform(0, s), rng.uniform(0.05, 0.4) * s
            rx, ry = rng.uniform(0.08, 0.18) * s, rng.uniform(0.03, 0.06) * s
            img[((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 < 1.0] = (248, 248, 252)
        return img.round().clip(0, 255).astype(np.uint8)
    raise ValueError(f"unknown collage background {kind!r}; choose from {', '.join(BACKGROUNDS)}")


def _free(cell: tuple[int, int, int, int], placed: list[tuple[int, int, int, int]]) -> bool:
    x0, y0, x1, y1 = cell
    return all(
        x1 + MARGIN <= a0 or a1 + MARGIN <= x0 or y1 + MARGIN <= b0 or b1 + MARGIN <= y0
        for a0, b0, a1, b1 in placed
    )


def draw_collage(job: CollageJob) -> tuple[Any, list[tuple[str, Region]]]:
    """The collage (PIL RGB image) and ``(concept key, Region(box, label))`` of every pasted emoji."""
    from PIL import Image

    rng = random.Random(job.seed)
    s = job.size
    canvas = Image.fromarray(draw_background(job.background, s, rng), "RGB").convert("RGBA")
    placed: list[tuple[int, int, int, int]] = []
    truth: list[tuple[str, Region]] = []
    for emoji in job.emoji:
        cell = None
        for attempt in range(60):
            side = max(16, round(s * rng.uniform(0.16, 0.34) * 0.85 ** (attempt // 20)))
            x, y = rng.randint(0, s - side), rng.randint(0, s - side)
            if _free((x, y, x + side, y + side), placed):
                cell = (x, y, x + side, y + side)
                break
        if cell is None:
            continue
        with Image.open(emoji.source) as src:
            im = src.convert("RGBA")  # twitter PNGs may be palette images
        side = cell[2] - cell[0]
        im = im.resize((side, side), Image.Resampling.LANCZOS)
        box = mask_box(np.asarray(im)[..., 3] >= ALPHA_DRAWN)
        if box is None:
            continue
        placed.append(cell)
        canvas.alpha_composite(im, (cell[0], cell[1]))
        x, y = cell[0], cell[1]
        region = Region(box=(box[0] + x, box[1] + y, box[2] + x, box[3] + y), label=emoji.label)
        truth.append((emoji.key, region))
    return canvas.convert("RGB"), truth


def render_collage(job: CollageJob, root: str) -> list[tuple[str, Region]]:
    """Draw ``job`` and write it as PNG under ``root``; return its truth (a process-pool worker)."""
    image, truth = draw_collage(job)
    target = Path(root) / job.target
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, format="PNG")
    return truth
