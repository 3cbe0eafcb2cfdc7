"""memesearch: emotion-, text- and object-aware search for memes, stickers and video covers.

The public API is imported lazily so that ``import memesearch`` stays light (no torch, no FAISS)::

    import memesearch as ms
    ds = ms.read_dataset("data/emoji")              # any format in SPEC §4
    report = ms.evaluate_run(run, qrels)            # SPEC §5 metrics
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memesearch.utils.lazy import lazy_api

__version__ = "0.1.0"

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
    "evaluate_run": "memesearch.eval.metrics",
    "evaluate_scores": "memesearch.eval.metrics",
    # errors
    "MemesearchError": "memesearch.errors",
    "DataFormatError": "memesearch.errors",
}

__all__ = ["__version__", *_API]


__getattr__, __dir__ = lazy_api(__name__, _API, globals())


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from memesearch.data.formats import FORMATS, read_dataset, write_dataset  # noqa: F401
    from memesearch.data.records import Dataset, Item, Query, Split  # noqa: F401
    from memesearch.errors import DataFormatError, MemesearchError  # noqa: F401
    from memesearch.eval.metrics import evaluate_run, evaluate_scores  # noqa: F401
    from memesearch.eval.run import Run  # noqa: F401
