"""Opening an index's vector stores in step with its database (the crash rule of every back end).

One store per embedded field (``image``, ``text``) lives at ``DIR/vectors/<field>.<backend>``. Opening one:

1. the saved copy, when it records the database's current generation (:func:`open_vector_store`);
2. otherwise (a crash between the SQLite and the vector-store writes, a process killed before it saved,
   a failed vector-store write) a store for the same path rebuilt from the vectors SQLite holds — FAISS
   in memory, Milvus by writing only the rows that differ — then saved, unless the index is read-only;
3. except a read-only open of a store shared with other processes (a Milvus server): a writer may be
   mid-batch, so it is searched as it is (results are read back from SQLite, so rows the database no
   longer has never show up) and a writable open repairs it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memesearch.index.faiss_store import VectorConfig
from memesearch.index.records import NewItem
from memesearch.index.store import Store
from memesearch.index.vector_store import (
    RowFields,
    RowFilter,
    VectorStore,
    new_vector_store,
    open_vector_store,
    parse_store_spec,
)

logger = logging.getLogger(__name__)


def vector_path(root: Path, spec: str, field: str) -> Path:
    """Where the store of ``field`` is saved (FAISS: the index file; Milvus: its sidecar)."""
    return root / "vectors" / f"{field}.{parse_store_spec(spec)[0]}"


def keeps_fields(vs: VectorStore) -> bool:
    """Whether ``vs`` keeps each row's filter fields (so they must be given to ``add`` and ``rebuild``)."""
    return vs.can_filter(RowFilter())


def row_fields(store: Store, rowids: np.ndarray) -> list[RowFields]:
    """The filter fields SQLite holds for ``rowids``, in order."""
    known = store.filter_fields(rowids.tolist())
    return [RowFields(*known[int(r)]) if int(r) in known else RowFields() for r in rowids]


def new_item_fields(batch: Sequence[NewItem]) -> list[RowFields]:
    """The filter fields of items about to be written."""
    return [
        RowFields(media=n.item.media, source=n.item.source, emotions=tuple(n.item.emotion_words))
        for n in batch
    ]


def open_field_store(
    root: Path, spec: str, field: str, dim: int, config: VectorConfig, store: Store, *, readonly: bool
) -> VectorStore:
    """The vector store of ``field``, consistent with the database (see the module docstring)."""
    gen = store.generation
    path = vector_path(root, spec, field)
    loaded = open_vector_store(spec, path, dim, config, gen)
    if loaded is not None:
        return loaded
    vs = new_vector_store(spec, dim, config, path)
    if readonly and parse_store_spec(spec)[1] is not None:
        logger.warning(
            "the %s vectors (%s) do not record database generation %d: a writer is busy or stopped between "
            "two writes; searching them as they are (open the index for writing to repair them)",
            field,
            spec,
            gen,
        )
        return vs
    ids_parts, vec_parts = [], []
    for ids, vecs in store.iter_vectors(f"{field}_vec", dim):
        ids_parts.append(ids)
        vec_parts.append(vecs)
    ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, np.int64)
    vecs = np.concatenate(vec_parts) if vec_parts else np.zeros((0, dim), np.float32)
    if ids.size or len(vs):
        logger.info("rebuilding the %s vectors from the database (%d)", field, ids.size)
        vs.rebuild(ids, vecs, row_fields(store, ids) if keeps_fields(vs) else None)
    if not readonly:
        vs.save(path, gen)
    return vs


__all__ = ["keeps_fields", "new_item_fields", "open_field_store", "row_fields", "vector_path"]
