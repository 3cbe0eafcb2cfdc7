"""utils.io: atomic writes (complete or absent, permissions like open()), hashes, the progress helper."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from memesearch.utils.io import (
    atomic_dir,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    progress_bar,
    sha256_bytes,
    sha256_file,
)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_writes_are_complete_and_keep_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        p = tmp_path / "deep" / "a.txt"
        atomic_write_text(p, "héllo\n")
        assert p.read_text(encoding="utf-8") == "héllo\n" and mode(p) == 0o644
        p.chmod(0o600)
        atomic_write_bytes(p, b"\x00\x01")
        assert p.read_bytes() == b"\x00\x01" and mode(p) == 0o600  # a replaced file keeps its mode
        atomic_write_json(tmp_path / "j.json", {"é": 1})
        assert (tmp_path / "j.json").read_text(encoding="utf-8") == '{\n  "é": 1\n}\n'
        with atomic_path(tmp_path / "lib.bin") as tmp:
            tmp.write_bytes(b"written by name")
        assert (tmp_path / "lib.bin").read_bytes() == b"written by name" and mode(
            tmp_path / "lib.bin"
        ) == 0o644
    finally:
        os.umask(old)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    p = tmp_path / "keep.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(p) as fh:
        fh.write("half")
        raise RuntimeError("crash")
    assert p.read_text() == "old" and sorted(x.name for x in tmp_path.iterdir()) == ["keep.txt"]
    with pytest.raises(ValueError, match="mode"), atomic_open(p, "a"):
        pass


def test_atomic_dir_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        final = tmp_path / "deep" / "model"
        with atomic_dir(final) as tmp:
            assert not final.exists()
            (tmp / "a.bin").write_bytes(b"a")
        assert (final / "a.bin").read_bytes() == b"a" and mode(final) == 0o755
        with pytest.raises(RuntimeError), atomic_dir(tmp_path / "failed") as tmp:
            (tmp / "half").write_text("x")
            raise RuntimeError("crash")
        assert sorted(x.name for x in tmp_path.iterdir()) == ["deep"]  # no folder, no temporary
        with pytest.raises(FileExistsError), atomic_dir(final):
            pass
        with atomic_dir(final, replace=True) as tmp:
            (tmp / "b.bin").write_bytes(b"b")
        assert sorted(x.name for x in final.iterdir()) == ["b.bin"]
        assert sorted(x.name for x in final.parent.iterdir()) == ["model"]  # the old one is gone
        (tmp_path / "empty").mkdir()
        with atomic_dir(tmp_path / "empty") as tmp:  # an empty folder is replaced without replace=True
            (tmp / "c").write_text("c")
        assert (tmp_path / "empty" / "c").read_text() == "c"
    finally:
        os.umask(old)


def test_hashes_and_progress(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)
    (tmp_path / "b").write_bytes(data)
    assert sha256_file(tmp_path / "b") == hashlib.sha256(data).hexdigest() == sha256_bytes(data)
    seen = []
    with progress_bar("x", 0) as advance:  # nothing to do: a no-op, never a bar
        advance(3)
        seen.append(True)
    with progress_bar("x", 5, enabled=False) as advance:
        advance(5)
    assert seen == [True]
