"""What the API routes share: the serving state, the dependency that hands it out, and input checks.

``create_app`` puts one :class:`ServeState` on ``app.state.memesearch``; a route takes it as a
:data:`StateDep` parameter (503 ``not-ready`` until the index is open)::

    @router.get("/api/example")
    def example(state: StateDep) -> dict[str, int]:
        return {"items": len(state.index)}
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from memesearch.index import Index
from memesearch.search import Searcher
from memesearch.serve.http import ApiError, short_repr
from memesearch.serve.settings import ServeSettings

# Item ids are hex digests (16 digits by default); anything else cannot name an item. Checked before any
# lookup, so ids like '../../etc/passwd' never reach the index or the file system.
_ID_RE = re.compile(r"^[0-9a-f]{16}$")


@dataclass
class ServeState:
    """What the routes share: settings, the open index, its searcher and the write lock."""

    settings: ServeSettings
    index: Index
    searcher: Searcher
    write_lock: threading.Lock
    #: why the index is read-only (another process writes it: index_open), None when writable
    read_only_reason: str | None = None


def get_state(request: Request) -> ServeState:
    state: ServeState | None = getattr(request.app.state, "memesearch", None)
    if state is None:
        raise ApiError(503, "not-ready", "the index is not open yet; retry in a moment")
    return state


StateDep = Annotated[ServeState, Depends(get_state)]


def check_id(item_id: str) -> str:
    """``item_id`` when it can name an item (16 hex digits), else a 404 ``not-found``."""
    if not _ID_RE.match(item_id):
        raise ApiError(404, "not-found", f"no item with id {short_repr(item_id)}: ids are 16 hex digits")
    return item_id


def split_names(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated filter values, blanks dropped: ['a,b', 'c'] -> ['a', 'b', 'c']."""
    if not values:
        return None
    names = [v.strip() for value in values for v in re.split(r"[,，]", value) if v.strip()]
    return names or None
