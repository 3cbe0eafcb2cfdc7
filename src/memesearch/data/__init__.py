"""Record types, readers and writers for every dataset format (SPEC §4), and dataset builders."""

from memesearch.data.records import MEDIA_TYPES, Dataset, Item, MediaType, Query, Split

__all__ = ["MEDIA_TYPES", "Dataset", "Item", "MediaType", "Query", "Split"]
