"""A read-only index follows the writes of another process: its vector stores stay in step with SQLite.

A read-only :class:`~memesearch.index.Index` loads its vector stores once, when it opens. Its SQLite
reads always see the latest committed state, and so do the parts of search built on the change logs (the
lexical branch, the per-item tables). Without following, a long-lived reader (a Python program, a
notebook, a read-only server) opened while ``memesearch index`` writes would find new items through their
words but not have their vectors: hits without an image score, items that image search cannot find.

So before each vector read, a read-only index compares the database's generation with the one its stores
reflect; when another process committed since, it follows (:meth:`VectorFollower.sync`), in one read
snapshot of the database:

* from the item log (:mod:`memesearch.index.change_logs`), the rowids written and removed since the last
  position; removed ones leave the stores, written ones come in with the vectors SQLite still holds
  (``pending_vectors``: a writer keeps them there until it saves its stores);
* when a written item's vectors are no longer in SQLite (the writer saved its stores and dropped the
  copies), when the index keeps regions, or has no item log (an old index): the stores are opened again
  from the saved files plus what SQLite holds, as on open.

Only FAISS stores (in-memory copies of files) are followed; a Milvus store is shared by its processes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memesearch.index import change_logs
from memesearch.index.store import Store, blob_to_vec
from memesearch.index.vector_fields import open_field_store
from memesearch.index.vector_store import VectorConfig, VectorStore, parse_store_spec

logger = logging.getLogger(__name__)


def follows(spec: str, readonly: bool) -> bool:
    """Whether a read-only open of a store ``spec`` follows the writes of others (FAISS only)."""
    return readonly and parse_store_spec(spec)[0] == "faiss"


class VectorFollower:
    """What a read-only index needs to follow: where its stores are, and the generation and item log
    position they reflect."""

    def __init__(
        self, root: Path, spec: str, fields: Sequence[str], dim: int, config: VectorConfig, store: Store
    ) -> None:
        self.root, self.spec, self.fields, self.dim, self.config = root, spec, tuple(fields), dim, config
        self.store = store
        self.generation = -1
        self.position = 0
        self.reopened = 0  # how often sync had to open the stores again (for tests and logs)

    def open(self) -> dict[str, VectorStore]:
        """Every field's store as of one snapshot, remembering that snapshot's generation and position."""
        out: dict[str, VectorStore] = {}
        try:
            with self.store.snapshot():
                self.generation = self.store.generation
                self.position = self.store.item_log_position()
                for f in self.fields:
                    out[f], _ = open_field_store(
                        self.root, self.spec, f, self.dim, self.config, self.store, readonly=True
                    )
        except BaseException:
            for vs in out.values():
                vs.close()
            raise
        return out

    def sync(self, stores: dict[str, VectorStore]) -> dict[str, VectorStore]:
        """``stores`` brought in step with the database's latest commit (the same dict when nothing
        changed or the changes could be applied; new stores, the old ones closed, when reopened)."""
        if self.store.generation == self.generation:
            return stores
        with self.store.snapshot():
            if self._apply(stores):
                return stores
        fresh = self.open()
        for vs in stores.values():
            vs.close()
        self.reopened += 1
        logger.debug("read-only index: vector stores reopened at generation %d", self.generation)
        return fresh

    def _apply(self, stores: dict[str, VectorStore]) -> bool:
        """Apply the item log since :attr:`position` (inside a snapshot); False when it cannot be done
        from SQLite alone (then the caller reopens)."""
        store = self.store
        generation = store.generation
        if "region" in stores or store.legacy or store.get_kv(change_logs.ITEM_LOG_KEY) is None:
            return False
        position, changes = store.item_changes(self.position)
        final: dict[int, bool] = {}
        for rowid, live in changes:  # the last entry of a rowid wins (a removed rowid can be reused)
            final[int(rowid)] = bool(live)
        written = np.array(sorted(r for r, live in final.items() if live), dtype=np.int64)
        touched = np.array(sorted(final), dtype=np.int64)
        vectors = _pending(store, written.tolist(), self.dim)
        if any(int(r) not in vectors or vectors[int(r)][0] is None for r in written):
            return False  # saved by the writer and dropped from SQLite: only the saved files have them
        for name, vs in stores.items():
            if touched.size:
                present = touched[vs.contains(touched)]
                if present.size:
                    vs.remove(present.tolist())
            ids: list[int] = []
            vecs: list[np.ndarray] = []
            for r in written.tolist():
                vec = vectors[r][0 if name == "image" else 1]
                if vec is not None:
                    ids.append(r)
                    vecs.append(vec)
            if ids:
                vs.add(np.array(ids, np.int64), np.stack(vecs), None)
        self.generation, self.position = generation, position
        return True


def _pending(
    store: Store, rowids: list[int], dim: int
) -> dict[int, tuple[np.ndarray | None, np.ndarray | None]]:
    """``rowid -> (image vector, text vector)`` SQLite still holds for ``rowids``."""
    out: dict[int, tuple[np.ndarray | None, np.ndarray | None]] = {}
    with store._lock:
        for start in range(0, len(rowids), 500):
            part = rowids[start : start + 500]
            marks = ",".join("?" * len(part))
            for rid, image, text in store.conn.execute(
                f"SELECT item_rowid, image_vec, text_vec FROM pending_vectors WHERE item_rowid IN ({marks})",
                part,
            ):
                out[int(rid)] = (blob_to_vec(image, dim), blob_to_vec(text, dim))
    return out
