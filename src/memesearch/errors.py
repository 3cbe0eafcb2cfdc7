"""Domain errors. Every error a user can cause says what was received, what was expected and how to fix it.

The CLI turns any :class:`MemesearchError` into one readable line and a non-zero exit code; library
callers catch the specific subclasses.
"""

from __future__ import annotations

from pathlib import Path


def printable(text: str) -> str:
    r"""``text`` with control and format characters (newlines, tabs, RTL overrides, undecodable bytes)
    escaped, so that a file name cannot break a one-line message or reorder it on screen; other Unicode
    (CJK, emoji) is kept.

    Example::

        >>> printable("a\nb\u202e.png")
        'a\\nb\\u202e.png'
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


class MemesearchError(Exception):
    """Base class of every error memesearch raises on purpose."""

    #: The argument at fault, when the error is about one (``"text"``, ``"k"``, ``"emotion"``, ...): the
    #: HTTP API names it in its error details. Set by the code that knows which argument it checked.
    field: str | None = None


class DataFormatError(MemesearchError):
    """A file does not follow the format it was read as.

    Carries the location (file, line or record) so that the message can point at the bad row::

        DataFormatError("expected 4 tab-separated columns, got 3", path="run.tsv", line=17,
                        hint="each line is: label<TAB>query<TAB>docid<TAB>score")
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        record: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.record = record
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
            if self.record is not None:
                where += f" (record {self.record})"
            where += ": "
        elif self.record is not None:
            where = f"record {self.record}: "
        text = where + self.reason
        if self.hint:
            text += f" — {self.hint}"
        return text


class ConfigError(MemesearchError):
    """A configuration value or option is invalid."""


class UnknownNameError(MemesearchError):
    """A registry lookup failed; the message lists the valid names."""
