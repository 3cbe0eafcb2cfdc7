"""Startup recovery of an index folder: uploaded media files that no item row references.

An upload is written in the order *media file, then row*: the file ``media/<sha256>.<ext>`` is written
atomically (temporary file, ``fsync``, rename), then one SQLite transaction adds the item with its
vectors. A removal goes the other way: the row goes first, then the file. So a process killed at any
moment (``kill -9`` included) leaves no row without its file, only, at worst:

* a media file whose row was never committed (killed between the two steps of an upload, or an upload
  whose enrichment failed after its file was written), or whose row was removed before the file was;
* a temporary ``.<name>.tmp`` file of a write that never reached its rename.

Nothing references these files, and nothing ever will: the next upload of the same bytes rewrites the
file. A writable open of the index (which holds the writer lock, :mod:`memesearch.index.writer_lock`, so
no other process is between the two steps of an upload) removes them (:func:`remove_orphan_media`);
:func:`orphan_media` only lists them. Only ``media/`` is looked at: the files of indexed folders belong
to the user and are never touched.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from memesearch.index.store import Store

logger = logging.getLogger(__name__)

MEDIA_DIR = "media"


def referenced_media(store: Store) -> set[str]:
    """The ``stored_path`` (``media/<name>``) of every item that has one."""
    with store._lock:
        rows = store.conn.execute("SELECT stored_path FROM items WHERE stored_path IS NOT NULL").fetchall()
    return {str(r[0]) for r in rows}


def orphan_media(root: Path, store: Store) -> list[Path]:
    """Files under ``root/media`` that no item references (temporary files of unfinished writes
    included), sorted; folders and links inside ``media/`` are left alone."""
    folder = root / MEDIA_DIR
    if not folder.is_dir():
        return []
    keep = referenced_media(store)
    found: list[Path] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False) and f"{MEDIA_DIR}/{entry.name}" not in keep:
                found.append(Path(entry.path))
    return sorted(found)


def remove_orphan_media(root: Path, store: Store) -> list[Path]:
    """Delete :func:`orphan_media` (call only while holding the writer lock); returns what went."""
    gone: list[Path] = []
    try:
        orphans = orphan_media(root, store)
    except OSError as exc:  # an unreadable media/ folder: nothing to clean, and no reason to refuse to open
        logger.warning("could not list %s for unreferenced files: %s", root / MEDIA_DIR, exc)
        return gone
    for path in orphans:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            logger.warning("could not remove the unreferenced media file %s: %s", path, exc)
            continue
        gone.append(path)
    if gone:
        logger.info(
            "removed %d media file(s) no item references (uploads interrupted before their row was "
            "written, or removals interrupted before their file went)",
            len(gone),
        )
    return gone
