"""Record types, readers and writers for every dataset format (SPEC §4), and dataset builders.

Importing this package is light (no numpy): the names below load :mod:`memesearch.data.records` on first
use, so a module such as :mod:`memesearch.data.emotions` can be imported on its own (the ``--server``
client of ``memesearch search`` prints emotion names without loading the rest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memesearch.utils.lazy import lazy_api

__all__ = ["MEDIA_TYPES", "Dataset", "Item", "MediaType", "Query", "Split"]

__getattr__, __dir__ = lazy_api(__name__, dict.fromkeys(__all__, "memesearch.data.records"), globals())

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.data.records import MEDIA_TYPES, Dataset, Item, MediaType, Query, Split
