"""A folder of media files as a dataset (read only): every image, GIF and video under it, recursively.

Files are recognised by content (:mod:`memesearch.data.formats.media`), not by name: a PNG named
``.jpg`` is an image, a GIF named ``.dat`` is found. Each becomes an item with ``id`` = ``path`` = its
path relative to the folder (POSIX separators) and its media type; there are no queries. The one split
is named ``"all"``. Hidden files and folders (name starting with ``.``) are skipped.

A file whose name promises media (``.png``, ``.mp4``, ...) but whose content is not media (a text file,
a truncated download) is a bad row: an error, or with ``skip_bad`` skipped and reported. Other files
(``README.txt``, JSON sidecars) are not items and are passed over (logged at debug level).
"""

from __future__ import annotations

import logging
from pathlib import Path

from memesearch.data.formats.media import MEDIA_EXTENSIONS, detect_media, iter_files, scan_media
from memesearch.data.formats.report import RowErrors
from memesearch.data.records import Dataset, Item, Split
from memesearch.errors import DataFormatError

__all__ = ["SPLIT", "detect_media", "read", "scan_media"]

logger = logging.getLogger(__name__)

SPLIT = "all"


def read(path: Path, errors: RowErrors, *, recursive: bool = True) -> Dataset:
    """Read every media file under the folder ``path`` as an item of the split ``"all"``."""
    if not path.is_dir():
        raise DataFormatError(
            "expected a folder of images, GIFs or videos", path=path, hint="pass the folder, not a file"
        )
    root = path.resolve()
    items: list[Item] = []
    passed_over = 0
    for file in iter_files(root, recursive=recursive):
        rel = file.relative_to(root).as_posix()
        try:
            kind = detect_media(file)
        except OSError as exc:
            errors.bad(DataFormatError(f"cannot read the file: {exc.strerror or exc}", path=file))
            continue
        if kind is None:
            if file.suffix.lower() in MEDIA_EXTENSIONS:
                errors.bad(
                    DataFormatError(
                        f"named like media ({file.suffix}), but the content is not an image or video",
                        path=file,
                        hint="replace the file (truncated download?) or remove it",
                    )
                )
            else:
                passed_over += 1
                logger.debug("not media, passed over: %s", file)
            continue
        items.append(Item(id=rel, path=rel, media=kind))
    if passed_over:
        logger.info("%s: %d files that are not media were passed over", root, passed_over)
    return Dataset(name=root.name, splits={SPLIT: Split(SPLIT, items=items)}, root=root)
