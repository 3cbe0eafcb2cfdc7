"""WebP thumbnails of indexed items for the web page, cached in the index folder's ``thumbs/``.

The cache file is named by the item's content hash and the size, so it never goes stale: other content
is another item. A read-only index serves thumbnails without caching them.
"""

from __future__ import annotations

from typing import Any

from memesearch.enrich.media import decode_media, make_thumbnail
from memesearch.utils.io import atomic_write_bytes


def thumbnail(index: Any, item_id: str, size: int = 256) -> bytes | None:
    """WebP thumbnail (longest side ``size``, clamped to 16..1024) of an item's first frame; None for
    unknown items or items whose file is gone."""
    size = int(min(max(size, 16), 1024))
    item = index.get(item_id)
    if item is None:
        return None
    cached = index.root / "thumbs" / f"{item.sha256}-{size}.webp"
    if cached.is_file():
        return cached.read_bytes()
    src = index.media_path(item_id)
    if src is None:
        return None
    decoded = decode_media(str(src), max_frames=1, max_pixels=index.config.max_pixels)
    data = make_thumbnail(decoded.frames[0], size)
    if not index.readonly:
        atomic_write_bytes(cached, data)
    return bytes(data)
