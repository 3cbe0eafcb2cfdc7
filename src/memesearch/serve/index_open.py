"""Opening the served index: for writing when no other process writes it, else read-only.

An index has one writer at a time (:mod:`memesearch.index.writer_lock`). When ``memesearch index`` (or
another server) holds it, the server still starts: it opens the index read-only, searches work and follow
the other writer's new items (:mod:`memesearch.index.follow`), and upload and delete answer 409
``index-busy`` with the holder's name (:func:`check_writable`) until the server is restarted after the other
writer finished.
"""

from __future__ import annotations

import logging
from pathlib import Path

from memesearch.index import Index
from memesearch.index.writer_lock import IndexBusyError
from memesearch.serve.http import ApiError

logger = logging.getLogger(__name__)


def open_for_serving(index_dir: str | Path, *, model: str | None = None) -> tuple[Index, str | None]:
    """The index, and why it is read-only (the writer lock's message) or None when it is writable."""
    try:
        return Index.open(index_dir, model=model), None
    except IndexBusyError as busy:
        reason = str(busy)
    logger.warning("serving read-only: %s", reason)
    return Index.open(index_dir, model=model, readonly=True), reason


def busy_warning(reason: str) -> str:
    """The line ``memesearch serve`` prints when it serves read-only because another process writes."""
    return (
        f"warning: {reason}. Serving it read-only: searches work and follow its writes; upload and delete "
        "answer 409 until this server is restarted after it finished"
    )


def check_writable(index: Index, reason: str | None) -> None:
    """Raise the 409 ``index-busy`` answer when the served index is read-only."""
    if index.readonly:
        why = reason or f"the index {index.root} was opened read-only"
        raise ApiError(
            409,
            "index-busy",
            f"uploads and deletes are off on this server: {why}. Restart the server once the other writer "
            "finished",
        )
