"""Compare views of two emoji benchmark builds: are their held-out views the same benchmark?

Two builds that differ only in their train styles (or in ``--transparent``) must hold the same ``test``
and ``test-seen`` views — items, queries, judgements and, as the models see them (composited on white
by :func:`~memesearch.models.encoders.images.load_image`), the same pixels — so that numbers measured
on either are comparable. ``scripts/check_emoji_views.py`` runs this on two built folders.

Example::

    >>> diff = compare_views("data/emoji", "data/emoji-v2")   # doctest: +SKIP
    >>> diff["test"]["same"]                                   # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.data.formats import read_dataset
from memesearch.data.records import Split

#: the views of the held-out style
HELDOUT_VIEWS: tuple[str, ...] = ("test", "test-seen")


def _pixels(root: Path, split: Split) -> list[np.ndarray]:
    from memesearch.models.encoders.images import load_image

    out = []
    for it in split.items:
        path = it.resolve_path(root)
        out.append(np.asarray(load_image(path), dtype=np.int16) if path is not None else np.zeros(0))
    return out


def compare_views(a: str | Path, b: str | Path, views: Sequence[str] = HELDOUT_VIEWS) -> dict[str, Any]:
    """Per view: item ids, item records (less the image path's folder), queries with their judgements
    and decoded pixels of build ``a`` vs build ``b``; ``{"same": bool, ...counts and first differences}``
    per view, and ``"same"`` over all of them."""
    da, db = read_dataset(a, fmt="native"), read_dataset(b, fmt="native")
    out: dict[str, Any] = {}
    for view in views:
        sa, sb = da[view], db[view]
        ids = [it.id for it in sa.items] == [it.id for it in sb.items]
        records = ids and all(
            (x.path, x.captions, x.emotions, x.meta) == (y.path, y.captions, y.emotions, y.meta)
            for x, y in zip(sa.items, sb.items, strict=True)
        )
        queries = [(q.id, q.text, q.qrels, q.meta) for q in sa.queries] == [
            (q.id, q.text, q.qrels, q.meta) for q in sb.queries
        ]
        max_diff = -1
        if ids:
            diffs = [
                int(np.abs(x - y).max()) if x.shape == y.shape else 255
                for x, y in zip(_pixels(Path(str(da.root)), sa), _pixels(Path(str(db.root)), sb), strict=True)
            ]
            max_diff = max(diffs, default=0)
        out[view] = {
            "items": [len(sa.items), len(sb.items)],
            "queries": [len(sa.queries), len(sb.queries)],
            "same_item_ids": ids,
            "same_item_records": records,
            "same_queries_and_qrels": queries,
            "max_pixel_difference": max_diff,
            "same": bool(ids and records and queries and max_diff == 0),
        }
    out["same"] = all(out[v]["same"] for v in views)
    return out
