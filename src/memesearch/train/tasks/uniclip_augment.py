"""The released UniCLIP recipe's training augmentation, with PIL only (no torchvision, no timm).

The original calls timm's ``create_transform(is_training=True, scale=(0.9, 1.0), auto_augment="original",
color_jitter=None, interpolation="bicubic")`` (research/B §3.3), which is, in order:

1. a random resized crop: area fraction in ``scale`` (0.9-1), aspect ratio log-uniform in 3/4-4/3, up to
   10 tries, else a centre crop at the clamped ratio (torchvision's ``RandomResizedCrop``);
2. a horizontal flip with probability ``hflip`` (0.5);
3. AutoAugment's "original" ImageNet policy (:data:`ORIGINAL_POLICY`, the 25 sub-policies of Cubuk et
   al. 2019): one sub-policy drawn uniformly, each of its two operations applied with its probability at
   its magnitude (0-10): rotate up to 30 degrees and shear up to 0.3 with a random sign, colour /
   contrast / sharpness factors 0.1-1.9, posterize to 4-8 bits, solarize above 0-256; fill = the
   normalisation mean.

timm crops and resizes to the square input first and augments that; here the crop is augmented at its
own size and the towers' preprocessing squash-resizes it afterwards (the same geometry).

Resizing to the model's input and normalising are left to the towers' own preprocessing (cn_clip's
squash-resize), which runs after this. All draws come from the ``random.Random`` passed in.

Example::

    >>> augment = TimmStyleAugment()
    >>> out = augment(Image.new("RGB", (224, 168)), random.Random(0))      # doctest: +SKIP
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from PIL import Image, ImageEnhance, ImageOps

_MAX_LEVEL = 10.0
_FILL = (123, 117, 104)  # timm fills with the normalisation mean (CLIP's) in 0-255

#: AutoAugment "original" (ImageNet) policy: 25 sub-policies of two (operation, probability, magnitude 0-10)
ORIGINAL_POLICY: tuple[tuple[tuple[str, float, int], tuple[str, float, int]], ...] = (
    (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)),
    (("Equalize", 0.8, 8), ("Equalize", 0.6, 3)),
    (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
    (("Equalize", 0.4, 7), ("Solarize", 0.2, 4)),
    (("Equalize", 0.4, 4), ("Rotate", 0.8, 8)),
    (("Solarize", 0.6, 3), ("Equalize", 0.6, 7)),
    (("Posterize", 0.8, 5), ("Equalize", 1.0, 2)),
    (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
    (("Equalize", 0.6, 8), ("Posterize", 0.4, 6)),
    (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
    (("Rotate", 0.4, 9), ("Equalize", 0.6, 2)),
    (("Equalize", 0.0, 7), ("Equalize", 0.8, 8)),
    (("Invert", 0.6, 4), ("Equalize", 1.0, 8)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
    (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
    (("Sharpness", 0.4, 7), ("Invert", 0.6, 8)),
    (("ShearX", 0.6, 5), ("Equalize", 1.0, 9)),
    (("Color", 0.4, 0), ("Equalize", 0.6, 3)),
    (("Equalize", 0.4, 7), ("Solarize", 0.2, 4)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)),
    (("Invert", 0.6, 4), ("Equalize", 1.0, 8)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Equalize", 0.8, 8), ("Equalize", 0.6, 3)),
)


def _signed(value: float, rng: random.Random) -> float:
    return -value if rng.random() < 0.5 else value


def _enhance(cls: Callable[[Image.Image], ImageEnhance._Enhance]) -> Callable[..., Image.Image]:
    def op(img: Image.Image, level: float, rng: random.Random) -> Image.Image:
        return cls(img).enhance(level / _MAX_LEVEL * 1.8 + 0.1)  # factor 0.1-1.9, no sign in "original"

    return op


def _rotate(img: Image.Image, level: float, rng: random.Random) -> Image.Image:
    return img.rotate(
        _signed(level / _MAX_LEVEL * 30.0, rng), resample=Image.Resampling.BICUBIC, fillcolor=_FILL
    )


def _shear_x(img: Image.Image, level: float, rng: random.Random) -> Image.Image:
    shear = _signed(level / _MAX_LEVEL * 0.3, rng)
    return img.transform(img.size, Image.Transform.AFFINE, (1, shear, 0, 0, 1, 0),
                         resample=Image.Resampling.BICUBIC, fillcolor=_FILL)  # fmt: skip


def _posterize(img: Image.Image, level: float, rng: random.Random) -> Image.Image:
    bits = int(level / _MAX_LEVEL * 4) + 4  # the paper's "original" posterize: keep 4-8 bits
    return img if bits >= 8 else ImageOps.posterize(img, bits)


def _solarize(img: Image.Image, level: float, rng: random.Random) -> Image.Image:
    return ImageOps.solarize(img, int(level / _MAX_LEVEL * 256))  # invert pixels above the threshold


_OPS: dict[str, Callable[[Image.Image, float, random.Random], Image.Image]] = {
    "AutoContrast": lambda img, level, rng: ImageOps.autocontrast(img),
    "Equalize": lambda img, level, rng: ImageOps.equalize(img),
    "Invert": lambda img, level, rng: ImageOps.invert(img),
    "Rotate": _rotate,
    "ShearX": _shear_x,
    "Posterize": _posterize,
    "Solarize": _solarize,
    "Color": _enhance(ImageEnhance.Color),
    "Contrast": _enhance(ImageEnhance.Contrast),
    "Sharpness": _enhance(ImageEnhance.Sharpness),
}


def random_resized_crop_box(
    width: int, height: int, rng: random.Random, scale: tuple[float, float] = (0.9, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:  # fmt: skip
    """``(left, top, right, bottom)`` of a crop covering ``scale`` of the area at a log-uniform ``ratio``."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            return left, top, left + w, top + h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


class TimmStyleAugment:
    """Random resized crop + flip + AutoAugment "original" on a PIL image (module docstring)."""

    def __init__(
        self, *, scale: tuple[float, float] = (0.9, 1.0), hflip: float = 0.5, auto_augment: bool = True
    ) -> None:
        self.scale = scale
        self.hflip = hflip
        self.auto_augment = auto_augment

    def __call__(self, image: Image.Image, rng: random.Random) -> Image.Image:
        img = image.convert("RGB")
        img = img.crop(random_resized_crop_box(img.width, img.height, rng, self.scale))
        if rng.random() < self.hflip:
            img = ImageOps.mirror(img)
        if self.auto_augment:
            for name, prob, level in ORIGINAL_POLICY[rng.randrange(len(ORIGINAL_POLICY))]:
                if rng.random() < prob:
                    img = _OPS[name](img, float(level), rng)
        return img
