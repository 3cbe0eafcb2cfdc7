"""Ingest: files, folders, lists and datasets in, finished items written to an index.

The pipeline (:mod:`memesearch.ingest.pipeline`) runs hash and exact dedup -> prepare (decode, perceptual
hash, OCR; :mod:`memesearch.ingest.prepare`, in worker processes) -> enrichers
(:mod:`memesearch.enrich.enrichers`) -> embed -> near-duplicates -> ``Index.write_batch``, each stage timed.
Prepare, enrich and embed run in an engine (:mod:`memesearch.ingest.engines`): here (``local``) or as Ray
Data operators on a Ray cluster (``ray[:ADDRESS]``, :mod:`memesearch.ingest.ray_engine`).

    >>> from memesearch.index import Index                                # doctest: +SKIP
    >>> from memesearch.ingest import add_paths
    >>> with Index.create("memes.idx", model="starter") as idx:
    ...     print(add_paths(idx, ["~/Pictures/memes"]).stages)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memesearch.utils.lazy import lazy_api

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.ingest.engine_spec import parse_engine
    from memesearch.ingest.engines import Engine, LocalEngine
    from memesearch.ingest.inputs import InputRecord, expand_inputs
    from memesearch.ingest.pipeline import Ingestor, add_bytes, add_paths
    from memesearch.ingest.ray_engine import RayEngine
    from memesearch.ingest.records import IngestFailure, IngestSummary
    from memesearch.ingest.stages import STAGES, default_workers

__all__ = [
    "STAGES",
    "Engine",
    "IngestFailure",
    "IngestSummary",
    "Ingestor",
    "InputRecord",
    "LocalEngine",
    "RayEngine",
    "add_bytes",
    "add_paths",
    "default_workers",
    "expand_inputs",
    "parse_engine",
]

__getattr__, __dir__ = lazy_api(
    __name__,
    {
        "Engine": "memesearch.ingest.engines",
        "LocalEngine": "memesearch.ingest.engines",
        "parse_engine": "memesearch.ingest.engine_spec",
        "RayEngine": "memesearch.ingest.ray_engine",
        "InputRecord": "memesearch.ingest.inputs",
        "expand_inputs": "memesearch.ingest.inputs",
        "Ingestor": "memesearch.ingest.pipeline",
        "add_bytes": "memesearch.ingest.pipeline",
        "add_paths": "memesearch.ingest.pipeline",
        "default_workers": "memesearch.ingest.stages",
        "STAGES": "memesearch.ingest.stages",
        "IngestFailure": "memesearch.ingest.records",
        "IngestSummary": "memesearch.ingest.records",
    },
    globals(),
)
