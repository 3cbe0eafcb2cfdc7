"""The user cache folder of memesearch: what is computed once per machine and kept between processes
(ONNX files of the starter tower, emotion prompt vectors, text embeddings, passage tokens).

Everything in it is keyed by what it was computed from, so a stale entry is never read; deleting the
folder only costs the time to compute things again.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$MEMESEARCH_CACHE_DIR`` or ``$XDG_CACHE_HOME/memesearch`` (default ``~/.cache/memesearch``)."""
    explicit = os.environ.get("MEMESEARCH_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "memesearch"
