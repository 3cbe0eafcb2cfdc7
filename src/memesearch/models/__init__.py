"""Models: the encoder registry (names -> encoders with their preprocessing and tokenizer).

>>> from memesearch.models import create_encoder, list_encoders
>>> list_encoders()  # doctest: +NORMALIZE_WHITESPACE
['clip:<local dir or hub id>', 'st:<local dir or hub id>', 'e5-small', 'minilm',
 'starter[:<weights dir>]', 'tiny-clip[:seed]']
>>> create_encoder("tiny-clip").encode_text(["hello"]).shape
(1, 32)
"""

from memesearch.models.encoders import (
    Encoder,
    EncoderConfig,
    EncoderLoadError,
    ModalityError,
    TextKind,
    create_encoder,
    describe_encoders,
    list_encoders,
    load_image,
    register_encoder,
    save_random_clip,
)

__all__ = [
    "Encoder",
    "EncoderConfig",
    "EncoderLoadError",
    "ModalityError",
    "TextKind",
    "create_encoder",
    "describe_encoders",
    "list_encoders",
    "load_image",
    "register_encoder",
    "save_random_clip",
]
