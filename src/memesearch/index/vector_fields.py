"""Opening an index's vector stores in step with its database (the crash rule of every back end).

One store per embedded field (``image``, ``text``) lives at ``DIR/vectors/<field>.<backend>``. A vector is
kept in SQLite only until the stores saved it (:mod:`memesearch.index.vector_copies`). Opening, inside one
read snapshot of the database:

1. the saved copy, when it records at least the generation up to which SQLite dropped its copies
   (:func:`open_vector_store`); when it records exactly the database's generation and SQLite holds no
   pending vectors, it is used as it is;
2. otherwise it is brought in step: the ids the database no longer has are removed, the vectors SQLite
   still holds (``pending_vectors``: written after the last save, or saved but not yet dropped when a crash
   came between the two) are added, a reused rowid's old vector replaced. A missing or unreadable saved
   copy starts from an empty store (Milvus: reattached to its collection) — and when SQLite no longer holds
   the vectors it lacks, the open fails with :class:`LostVectorsError` naming them instead of dropping
   items. A writable open then saves what changed and drops the SQLite copies (:func:`settle`);
3. except a read-only open of a store shared with other processes (a Milvus server): a writer may be
   mid-batch, so it is searched as it is (results are read back from SQLite, so rows the database no
   longer has never show up) and a writable open repairs it.

An index in the legacy layout (vectors in ``items`` columns) opens as before — the saved copy at the
database's generation, else rebuilt from SQLite — and a writable open then moves it to the new layout.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from memesearch.index import region_rows
from memesearch.index.records import NewItem
from memesearch.index.store import Store
from memesearch.index.vector_copies import (
    LostVectorsError,
    drop_saved,
    dropped_generation,
    live_rowids,
    lost_message,
    migrate_legacy,
    pending_rowids,
    text_rowids,
    unsaved_all,
)
from memesearch.index.vector_store import (
    RowFields,
    RowFilter,
    VectorConfig,
    VectorStore,
    new_vector_store,
    open_vector_store,
    parse_store_spec,
)

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.index.config import IndexConfig

logger = logging.getLogger(__name__)

#: The embedded fields, each with its own vector store: ``image`` (every item) and ``text`` (items with
#: context text). Until saved, their vectors wait in SQLite (``pending_vectors.image_vec``/``text_vec``).
#: An index with an objects mode has a third, ``region`` (one vector per region, ids ``rowid * 64 + k``:
#: :mod:`memesearch.index.region_rows`; pending in ``pending_region_vectors``).
VECTOR_FIELDS: tuple[str, ...] = ("image", "text")
REGION_FIELD = "region"
#: ``NewItem.vectors`` key of an animated item's per-frame vectors ``(F, dim)`` (SQLite only: frame_rows)
FRAME_FIELD = "frames"


def vector_fields_of(config: IndexConfig) -> tuple[str, ...]:
    """The vector fields an index with ``config`` keeps."""
    return (*VECTOR_FIELDS, REGION_FIELD) if config.objects != "none" else VECTOR_FIELDS


def vector_path(root: Path, spec: str, field: str) -> Path:
    """Where the store of ``field`` is saved (FAISS: the index file; Milvus: its sidecar)."""
    return root / "vectors" / f"{field}.{parse_store_spec(spec)[0]}"


def keeps_fields(vs: VectorStore) -> bool:
    """Whether ``vs`` keeps each row's filter fields (so they must be given to ``add`` and ``rebuild``)."""
    return vs.can_filter(RowFilter())


def row_fields(store: Store, rowids: np.ndarray, field: str = "image") -> list[RowFields]:
    """The filter fields SQLite holds for ``rowids``, in order (for ``region``: ids of regions, which
    carry their item's fields)."""
    if field == "region":
        rowids = region_rows.owners(rowids)
    known = store.filter_fields(rowids.tolist())
    return [RowFields(*known[int(r)]) if int(r) in known else RowFields() for r in rowids]


def new_item_fields(batch: Sequence[NewItem]) -> list[RowFields]:
    """The filter fields of items about to be written."""
    return [
        RowFields(media=n.item.media, source=n.item.source, emotions=tuple(n.item.emotion_words))
        for n in batch
    ]


def _open_legacy(
    root: Path, spec: str, field: str, dim: int, config: VectorConfig, store: Store, *, readonly: bool
) -> tuple[VectorStore, bool]:
    gen = store.generation
    path = vector_path(root, spec, field)
    loaded = open_vector_store(spec, path, dim, config, gen)
    if loaded is not None:
        return loaded, False
    vs = new_vector_store(spec, dim, config, path)
    if readonly and parse_store_spec(spec)[1] is not None:
        _warn_as_is(field, spec, gen)
        return vs, False
    ids, vecs = unsaved_all(store, field, dim)
    if ids.size or len(vs):
        logger.info("rebuilding the %s vectors from the database (%d)", field, ids.size)
        vs.rebuild(ids, vecs, row_fields(store, ids) if keeps_fields(vs) else None)
    return vs, True


def _warn_as_is(field: str, spec: str, gen: int) -> None:
    logger.warning(
        "the %s vectors (%s) do not record database generation %d: a writer is busy or stopped between "
        "two writes; searching them as they are (open the index for writing to repair them)",
        field,
        spec,
        gen,
    )


