"""One writer per index: an exclusive lock on ``DIR/write.lock``, held for as long as the index is open
for writing.

Two processes writing one index would each keep their own in-memory vector stores and save them over
each other's (and drop SQLite's copies of vectors the other never saved): items would lose their vectors.
So a writable :class:`~memesearch.index.Index` takes this lock when it opens and lets it go when it
closes; a second writer (``memesearch index`` while ``memesearch serve`` runs, or the other way round) is
refused at once with :class:`IndexBusyError`, whose message names the process that holds the lock and
says what to do. Readers (``memesearch search``, :meth:`Index.open` with ``readonly=True``) never take
it: SQLite's WAL lets them read while the writer writes.

The lock is :func:`fcntl.flock` on an open file: the kernel lets it go when the holder exits in any way
(``kill -9`` included), so it is never stale. The holder writes who it is (pid, command, start time)
into the file, for the message only::

    lock = WriterLock(root)
    lock.acquire()          # IndexBusyError when another process writes this index
    ...
    lock.release()
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from memesearch.errors import MemesearchError

LOCK_FILE = "write.lock"


class IndexBusyError(MemesearchError):
    """Another process has the index open for writing."""


def _command() -> str:
    argv = [os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    text = " ".join(argv)
    return text if len(text) <= 120 else text[:117] + "..."


def holder(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Who wrote the lock file last (``{"pid", "command", "since"}``), or None when unknown."""
    try:
        data = json.loads((Path(root) / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def busy_message(root: Path, who: dict[str, Any] | None) -> str:
    if who:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(who.get("since", 0))))
        by = f"process {who.get('pid')} ({who.get('command', '?')}, since {since})"
    else:
        by = "another process"
    return (
        f"the index {root} is open for writing by {by}; an index has one writer at a time. Wait for it "
        "to finish or stop it (with a running `memesearch serve`, add files through its upload API "
        "instead); searches still work meanwhile (`memesearch search` only reads)"
    )


class WriterLock:
    """The writer lock of the index at ``root`` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.path = self.root / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, wait_s: float = 0.0) -> None:
        """Take the lock, retrying for up to ``wait_s`` seconds; :class:`IndexBusyError` when another
        process (or another writable open in this process) holds it."""
        if self._fd is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise IndexBusyError(busy_message(self.root, holder(self.root))) from None
                time.sleep(0.1)
            except BaseException:
                os.close(fd)
                raise
        self._fd = fd
        record = {"pid": os.getpid(), "command": _command(), "since": round(time.time(), 3)}
        with contextlib.suppress(OSError):  # who holds it is for messages only
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)

    def release(self) -> None:
        """Let the lock go (closing the file does); a no-op when not held."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
