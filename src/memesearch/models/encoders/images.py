"""Image loading and CLIP-style preprocessing with PIL and numpy only (no torchvision).

Every encoder sees images through :func:`load_image`, so the colour handling is the same everywhere:

* the result is always an 8-bit RGB :class:`PIL.Image.Image`;
* transparency (RGBA, LA, palette images with a transparent index, PNG ``tRNS`` colours) is composited
  onto a **white** background. Emoji, stickers and many memes are drawn on a transparent canvas; chat
  apps show them on a light background, and PIL's plain ``convert("RGB")`` would instead expose whatever
  colour the transparent pixels happen to store (often black), which changes the embedding;
* CMYK and YCbCr are converted with PIL's conversions; 16-bit and 32-bit greyscale are rescaled to 8 bits
  (PIL's own conversion clips them, which turns most 16-bit images white);
* the EXIF orientation tag is applied, so phone photos are upright;
* for animated GIF/WebP/PNG files the first frame is used.

Example::

    >>> img = load_image("sticker.png")            # doctest: +SKIP
    >>> img.mode
    'RGB'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from memesearch.errors import DataFormatError

ImageInput: TypeAlias = "Image.Image | str | os.PathLike[str]"

#: Background that transparent pixels are composited onto.
BACKGROUND: tuple[int, int, int] = (255, 255, 255)

#: Mean and std of the OpenAI CLIP training images (RGB, 0..1 scale); Chinese-CLIP uses the same values.
CLIP_MEAN: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_EXIF_ORIENTATION = 0x0112


def load_image(source: ImageInput, *, background: tuple[int, int, int] = BACKGROUND) -> Image.Image:
    """Open ``source`` (a path or a PIL image) and return it as an upright 8-bit RGB image.

    Raises :class:`DataFormatError` naming the file when it is missing or not an image.
    """
    if isinstance(source, Image.Image):
        return to_rgb(source, background=background)
    if not isinstance(source, str | os.PathLike):
        raise DataFormatError(
            f"expected a PIL image or a path to an image file, got {type(source).__name__}",
            hint="pass PIL.Image.Image objects or str/Path file names",
        )
    path = Path(source)
    try:
        with Image.open(path) as opened:
            opened.seek(0)  # first frame of an animation
            opened.load()
            image = opened.copy()  # keeps .info (transparency, EXIF) and the palette
    except FileNotFoundError:
        raise DataFormatError("image file not found", path=path) from None
    except IsADirectoryError:
        raise DataFormatError("expected an image file, got a directory", path=path) from None
    except UnidentifiedImageError:
        raise DataFormatError(
            "not a readable image (PIL cannot identify the format)",
            path=path,
            hint="use PNG, JPEG, GIF, WebP or BMP files",
        ) from None
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"cannot decode image ({exc})", path=path) from None
    return to_rgb(image, background=background)


def to_rgb(image: Image.Image, *, background: tuple[int, int, int] = BACKGROUND) -> Image.Image:
    """Convert any PIL image to upright 8-bit RGB, compositing transparency onto ``background``.

    Returns ``image`` itself when it is already upright RGB without a transparent colour; never
    modifies the input.
    """
    if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode in {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}:
        return Image.fromarray(_to_uint8(np.asarray(image)), mode="L").convert("RGB")
    has_alpha = mode in _ALPHA_MODES or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as exc:  # e.g. LAB, which PIL cannot convert directly
        raise DataFormatError(
            f"cannot convert an image in PIL mode {mode!r} to RGB ({exc})",
            hint="save the image as RGB (PNG or JPEG) first",
        ) from None


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Rescale a greyscale array of 16/32-bit ints or floats to uint8 (H, W)."""
    values: np.ndarray = array.astype(np.float64)
    if array.dtype.kind == "f":
        top = 1.0 if values.size == 0 or float(np.nanmax(values)) <= 1.0 else 255.0
    else:
        peak = float(values.max()) if values.size else 0.0
        top = 255.0 if peak <= 255 else (65535.0 if peak <= 65535 else peak)
    scaled = np.nan_to_num(values / top * 255.0, nan=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def clip_preprocess(
    image: Image.Image,
    size: int,
    *,
    mean: Sequence[float] = CLIP_MEAN,
    std: Sequence[float] = CLIP_STD,
) -> np.ndarray:
    """CLIP's eval transform: bicubic resize of the shorter side to ``size``, centre crop, normalise.

    Input any PIL image (converted with :func:`to_rgb`); output float32 array (3, size, size).
    """
    rgb = to_rgb(image)
    width, height = rgb.size
    scale = size / min(width, height)
    # the shorter side becomes exactly `size`; the longer one is rounded and never below `size`
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    resized = rgb.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    cropped = resized.crop((left, top, left + size, top + size))
    pixels: np.ndarray = np.asarray(cropped, dtype=np.float32) / np.float32(255.0)  # (H, W, 3)
    normalised: np.ndarray = (pixels - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1))  # (3, H, W)