def open_field_store(
    root: Path, spec: str, field: str, dim: int, config: VectorConfig, store: Store, *, readonly: bool
) -> tuple[VectorStore, bool]:
    """The vector store of ``field``, in step with the database (see the module docstring), and whether it
    changed since it was saved. Call inside :meth:`Store.snapshot`."""
    if store.legacy:
        return _open_legacy(root, spec, field, dim, config, store, readonly=readonly)
    gen = store.generation
    path = vector_path(root, spec, field)
    dropped = dropped_generation(store)
    loaded = open_vector_store(spec, path, dim, config, dropped)
    pending = pending_rowids(store, field)
    if loaded is not None and getattr(loaded, "saved_generation", None) == gen and pending.size == 0:
        return loaded, False
    if loaded is None:
        vs = new_vector_store(spec, dim, config, path)  # Milvus: reattached to its collection
        if dropped > 0 and len(vs) == 0:
            live = text_rowids(store) if field == "text" else live_rowids(store, field)
            lost = int((~np.isin(live, pending)).sum())
            if lost:
                vs.close()
                problem = "is missing, unreadable or older than the database's last save"
                raise LostVectorsError(lost_message(field, path, lost, problem))
    else:
        vs = loaded
    if readonly and parse_store_spec(spec)[1] is not None:
        if loaded is None or len(pending):
            _warn_as_is(field, spec, gen)
        return vs, False
    try:
        changed = reconcile(vs, store, field, dim) or loaded is None
        if field in ("image", "region"):  # every item has an image vector, every region a vector
            live = live_rowids(store, field)
            lost = int((~vs.contains(live)).sum())
            if lost:
                raise LostVectorsError(lost_message(field, path, lost, "does not hold them"))
    except BaseException:
        vs.close()
        raise
    return vs, changed


def reconcile(vs: VectorStore, store: Store, field: str, dim: int) -> bool:
    """Bring ``vs`` in step with the database: remove the ids it no longer has, add the vectors it still
    holds that ``vs`` lacks, replace those that differ (a reused rowid). Returns whether ``vs`` changed."""
    changed = False
    live = live_rowids(store, field)
    have = vs.ids()
    extra = have[~np.isin(have, live)]
    pend = pending_rowids(store, field)
    ids, vecs = unsaved_all(store, field, dim)
    no_vec = pend[~np.isin(pend, ids)]  # a reused rowid whose new item has no vector of this field
    gone = np.concatenate([extra, no_vec[vs.contains(no_vec)]]) if no_vec.size else extra
    if gone.size:
        vs.remove(gone.tolist())
        changed = True
    present = vs.contains(ids)
    differ = np.zeros(ids.size, dtype=bool)
    if present.any():
        at = np.flatnonzero(present)
        differ[at] = ~np.all(vs.reconstruct(ids[at]) == vecs[at], axis=1)
    if differ.any():  # replace vectors in place: rebuild (an HNSW graph cannot replace one)
        keep = vs.ids()
        keep = keep[~np.isin(keep, ids)]
        all_ids = np.concatenate([keep, ids])
        all_vecs = np.concatenate([vs.reconstruct(keep), vecs])
        order = np.argsort(all_ids, kind="stable")
        all_ids, all_vecs = all_ids[order], all_vecs[order]
        vs.rebuild(all_ids, all_vecs, row_fields(store, all_ids, field) if keeps_fields(vs) else None)
        return True
    add = ~present
    if add.any():
        vs.add(ids[add], vecs[add], row_fields(store, ids[add], field) if keeps_fields(vs) else None)
        changed = True
    if changed:
        logger.info(
            "%s vectors brought in step with the database: %d removed, %d added",
            field,
            int(gone.size),
            int(add.sum()),
        )
    return changed


def open_field_stores(
    root: Path,
    spec: str,
    fields: Sequence[str],
    dim: int,
    config: VectorConfig,
    store: Store,
    *,
    readonly: bool,
) -> dict[str, VectorStore]:
    """Every field's store (:func:`open_field_store`, all in one database snapshot); a writable open saves
    the changed ones and drops the SQLite copies they now hold (:func:`settle`)."""
    out: dict[str, VectorStore] = {}
    changed: dict[str, bool] = {}
    try:
        with store.snapshot():
            gen = store.generation
            for f in fields:
                out[f], changed[f] = open_field_store(root, spec, f, dim, config, store, readonly=readonly)
        if not readonly:
            for f, vs in out.items():  # every store must record the generation the drop records
                if changed[f] or store.legacy or getattr(vs, "saved_generation", None) != gen:
                    vs.save(vector_path(root, spec, f), gen)
            settle(out, store, gen)
    except BaseException:
        for vs in out.values():
            vs.close()
        raise
    return out


def settle(stores: dict[str, VectorStore], store: Store, generation: int) -> None:
    """After every store saved at ``generation``: drop the SQLite copies of their vectors (a legacy index
    is migrated), unless a store's writes failed (its sidecar is then stale and the copies are needed)."""
    if any(getattr(vs, "broken", False) for vs in stores.values()):
        return
    if store.legacy:
        migrate_legacy(store, generation)
    else:
        drop_saved(store, generation)


__all__ = [
    "keeps_fields",
    "new_item_fields",
    "open_field_store",
    "open_field_stores",
    "reconcile",
    "row_fields",
    "settle",
    "vector_path",
]
