"""Generated README blocks: replaced between their markers, nothing else touched; a missing block is an
error unless the caller allows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from memesearch.utils.readme import markers, replace_block, write_block


def test_replace_block_keeps_everything_around_it() -> None:
    start, end = markers("t")
    text = f"intro\n{start}\nold\nlines\n{end}\nrest {start}"
    out = replace_block(text, "t", "| new |")
    assert out == f"intro\n{start}\n| new |\n{end}\nrest {start}"
    assert replace_block(out, "t", "| new |") == out  # idempotent
    with pytest.raises(KeyError):
        replace_block("no block here", "t", "x")
    with pytest.raises(KeyError):
        replace_block(f"{end}\n{start}\n", "t", "x")  # an end marker only before the start is no block


def test_write_block(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    start, end = markers("t")
    path.write_text(f"a\n{start}\n{end}\nb\n", encoding="utf-8")
    assert write_block(path, "t", "body")
    assert path.read_text(encoding="utf-8") == f"a\n{start}\nbody\n{end}\nb\n"
    assert not write_block(path, "other", "x", missing_ok=True)
    with pytest.raises(KeyError):
        write_block(path, "other", "x")
    assert path.read_text(encoding="utf-8") == f"a\n{start}\nbody\n{end}\nb\n"
