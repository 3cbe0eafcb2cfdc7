"""Where a ``clip:`` / ``st:`` checkpoint comes from: a local directory or a Hugging Face hub id.

The rules, in order:

1. an existing directory is loaded from disk;
2. an existing *file* is an error (a checkpoint is a directory);
3. anything that looks like a path (absolute, ``./``, ``~``, more than one ``/``, a backslash) but does
   not exist is an error: "no such directory", without asking the hub;
4. otherwise it is a hub id (``name`` or ``owner/name``). ``HF_HUB_OFFLINE=1`` (or
   ``TRANSFORMERS_OFFLINE=1``) is read *at call time* and turned into ``local_files_only=True``, so only
   models already in the hub cache load.

Every failure becomes one :class:`EncoderLoadError` sentence (what was given, why it failed, what to
pass instead); the underlying exception is logged at debug level.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from memesearch.models.encoders.base import EncoderLoadError

logger = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is true (read at each call, not at import)."""
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@dataclass(frozen=True)
class CheckpointSource:
    """A resolved checkpoint reference: ``location`` is an absolute directory or a hub id."""

    spec: str  # the full registry name, e.g. "clip:./ckpt", used in messages
    location: str
    is_local: bool

    @property
    def local_files_only(self) -> bool:
        """Whether transformers may only read local files (always for directories; offline hub)."""
        return self.is_local or hub_offline()

    def fail(self, what: str, exc: BaseException | None = None) -> EncoderLoadError:
        """Build the one-sentence error for a failed load step (``what``: 'the tokenizer', ...)."""
        if exc is not None:
            logger.debug("loading %s of %s failed", what, self.spec, exc_info=exc)
        reason = _first_line(exc) if exc is not None else ""
        if self.is_local:
            detail = f" ({reason})" if reason else ""
            return EncoderLoadError(
                f"cannot load {what} of {self.spec!r} from the directory {self.location}{detail}; "
                "expected a checkpoint written by save_pretrained"
            )
        if hub_offline():
            return EncoderLoadError(
                f"cannot load {self.spec!r}: {self.location!r} is not a local directory and, with "
                "HF_HUB_OFFLINE=1, only models already in the Hugging Face cache can load; pass a directory "
                "holding the checkpoint (download it where the hub is reachable, then copy it here)"
            )
        detail = f" ({reason})" if reason else ""
        return EncoderLoadError(
            f"cannot load {what} of {self.spec!r}: {self.location!r} is not a local directory and the "
            f"Hugging Face hub could not provide it{detail}; check the id and the network, or pass a "
            "local checkpoint directory"
        )


#: a hub id to show in messages, per family
HUB_EXAMPLES = {"clip": "openai/clip-vit-base-patch32", "st": "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_source(spec: str, location: str) -> CheckpointSource:
    """Decide whether ``location`` (the part after ``clip:`` / ``st:``) is a directory or a hub id.

    Raises :class:`EncoderLoadError` for an empty location, an existing file, or a path-like location
    that does not exist.
    """
    if not location.strip():
        raise EncoderLoadError(
            f"encoder {spec!r} names no checkpoint; write it as {spec.split(':')[0]}:<local dir or hub id>"
        )
    path = Path(location).expanduser()
    if path.is_dir():
        return CheckpointSource(spec=spec, location=str(path.resolve()), is_local=True)
    if path.exists():
        raise EncoderLoadError(
            f"{spec!r} points at the file {path}, but a checkpoint is a directory "
            "(config.json, weights, tokenizer and preprocessor files); pass the directory"
        )
    if _looks_like_path(location):
        example = HUB_EXAMPLES.get(spec.partition(":")[0], "owner/name")
        raise EncoderLoadError(
            f"cannot load {spec!r}: the directory {path.absolute()} does not exist; pass an existing "
            f"checkpoint directory or a hub id such as {example!r}"
        )
    return CheckpointSource(spec=spec, location=location, is_local=False)


def _looks_like_path(location: str) -> bool:
    # hub ids are "name" or "owner/name" made of letters, digits, "-", "_", "."
    return (
        location.startswith(("/", ".", "~"))
        or "\\" in location
        or location.count("/") > 1
        or location.endswith("/")
    )


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else type(exc).__name__
    text = text.rstrip(".")
    return text if len(text) <= 200 else text[:197] + "..."
