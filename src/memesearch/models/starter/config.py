"""The ``starter`` model's architecture config and input conventions, without torch.

What a text query, the ONNX image runtime (:mod:`memesearch.models.starter.onnx_tower`) and the torch
network (:mod:`memesearch.models.starter.model`, which re-exports these names) share: the config, the
emotion text of an item and the images -> pixels step. Importing this module never imports torch, so a
text search with the ``starter`` encoder starts without it.

Example::

    >>> cfg = StarterConfig(image_size=32, widths=(8, 16), depths=(1, 1), head_hidden=0)
    >>> cfg.to_dict()["widths"]
    [8, 16]
    >>> emotion_text(["happy", " love "])
    'happy, love'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image


# ------------------------------------------------------------------------------------------------
# config


#: the keys of a backbone branch (:attr:`StarterConfig.backbone`), left out of a plain model's dict
BACKBONE_KEYS = ("tower_size", "backbone", "backbone_hidden", "backbone_weight")


@dataclass(frozen=True)
class StarterConfig:
    """Architecture of the starter model (image tower + QI emotion gate + logit scale).

    Attributes:
        image_size: side of the square input in pixels (images are resized to it, bicubic).
        stem: stride (= kernel) of the patchify stem; 2 turns 64 px into a 32 x 32 map.
        widths: channels of the stages; every stage after the first halves the resolution.
        depths: residual blocks per stage.
        head_hidden: hidden size of the MLP projection head (0: a single linear layer).
        dim: output size, the text encoder's size (384 for e5-small).
        emotion_dim: size of the emotion-text embeddings (0 disables the emotion gate).
        gate_init: initial value of the emotion gate.
        logit_scale_init: initial temperature (clamped to [1, 100] by ``LogitScale``).
        text_encoder: the frozen text encoder whose space the tower maps into.
        emotion_kind: the e5 prefix used for emotion words (item-side text: ``passage``).
        tower_size: side the CNN branch reads (0: ``image_size``); a divisor of ``image_size``: the input
            is average-pooled down to it (a model with a backbone reads 128 px, its CNN 64 px).
        backbone: a shipped pretrained backbone (:mod:`memesearch.models.backbones`, e.g. ``nanodet-g``)
            whose pooled features, standardised and projected by an MLP, join the CNN's features;
            ``""``: none (v1, v2).
        backbone_hidden: hidden size of that projection MLP.
        backbone_weight: the backbone branch's share of the image features (both branches are
            L2-normalised, then mixed ``(1 - w) * cnn + w * backbone``).
    """

    image_size: int = 64
    stem: int = 2
    widths: tuple[int, ...] = (32, 64, 128, 256)
    depths: tuple[int, ...] = (1, 1, 1, 1)
    head_hidden: int = 768
    dim: int = 384
    emotion_dim: int = 384
    gate_init: float = 0.1
    logit_scale_init: float = 10.0
    text_encoder: str = "e5-small"
    emotion_kind: str = "passage"
    tower_size: int = 0
    backbone: str = ""
    backbone_hidden: int = 1024
    backbone_weight: float = 0.5

    @property
    def cnn_size(self) -> int:
        """Side of the CNN branch's input (``tower_size`` or ``image_size``)."""
        return self.tower_size or self.image_size

    def __post_init__(self) -> None:
        def bad(key: str, value: Any, expected: str) -> ConfigError:
            return ConfigError(f"starter config {key}: got {value!r}, expected {expected}")

        if self.image_size < 8:
            raise bad("image_size", self.image_size, "an integer >= 8")
        if self.tower_size < 0 or (self.tower_size and self.image_size % self.tower_size):
            raise bad("tower_size", self.tower_size, f"0 or a divisor of image_size={self.image_size}")
        if self.stem < 1 or self.cnn_size % self.stem:
            raise bad("stem", self.stem, f"a positive divisor of the CNN's side {self.cnn_size}")
        if not self.widths or any(w < 1 for w in self.widths):
            raise bad("widths", self.widths, "a non-empty list of positive integers")
        if len(self.depths) != len(self.widths) or any(d < 0 for d in self.depths):
            raise bad("depths", self.depths, f"{len(self.widths)} integers >= 0 (one per stage in widths)")
        if self.head_hidden < 0 or self.dim < 1 or self.emotion_dim < 0:
            raise bad("head_hidden/dim/emotion_dim", (self.head_hidden, self.dim, self.emotion_dim), ">= 0")
        if self.emotion_kind not in ("query", "passage"):
            raise bad("emotion_kind", self.emotion_kind, "'query' or 'passage'")
        if self.backbone and (self.backbone_hidden < 1 or not 0.0 <= self.backbone_weight <= 1.0):
            raise bad(
                "backbone_hidden/backbone_weight",
                (self.backbone_hidden, self.backbone_weight),
                ">= 1 / in [0, 1]",
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists). A model without a backbone leaves the backbone keys out, so
        its dict — what weights folders record and what names its ONNX file — is the one it had before
        those keys existed."""
        out = asdict(self)
        out["widths"], out["depths"] = list(self.widths), list(self.depths)
        if not self.backbone and not self.tower_size:
            for key in BACKBONE_KEYS:
                out.pop(key)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StarterConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown starter config keys {unknown}; expected some of {sorted(names)}")
        values = dict(data)
        for key in ("widths", "depths"):
            if key in values:
                values[key] = tuple(int(v) for v in values[key])
        return cls(**values)


# ------------------------------------------------------------------------------------------------
# inputs


def pixel_bytes(images: Sequence[Image.Image], size: int) -> np.ndarray:
    """RGB PIL images -> ``(B, size, size, 3)`` uint8 (bicubic resize when the size differs).

    Images should come from :func:`~memesearch.models.encoders.images.load_image` (transparency on
    white), as in training.
    """
    from PIL import Image

    arrays = []
    for image in images:
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        if rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.Resampling.BICUBIC)
        arrays.append(np.asarray(rgb, dtype=np.uint8))
    return np.stack(arrays)


def input_array(images: Sequence[Image.Image], size: int) -> np.ndarray:
    """RGB PIL images -> the tower's input ``(B, 3, size, size)`` float32 in [-1, 1], as numpy: the same
    numbers as ``normalize_pixels(to_pixels(images, size))`` of the torch module."""
    batch = pixel_bytes(images, size).transpose(0, 3, 1, 2).astype(np.float32)
    batch /= np.float32(255.0)
    return batch * np.float32(2.0) - np.float32(1.0)


def emotion_text(emotions: Sequence[str] | None) -> str | None:
    """The text embedded for an item's emotion words (``"happy, love"``); ``None`` when it has none."""
    words = [e.strip() for e in (emotions or []) if e and e.strip()]
    return ", ".join(words) if words else None
