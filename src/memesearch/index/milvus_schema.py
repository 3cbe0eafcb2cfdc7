"""The row layout of a Milvus vector collection, shared by everything that writes, checks or filters it.

One collection per vector field (``image``, ``text``) with rows ``(id = SQLite rowid, vec, media, source,
emotion_<word> flags)``: ``media`` and ``source`` are VARCHAR fields and each emotion of the vocabulary is
a BOOL field, so a :class:`~memesearch.index.vector_store.RowFilter` becomes a scalar expression (ARRAY
fields with ``array_contains`` are scanned row by row; measured: ``bench/bench_milvus_filters.py``).

The vector index follows ``VectorConfig`` as for FAISS: ``FLAT`` (exact) up to ``exact_below`` rows,
``HNSW`` (``M = hnsw_m``, ``efConstruction = ef_construction``) above; metric ``IP``.

This module holds the layout (field names, :func:`schema_key` recorded in the sidecar), how one row's
:class:`~memesearch.index.vector_store.RowFields` become its scalar values, how a filter becomes an
expression, the schema and index parameters a collection is created with, and the reading and checking
of the sidecar ``vectors/<field>.milvus`` that records a saved collection (the store writes it). It
imports pymilvus only inside :func:`collection_schema` (Milvus is an optional extra).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from memesearch.data.emotions import EMOTION_WORDS
from memesearch.index.milvus_connect import pymilvus_module
from memesearch.index.vector_store import RowFields, RowFilter, VectorConfig

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: one BOOL field per emotion word of the vocabulary
EMOTION_FIELDS: dict[str, str] = {
    w: f"emotion_{w}" for w in EMOTION_WORDS if w.isidentifier() and w.isascii()
}
SCALAR_FIELDS: tuple[str, ...] = ("media", "source", *EMOTION_FIELDS.values())
MAX_MEDIA = 16
MAX_SOURCE = 512


def schema_key() -> str:
    """What the sidecar records of the layout: a sidecar with another key belongs to another schema."""
    return f"v{SCHEMA_VERSION}:" + ",".join(SCALAR_FIELDS)


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """The JSON object of a sidecar, None when it is missing or unreadable."""
    try:
        side = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        logger.debug("Milvus sidecar %s not usable (%s)", path, exc)
        return None
    return side if isinstance(side, dict) else None


def sidecar_fits(side: dict[str, Any], generation: int, dim: int, location: str | None) -> bool:
    """Whether a sidecar records ``generation`` or a later one, ``dim``, ``location`` and this layout."""
    return (
        int(side.get("generation", -1)) >= int(generation)
        and int(side.get("dim", -1)) == int(dim)
        and side.get("location") == location
        and side.get("schema") == schema_key()
    )


def schema_matches(desc: dict[str, Any], dim: int) -> bool:
    """Whether a collection described by ``describe_collection`` has exactly this layout and ``dim``."""
    fields = {f["name"]: f for f in desc.get("fields", [])}
    vec = fields.get("vec", {})
    return int(vec.get("params", {}).get("dim", -1)) == dim and set(fields) == {"id", "vec", *SCALAR_FIELDS}


def collection_schema(dim: int) -> Any:
    """The pymilvus schema of a collection of ``dim``-dimensional vectors (no dynamic fields)."""
    pymilvus = pymilvus_module()
    DataType = pymilvus.DataType
    schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("media", DataType.VARCHAR, max_length=MAX_MEDIA)
    schema.add_field("source", DataType.VARCHAR, max_length=MAX_SOURCE)
    for name in EMOTION_FIELDS.values():
        schema.add_field(name, DataType.BOOL)
    return schema


def index_params(client: Any, kind: str, config: VectorConfig) -> Any:
    """The ``vec`` index parameters of ``kind`` (``"hnsw"`` or ``"exact"``) for ``client``."""
    params = client.prepare_index_params()
    if kind == "hnsw":
        params.add_index(
            field_name="vec",
            index_type="HNSW",
            metric_type="IP",
            params={"M": config.hnsw_m, "efConstruction": config.ef_construction},
        )
    else:
        params.add_index(field_name="vec", index_type="FLAT", metric_type="IP")
    return params


def row_scalars(f: RowFields) -> dict[str, Any]:
    """The scalar fields of one row (``SCALAR_FIELDS``)."""
    emos = set(f.emotions)
    out: dict[str, Any] = {"media": f.media[:MAX_MEDIA], "source": (f.source or "")[:MAX_SOURCE]}
    out.update({name: word in emos for word, name in EMOTION_FIELDS.items()})
    return out


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a double-quoted literal with backslash escapes


def filter_expression(where: RowFilter) -> str | None:
    """The Milvus boolean expression of ``where`` ("" = everything; None = nothing can match, e.g. an
    emotion outside the vocabulary or a media type longer than the field)."""
    parts: list[str] = []
    if where.media:
        parts.append("media in [" + ", ".join(_quote(m) for m in where.media) + "]")
    if where.source is not None:
        parts.append(f"source == {_quote(where.source)}")
    if where.emotions:
        known = [EMOTION_FIELDS[e] for e in where.emotions if e in EMOTION_FIELDS]
        if not known:
            return None
        parts.append("(" + " or ".join(known) + ")")
    return " and ".join(parts)


__all__ = [
    "EMOTION_FIELDS",
    "MAX_SOURCE",
    "SCALAR_FIELDS",
    "SCHEMA_VERSION",
    "collection_schema",
    "filter_expression",
    "index_params",
    "read_sidecar",
    "row_scalars",
    "schema_key",
    "schema_matches",
    "sidecar_fits",
]
