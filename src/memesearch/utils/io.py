"""One home for small file chores: atomic writes, content hashes, a progress bar.

Every file memesearch writes that another run may read (index.json, FAISS files, checkpoints' pointers,
dataset files, plots, thumbnails) goes through a temporary file in the same folder, ``fsync`` and
``os.replace``: a crash at any moment leaves the old file or the new one, never half of one.

Example::

    >>> from pathlib import Path
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a" / "b.json"
    >>> atomic_write_json(p, {"x": 1})
    >>> p.read_text()
    '{\\n  "x": 1\\n}\\n'
    >>> sha256_bytes(b"")[:8]
    'e3b0c442'
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

T = TypeVar("T")

_CHUNK = 1 << 20  # bytes read per step by sha256_file
_UMASK_LOCK = threading.Lock()


def _file_mode(final: Path) -> int:
    """The permissions a replaced file keeps, or what ``open()`` would give a new one (0666 less the
    umask): ``mkstemp`` creates 0600 files, which would hide written files from other users."""
    try:
        return final.stat().st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


# ---- atomic writes -------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open ``path`` for writing (``"w"``: UTF-8 text with ``\\n`` line ends, ``"wb"``: bytes); the file
    appears at ``path`` only when the block completes (fsync + rename), never half-written."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', got {mode!r}")
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        if mode == "w":
            fh: IO[Any] = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        else:
            fh = os.fdopen(fd, "wb")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode(final))
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_json(path: str | os.PathLike[str], value: Any, *, indent: int | None = 2) -> None:
    """Write ``value`` as UTF-8 JSON (non-ASCII kept as is, a final newline), atomically."""
    atomic_write_text(path, json.dumps(value, indent=indent, ensure_ascii=False) + "\n")


def fsync_file(path: str | os.PathLike[str]) -> None:
    """Flush a file another library wrote (FAISS, safetensors) to disk before it is renamed into place."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` for a library that writes by file name (FAISS, matplotlib,
    safetensors); it is fsynced and renamed to ``path`` when the block completes, removed otherwise."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        fsync_file(tmp)
        os.chmod(tmp, _file_mode(final))
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, replace: bool = False) -> Iterator[Path]:
    """A temporary folder beside ``path`` that becomes ``path`` only when the block completes; on any
    error it is removed and ``path`` is left as it was. Every file in it is fsynced before the rename.

    An existing empty ``path`` is replaced; a non-empty one only with ``replace=True`` (it is moved
    aside, the new folder renamed in, then the old one deleted), else :class:`FileExistsError`.
    """
    final = Path(path)
    if final.exists() and not replace and (not final.is_dir() or any(final.iterdir())):
        raise FileExistsError(f"{final} already exists")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    old: Path | None = None
    try:
        yield tmp
        for child in tmp.rglob("*"):  # contents on disk before the rename makes them visible
            if child.is_file():
                fsync_file(child)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        if final.exists():
            old = final.with_name(f".{final.name}.{os.getpid()}.old")
            os.replace(final, old)
        os.replace(tmp, final)
    except BaseException:
        if old is not None and not final.exists():
            os.replace(old, final)
            old = None
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


# ---- reading files that may not be files -------------------------------------------------------------
class NotRegularFileError(OSError):
    """The path is a named pipe, a device or a socket: reading it could block forever or never end."""


def open_regular(path: str | os.PathLike[str]) -> io.BufferedReader:
    """Open a regular file for binary reading; a named pipe, device or socket raises
    :class:`NotRegularFileError` and a folder :class:`IsADirectoryError`, without blocking.

    A plain ``open()`` of a named pipe waits for a writer that may never come (``memesearch search --image
    pipe.png`` hung). The type is checked before opening (a device is never opened) and again on the open
    descriptor (the path may change in between), which is opened non-blocking and made blocking after.

    Example::

        >>> os.mkfifo(p := Path(tempfile.mkdtemp()) / "pipe.png")
        >>> open_regular(p)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        memesearch.utils.io.NotRegularFileError: [Errno 22] not a regular file (a named pipe, ...
    """

    def check(mode: int) -> None:
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", os.fspath(path))
        if not stat.S_ISREG(mode):
            message = "not a regular file (a named pipe, a device or a socket)"
            raise NotRegularFileError(errno.EINVAL, message, os.fspath(path))

    check(os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        check(os.fstat(fd).st_mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# ---- content hashes -------------------------------------------------------------------------------
def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks (constant memory for any file size).

    Raises :class:`OSError` (e.g. ``FileNotFoundError``, :class:`NotRegularFileError` for a named pipe or a
    device, which could block or never end) when the file cannot be read.
    """
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with open_regular(path) as fh:
        while True:
            n = fh.readinto(view)
            if not n:
                break
            digest.update(view[:n])
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data`` (same value as :func:`sha256_file` on a file holding these bytes)."""
    return hashlib.sha256(data).hexdigest()


# ---- JSON from outside ----------------------------------------------------------------------------
def loads_json(text: str, **kwargs: Any) -> Any:
    """``json.loads`` for text that came from a file or a request, where every failure is a
    :class:`json.JSONDecodeError`, so one ``except`` clause covers them all.

    ``json.loads`` raises other errors on two hostile inputs besides bad syntax: ``RecursionError`` on
    arrays or objects nested deeper than Python's recursion limit (``[[[[...`` 100,000 deep, 200 KB), and
    ``ValueError`` on an integer longer than ``sys.get_int_max_str_digits()`` (4,300 digits).

    Example::

        >>> loads_json("[" * 100_000 + "]" * 100_000)
        Traceback (most recent call last):
        json.decoder.JSONDecodeError: nested too deeply (more than ~1,000 levels): line 1 column 1 (char 0)
    """
    try:
        return json.loads(text, **kwargs)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply (more than ~1,000 levels)", text, 0) from None
    except ValueError as exc:  # an integer with more digits than Python converts
        raise json.JSONDecodeError(str(exc).split(";")[0], text, 0) from None


# ---- progress ------------------------------------------------------------------------------------
@contextlib.contextmanager
def progress_bar(
    description: str, total: int, *, enabled: bool = True, transient: bool = True
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``: a rich bar on stderr (done/total, rate, time left) when ``enabled`` and
    there is work; otherwise a no-op, so callers never branch on whether a bar is shown."""
    if not enabled or total <= 0:
        yield _ignore
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class _Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:.1f}/s")

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Rate(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=transient,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def progress_iter(items: Iterable[T], total: int, description: str, *, enabled: bool = True) -> Iterator[T]:
    """Iterate ``items`` while :func:`progress_bar` counts them (a plain iteration when not ``enabled``)."""
    with progress_bar(description, total, enabled=enabled) as advance:
        for item in items:
            yield item
            advance(1)


def _ignore(n: int) -> None:
    return None


__all__ = [
    "atomic_dir",
    "atomic_open",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "fsync_file",
    "progress_bar",
    "progress_iter",
    "sha256_bytes",
    "sha256_file",
]
