"""What a query may be: its text, k, emotion and media filters, checked before anything is searched.

Every front door (CLI, HTTP, Python) goes through these, so a bad query gets the same one-line
:class:`QueryError` (or :class:`~memesearch.errors.UnknownNameError` for a media type) everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memesearch.errors import MemesearchError, UnknownNameError

#: Longest accepted query, in characters (a chat message, not a document).
MAX_QUERY_CHARS = 2000
MAX_K = 1000
MEDIA_TYPES = ("image", "gif", "video")


class QueryError(MemesearchError):
    """A query that cannot be searched (empty, too long, bad k); ``field`` names the argument at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def check_query(text: Any) -> str:
    """The stripped query, or :class:`QueryError` saying what is wrong with it."""
    if not isinstance(text, str):
        raise QueryError(f"the query must be text, got {type(text).__name__}", field="text")
    stripped = text.strip()
    if not stripped:
        raise QueryError("the query is empty; type a few words (e.g. 'so sleepy' or '笑哭了')", field="text")
    if len(stripped) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query has {len(stripped)} characters; the limit is {MAX_QUERY_CHARS}. "
            "Search with a shorter message",
            field="text",
        )
    return stripped


def check_k(k: Any) -> int:
    try:
        value = int(k)
    except (TypeError, ValueError, OverflowError):  # OverflowError: k = inf
        raise QueryError(f"k must be a whole number between 1 and {MAX_K}, got {k!r}", field="k") from None
    if not 1 <= value <= MAX_K:
        raise QueryError(f"k must be between 1 and {MAX_K}, got {value}", field="k")
    return value


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in (p.strip() for p in value.split(",")) if v]
    return [str(v).strip() for v in value if str(v).strip()]


def check_emotions(value: str | Sequence[str] | None) -> list[str]:
    """Canonical emotion words for a filter (English or Chinese words and synonyms accepted)."""
    from memesearch.data.emotions import normalize_emotion

    out: list[str] = []
    for word in _as_list(value):
        try:
            canon = normalize_emotion(word)
        except UnknownNameError as exc:
            exc.field = "emotion"
            raise
        if canon not in out:
            out.append(canon)
    return out


def check_media(value: str | Sequence[str] | None) -> list[str]:
    out: list[str] = []
    for m in _as_list(value):
        m = m.lower()
        if m not in MEDIA_TYPES:
            error = UnknownNameError(f"unknown media type {m!r}; valid: {', '.join(MEDIA_TYPES)}")
            error.field = "media"
            raise error
        if m not in out:
            out.append(m)
    return out
