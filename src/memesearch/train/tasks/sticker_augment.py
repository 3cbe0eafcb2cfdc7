"""Sticker augmentation for the starter Task: what a drawing meets when it becomes a chat sticker.

A batch of RGBA images ``(B, 4, S, S)`` in [0, 1] (alpha = 1 everywhere for images without
transparency) goes through, in this order:

1. geometry: random zoom (scale; above 1 crops), shift and rotation; what comes in from outside the
   image is transparent;
2. a white sticker outline (``outline_prob``): the alpha mask dilated by ``outline_width`` pixels and
   filled with white under the drawing;
3. a background (``background_prob``): a flat colour, a two-colour gradient or smooth noise; otherwise
   white (the convention of the evaluation images);
4. down-up sampling (line width / blur), gamma, brightness, saturation and contrast jitter;
5. JPEG re-encoding at a random quality (``jpeg_prob``), through Pillow.

Everything draws from the global torch RNG, so ``torch.manual_seed(s)`` makes a batch reproducible
(tested). No flips (many emoji are directional) and no hue shifts (colours are in their names).

Example::

    >>> import torch
    >>> cfg = StickerAugmentConfig(background_prob=1.0, jpeg_prob=0.5)
    >>> _ = torch.manual_seed(0)
    >>> augment_stickers(torch.rand(2, 4, 32, 32), cfg).shape
    torch.Size([2, 3, 32, 32])
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from memesearch.errors import ConfigError


@dataclass(frozen=True)
class StickerAugmentConfig:
    """The knobs of :func:`augment_stickers` (all probabilities in [0, 1]).

    ``zoom`` is the content scale range (< 1 shrinks into a margin, > 1 crops), ``shift`` a fraction of
    the side, ``rotate`` degrees; ``outline_width`` the outline's pixel range at the image size;
    ``background_kinds`` picks among ``flat``, ``gradient`` and ``noise``; ``gamma`` the max |log gamma|;
    ``brightness``, ``contrast`` and ``saturation`` the max relative change; ``jpeg_quality`` the JPEG
    quality range.
    """

    zoom: tuple[float, float] = (0.8, 1.15)
    shift: float = 0.08
    rotate: float = 10.0
    outline_prob: float = 0.0
    outline_width: tuple[int, int] = (1, 3)
    background_prob: float = 0.0
    background_kinds: tuple[str, ...] = ("flat", "gradient", "noise")
    downsample_prob: float = 0.3
    downsample_sizes: tuple[int, int] = (24, 48)
    gamma: float = 0.3
    brightness: float = 0.0
    contrast: float = 0.2
    saturation: float = 0.4
    jpeg_prob: float = 0.0
    jpeg_quality: tuple[int, int] = (30, 90)

    def __post_init__(self) -> None:
        for key in ("outline_prob", "background_prob", "downsample_prob", "jpeg_prob"):
            value = getattr(self, key)
            if not 0 <= value <= 1:
                raise ConfigError(f"task_config.{key}: got {value!r}, expected a probability in [0, 1]")
        lo, hi = self.zoom
        if not 0 < lo <= hi:
            raise ConfigError(
                f"task_config.zoom: got {self.zoom!r}, expected [low, high] with 0 < low <= high"
            )
        if not 0 <= self.outline_width[0] <= self.outline_width[1]:
            raise ConfigError(
                f"task_config.outline_width: got {self.outline_width!r}, expected [low, high] >= 0"
            )
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ConfigError(
                f"task_config.jpeg_quality: got {self.jpeg_quality!r}, expected 1 <= low <= high <= 100"
            )
        unknown = sorted(set(self.background_kinds) - {"flat", "gradient", "noise"})
        if unknown or not self.background_kinds:
            raise ConfigError(
                f"task_config.background_kinds: got {list(self.background_kinds)!r}, expected some of "
                "flat, gradient, noise"
            )


def _uniform(b: int, lo: float, hi: float) -> Tensor:
    return torch.rand(b) * (hi - lo) + lo


def _geometry(rgba: Tensor, config: StickerAugmentConfig) -> tuple[Tensor, Tensor]:
    """Zoom/shift/rotate premultiplied colour and alpha -> ``(B, 3, S, S)``, ``(B, 1, S, S)``."""
    b = rgba.shape[0]
    alpha = rgba[:, 3:4]
    premult = rgba[:, :3] * alpha
    zoom = _uniform(b, *config.zoom)
    angle = (torch.rand(b) * 2 - 1) * math.radians(config.rotate)
    shift = (torch.rand(b, 2) * 2 - 1) * (2 * config.shift)  # normalised coordinates span 2
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, [b, 4, rgba.shape[2], rgba.shape[3]], align_corners=False)
    out = F.grid_sample(
        torch.cat([premult, alpha], 1), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return out[:, :3], out[:, 3:4].clamp(0, 1)


def _outline(premult: Tensor, alpha: Tensor, config: StickerAugmentConfig) -> tuple[Tensor, Tensor]:
    """A white rim of a random width around the drawing on the picked images."""
    pick = torch.rand(alpha.shape[0]) < config.outline_prob
    lo, hi = config.outline_width
    width = int(torch.randint(lo, hi + 1, (1,)))
    if not bool(pick.any()) or width == 0:
        return premult, alpha
    k = 2 * width + 1
    ys, xs = torch.meshgrid(torch.arange(k) - width, torch.arange(k) - width, indexing="ij")
    disk = ((ys**2 + xs**2) <= width**2 + 0.5).float()[None, None]  # (1, 1, k, k)
    # dilation by a disk with a soft edge: the alpha summed over the disk, capped at 1
    dilated = torch.maximum(F.conv2d(alpha[pick], disk, padding=width).clamp(0, 1), alpha[pick])
    rim = (dilated - alpha[pick]).clamp_min(0)  # white where the outline shows through
    premult, alpha = premult.clone(), alpha.clone()
    premult[pick] = premult[pick] + rim  # white (1, 1, 1) premultiplied by its coverage
    alpha[pick] = dilated
    return premult, alpha


def _backgrounds(b: int, size: int, config: StickerAugmentConfig) -> Tensor:
    """``(B, 3, S, S)`` backgrounds: white, or (with ``background_prob``) a flat colour, gradient or noise."""
    bg = torch.ones(b, 3, size, size)
    if config.background_prob <= 0:
        return bg  # no random draws: the RNG stream stays that of a white-only run
    pick = torch.rand(b) < config.background_prob
    kinds = torch.randint(0, len(config.background_kinds), (b,))
    first = torch.rand(b, 3, 1, 1)
    second = torch.rand(b, 3, 1, 1)
    angle = torch.rand(b) * 2 * math.pi
    coarse = torch.rand(b, 3, 4, 4)
    ramp = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(ramp, ramp, indexing="ij")
    for i in torch.nonzero(pick).flatten().tolist():
        kind = config.background_kinds[int(kinds[i])]
        if kind == "flat":
            bg[i] = first[i].expand(3, size, size)
        elif kind == "gradient":
            t = ((torch.cos(angle[i]) * xx + torch.sin(angle[i]) * yy) / math.sqrt(2) + 1) / 2  # (S, S)
            bg[i] = first[i] * (1 - t) + second[i] * t
        else:  # smooth noise: a 4 x 4 colour field upsampled
            field = F.interpolate(coarse[i : i + 1], size=(size, size), mode="bicubic", align_corners=False)
            bg[i] = field[0].clamp(0, 1)
    return bg


def _jpeg(x: Tensor, config: StickerAugmentConfig) -> Tensor:
    """Re-encode the picked images as JPEG (Pillow) at a random quality."""
    from PIL import Image

    pick = torch.rand(x.shape[0]) < config.jpeg_prob
    quality = torch.randint(config.jpeg_quality[0], config.jpeg_quality[1] + 1, (x.shape[0],))
    if not bool(pick.any()):
        return x
    out = x.clone()
    for i in torch.nonzero(pick).flatten().tolist():
        arr = (x[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr, "RGB").save(buf, format="JPEG", quality=int(quality[i]))
        buf.seek(0)
        with Image.open(buf) as im:
            back = np.array(im.convert("RGB"), dtype=np.uint8)
        out[i] = torch.from_numpy(back).permute(2, 0, 1).float() / 255.0
    return out


def augment_stickers(rgba: Tensor, config: StickerAugmentConfig) -> Tensor:
    """Augment a ``(B, 4, S, S)`` RGBA batch in [0, 1] into a ``(B, 3, S, S)`` RGB batch in [0, 1]
    (global torch RNG; the input is not modified). A ``(B, 3, S, S)`` batch is taken as opaque."""
    if rgba.dim() != 4 or rgba.shape[1] not in (3, 4):
        raise ConfigError(f"augment_stickers: expected a (B, 3 or 4, S, S) batch, got {tuple(rgba.shape)}")
    if rgba.shape[1] == 3:
        rgba = torch.cat([rgba, torch.ones_like(rgba[:, :1])], 1)
    b, _, size, _ = rgba.shape
    premult, alpha = _geometry(rgba.float(), config)
    if config.outline_prob > 0:
        premult, alpha = _outline(premult, alpha, config)
    x = premult + (1 - alpha) * _backgrounds(b, size, config)
    if config.downsample_prob > 0:
        pick = torch.rand(b) < config.downsample_prob
        if bool(pick.any()):
            lo_s, hi_s = config.downsample_sizes
            side = int(torch.randint(lo_s, hi_s + 1, (1,)))
            small = F.interpolate(
                x[pick], size=(side, side), mode="bilinear", antialias=True, align_corners=False
            )
            x[pick] = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    x = x.clamp(0, 1)
    if config.gamma > 0:  # keeps white white and black black (shading differences between styles)
        x = x.clamp_min(1e-6).pow(torch.exp((torch.rand(b, 1, 1, 1) * 2 - 1) * config.gamma))
    if config.brightness > 0:
        x = x * (1 + (torch.rand(b, 1, 1, 1) * 2 - 1) * config.brightness)
    if config.saturation > 0:
        grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)
        x = grey + (1 + (torch.rand(b, 1, 1, 1) * 2 - 1) * config.saturation) * (x - grey)
    if config.contrast > 0:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = mean + (1 + (torch.rand(b, 1, 1, 1) * 2 - 1) * config.contrast) * (x - mean)
    x = x.clamp(0, 1)
    if config.jpeg_prob > 0:
        x = _jpeg(x, config)
    return x
