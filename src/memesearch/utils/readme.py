"""Generated blocks of a Markdown file: the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``.

The report scripts (``scripts/report_*.py``, ``scripts/fit_default_calibration.py``) write their tables into
the README this way, so that every number there comes from a committed command and is rewritten, not
edited, when the command runs again.

Example::

    >>> text = "intro\\n<!-- t:start -->\\nold\\n<!-- t:end -->\\nrest"
    >>> replace_block(text, "t", "| a |")
    'intro\\n<!-- t:start -->\\n| a |\\n<!-- t:end -->\\nrest'
"""

from __future__ import annotations

from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of block ``name``."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with block ``name`` holding ``body`` (one line break after the start marker and before the
    end marker); :class:`KeyError` when ``text`` has no such block."""
    start, end = markers(name)
    if start not in text or end not in text.split(start, 1)[1]:
        raise KeyError(f"no {start} ... {end} block")
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    return f"{head}{start}\n{body}\n{end}{tail}"


def write_block(path: str | Path, name: str, body: str, *, missing_ok: bool = False) -> bool:
    """Write ``body`` into block ``name`` of the file at ``path``; whether it was written. A file without
    the block raises :class:`KeyError`, or with ``missing_ok`` is left as it is (False)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        updated = replace_block(text, name, body)
    except KeyError:
        if missing_ok:
            return False
        raise
    path.write_text(updated, encoding="utf-8")
    return True


__all__ = ["markers", "replace_block", "write_block"]
