"""What an index folder says about itself (``index.json``) and the errors of opening one.

``index.json`` records the format, the encoder (name, dimension, a signature of its weights), the settings
and the package versions, so a query encoder can never silently mismatch the vectors it searches
(:class:`EncoderMismatchError`).
"""

from __future__ import annotations

import json
import platform
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from memesearch.errors import ConfigError, MemesearchError
from memesearch.index.config import INDEX_FORMAT, INDEX_FORMAT_VERSION, IndexConfig, encoder_signature


class IndexNotFoundError(MemesearchError):
    """The folder is not a memesearch index."""


class EncoderMismatchError(MemesearchError):
    """The index was built with another encoder than the one asked for."""


class IndexLockedError(MemesearchError):
    """The index is opened read-only and a write was asked for."""


def _encoder_dict(encoder: Any) -> dict[str, Any]:
    return dict(encoder.config.to_dict())


#: default calibrations shipped with the package, one file per encoder name (see
#: scripts/fit_default_calibration.py); recorded by new indexes whose encoder has the same signature
DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"


def default_calibration(encoder_name: str, signature: str) -> dict[str, Any] | None:
    """The shipped calibration for ``encoder_name`` when one exists and was fitted with this exact
    encoder (same signature), else None (the index then fuses with its weights until ``memesearch tune``)."""
    path = DEFAULTS_DIR / f"calibration-{encoder_name}.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("fitted_on", {}).get("encoder_signature") != signature:
        return None
    return dict(data)


def encoder_dict(encoder: Any) -> dict[str, Any]:
    """The encoder's own config as a plain dict (recorded in index.json, hashed into its signature)."""
    return dict(encoder.config.to_dict())


def read_index_info(path: Path) -> dict[str, Any]:
    """Read and check ``index.json``; :class:`IndexNotFoundError` when ``path`` is not an index."""
    info_path = path / "index.json"
    if not info_path.is_file():
        raise IndexNotFoundError(
            f"{path} is not a memesearch index (no index.json); "
            f"build one with: memesearch index FILES --index {path}"
        )
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexNotFoundError(f"{info_path} cannot be read ({exc}); the index is damaged") from None
    if info.get("format") != INDEX_FORMAT:
        raise IndexNotFoundError(
            f"{info_path} is not a memesearch index file (format {info.get('format')!r})"
        )
    if int(info.get("format_version", 0)) > INDEX_FORMAT_VERSION:
        raise IndexNotFoundError(
            f"{path} was written by a newer memesearch (index format {info['format_version']}); "
            "upgrade memesearch"
        )
    return dict(info)


def load_encoder(name: str, recorded: Mapping[str, Any] | None = None) -> Any:
    """The encoder called ``name``; ``recorded`` (an index's ``encoder`` entry) pins a ``starter`` to the
    committed weights it was built with (an index made with starter v1 keeps v1 after v2 became the
    default), when those weights ship."""
    from memesearch.models import create_encoder

    options: dict[str, Any] = {}
    config = (recorded or {}).get("config") or {}
    sha = (config.get("extra") or {}).get("weights_sha256")
    if name == "starter" and config.get("kind") == "starter" and sha:
        options["weights_sha256"] = str(sha)
    enc = create_encoder(name, **options)
    check_encoder(enc)
    return enc


def unshipped_weights_hint(recorded: Mapping[str, Any]) -> str:
    """A sentence for the encoder-mismatch error when an index records ``starter`` weights that this
    installation does not ship (e.g. an earlier ``starter-v2``, or a local export); ``""`` otherwise."""
    config = recorded.get("config") or {}
    sha = str((config.get("extra") or {}).get("weights_sha256") or "")
    if config.get("kind") != "starter" or not sha:
        return ""
    from memesearch.models.starter.encoder import committed_weights

    if committed_weights(sha) is not None:
        return ""
    name = recorded.get("name", "starter")
    return (
        f" The index was built with starter weights (SHA-256 {sha[:12]}…) that this installation does not "
        f"ship — an earlier {name!r} release or a local export: rebuild it with this installation "
        f"(memesearch index FILES --index NEW --model {name})."
    )


def check_encoder(enc: Any) -> None:
    if not (enc.supports_images and enc.supports_text):
        raise ConfigError(
            f"encoder {enc.name!r} cannot read both images and text; an index needs one that does "
            "(e.g. 'starter', 'clip:<dir>', 'tiny-clip')"
        )


def versions() -> dict[str, str]:
    from memesearch.models.encoders.base import package_versions

    v = package_versions("memesearch", "faiss-cpu", "numpy", "pillow", "rapidocr", "av", "torch")
    v["sqlite"] = sqlite3.sqlite_version
    v["python"] = platform.python_version()
    return v


def new_index_info(encoder: Any, encoder_config: dict[str, Any], config: IndexConfig) -> dict[str, Any]:
    """The ``index.json`` of a new index built with ``encoder`` (its config ``encoder_config``) and
    settings ``config``."""
    return {
        "format": INDEX_FORMAT,
        "format_version": INDEX_FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "encoder": {
            "name": encoder.name,
            "dim": int(encoder.dim),
            "signature": encoder_signature(encoder_config),
            "config": encoder_config,
        },
        "config": config.to_dict(),
        "versions": versions(),
    }
