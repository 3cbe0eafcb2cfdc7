"""One-call Python functions mirroring the CLI: ``index_media``, ``search_index``, ``search_image``,
``remove_items``. Each opens the index, does one thing and closes it; for many calls keep an
:class:`~memesearch.index.Index` and a :class:`~memesearch.search.Searcher` open instead.

Example::

    >>> import memesearch as ms                                                   # doctest: +SKIP
    >>> ms.index_media(["~/Pictures/memes"], index="memes.idx")                   # like `memesearch index`
    >>> for hit in ms.search_index("so sleepy", index="memes.idx", k=5).hits:     # like `memesearch search`
    ...     print(hit.rank, hit.score, hit.item.paths[0], hit.item.emotion_words)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from memesearch.ingest.records import IngestSummary
from memesearch.search.results import SearchResponse

PathLike = str | os.PathLike[str]


def index_media(
    paths: Sequence[PathLike],
    *,
    index: PathLike,
    model: str | None = None,
    workers: int | None = None,
    engine: str = "local",
    progress: bool = False,
    source: str | None = None,
    splits: Sequence[str] | None = None,
    prune: bool = False,
    **settings: Any,
) -> IngestSummary:
    """Index files, folders, lists or dataset folders into ``index`` (created when new, with ``model``
    and ``settings`` — :class:`~memesearch.index.IndexConfig` fields — else opened as it is). ``engine``:
    ``local``, ``ray`` or ``ray:ADDRESS`` (:func:`memesearch.ingest.engines.parse_engine`; checked before
    the index is opened)."""
    from memesearch.index import Index
    from memesearch.ingest import add_paths
    from memesearch.ingest.engine_spec import parse_engine

    runner = parse_engine(engine, workers=workers)
    runner.check()
    root = Path(index)
    idx = (
        Index.open(root, model=model)
        if (root / "index.json").exists()
        else Index.create(root, model=model or "starter", **settings)
    )
    with idx:
        try:
            return add_paths(
                idx, paths, engine=runner, progress=progress, source=source, splits=splits, prune=prune
            )
        finally:
            runner.close()


def search_index(
    text: str,
    *,
    index: PathLike,
    k: int = 20,
    emotion: str | Sequence[str] | None = None,
    media: str | Sequence[str] | None = None,
    source: str | None = None,
    explain: bool = False,
    objects: bool = False,
) -> SearchResponse:
    """Text search of ``index`` (see :meth:`memesearch.search.Searcher.search`; ``objects``: rank by the
    items' regions, an index built with ``objects="auto"`` or another objects mode)."""
    opts = {"k": k, "emotion": emotion, "media": media, "source": source, "explain": explain}
    return _with_searcher(index, lambda s: s.search(text, objects=objects, **opts))


def search_image(
    image: Any,
    *,
    index: PathLike,
    k: int = 20,
    emotion: str | Sequence[str] | None = None,
    media: str | Sequence[str] | None = None,
    source: str | None = None,
    explain: bool = False,
    box: Sequence[float] | None = None,
) -> SearchResponse:
    """Image-to-image search of ``index`` with a path, bytes or a PIL image (``box``: by the one object in
    that box of the image)."""
    opts = {"k": k, "emotion": emotion, "media": media, "source": source, "explain": explain}
    return _with_searcher(index, lambda s: s.search_image(image, box=box, **opts))


def _with_searcher(index: PathLike, call: Callable[[Any], SearchResponse]) -> SearchResponse:
    from memesearch.search import Searcher

    searcher = Searcher.open(Path(index))
    try:
        return call(searcher)
    finally:
        searcher.index.close()


def remove_items(targets: Sequence[str], *, index: PathLike) -> int:
    """Remove items by id, file path or folder; returns how many items were removed."""
    from memesearch.index import Index

    with Index.open(index) as idx:
        return idx.remove(targets)
