"""An index directory: SQLite (WAL) metadata + a vector store per embedded field, describing itself.

:class:`Index` is a storage facade: it opens and creates the folder, reads items, writes whole batches of
items with their vectors in one transaction, removes, and answers the questions search asks (filters ->
rowids, nearest vectors, exact scores of given rowids). It does not decode, read text, tag or embed: the
ingest pipeline (:mod:`memesearch.ingest`) does, and hands it finished :class:`NewItem` records.

This module holds opening, closing and saving the vector stores, reading, and what search asks; the writes
(batches, paths, uploads, removals, settings) come from :class:`~memesearch.index.index_writes.IndexWrites`.

Layout of ``DIR``::

    index.json          format, memesearch version, encoder (name, config, signature), settings, versions
    meta.sqlite         items, paths, emotions, enrichment cache, and the vectors not saved in vectors/ yet
    vectors/image.faiss item embeddings (query -> image branch), + .json sidecar (generation, kind)
    vectors/text.faiss  caption/OCR passage embeddings (query -> text branch)
    vectors/region.faiss region embeddings (query -> objects branch; only with an objects mode)
                        (``--store milvus``: vectors/milvus.db, the milvus-lite database, and a sidecar
                        vectors/<field>.milvus per collection; ``milvus:URI``: the sidecars only)
    media/              uploaded files, named by their SHA-256 (never by the client's file name)
    thumbs/             thumbnail cache (written by the server)
    write.lock          held by the one process that has the index open for writing (writer_lock)

Example::

    >>> from memesearch.ingest import add_paths                   # doctest: +SKIP
    >>> idx = Index.create("memes.idx", model="starter")
    >>> summary = add_paths(idx, ["~/Pictures/memes"], progress=True)
    >>> idx.remove([summary.indexed[0]])
    1
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.errors import ConfigError
from memesearch.index import frame_rows, region_rows
from memesearch.index import vector_fields as vf
from memesearch.index.config import IndexConfig, encoder_signature
from memesearch.index.follow import VectorFollower, follows
from memesearch.index.index_writes import IndexWrites
from memesearch.index.info import (
    EncoderMismatchError,
    check_encoder,
    default_calibration,
    encoder_dict,
    load_encoder,
    new_index_info,
    read_index_info,
    unshipped_weights_hint,
)
from memesearch.index.records import IndexedItem
from memesearch.index.recovery import remove_orphan_media
from memesearch.index.store import Store
from memesearch.index.vector_fields import FRAME_FIELD as FRAME_FIELD  # re-exported (moved there)
from memesearch.index.vector_fields import REGION_FIELD, vector_fields_of, vector_path
from memesearch.index.vector_fields import VECTOR_FIELDS as VECTOR_FIELDS  # re-exported (moved there)
from memesearch.index.vector_store import RowFilter, VectorStore
from memesearch.index.writer_lock import WriterLock
from memesearch.objects.regions import Region
from memesearch.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

#: :meth:`Index.save_if_due` after small writes (an upload, a removal): save the vector stores once this many
#: items changed since the last save, or the changes reach 1/SAVE_SHARE of the index, or SAVE_AFTER_S seconds
#: passed — not on every write (saving a 1M-item HNSW writes ~2 GB). Until then the unsaved vectors wait in
#: SQLite (a crash loses nothing; an open replays at most about SAVE_AFTER_ITEMS of them).
SAVE_AFTER_ITEMS = 500
SAVE_SHARE = 64
SAVE_AFTER_S = 600.0


class Index(IndexWrites):
    """One index directory (see the module docstring). Thread-safe: writes and vector access are
    serialised by one lock (hold it across several reads with :meth:`reading`); SQLite readers in other
    processes keep working during writes (WAL)."""

    def __init__(
        self, root: Path, info: dict[str, Any], config: IndexConfig, encoder: Any, *, readonly: bool
    ) -> None:
        self.root = root
        self.info = info
        self.config = config
        self.encoder = encoder
        self.readonly = readonly
        self._lock = threading.RLock()
        # one writer per index (writer_lock): taken before anything is written, let go by close()
        self._writer = WriterLock(root)
        if not readonly:
            self._writer.acquire()
        try:
            self.store = Store(root / "meta.sqlite", readonly=readonly)
        except BaseException:
            self._writer.release()
            raise
        self.dim = int(encoder.dim)
        try:
            spec, fields = config.vector_store, vector_fields_of(config)
            # a read-only FAISS view follows the writes of other processes (index/follow.py)
            self._follower = (
                VectorFollower(root, spec, fields, self.dim, config.vectors, self.store)
                if follows(spec, readonly)
                else None
            )
            self._vectors: dict[str, VectorStore] = (
                self._follower.open()
                if self._follower is not None
                else vf.open_field_stores(
                    root, spec, fields, self.dim, config.vectors, self.store, readonly=readonly
                )
            )
            if not readonly:  # uploads a crash cut off between their media file and their row
                remove_orphan_media(root, self.store)
        except BaseException:
            self.store.close()
            self._writer.release()
            raise
        self._dirty = False
        self._unsaved = 0  # items written or removed since the last save
        self._saved_at = time.monotonic()

    # ---- opening -------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: str | os.PathLike[str],
        *,
        model: str | None = None,
        encoder: Any = None,
        config: IndexConfig | None = None,
        exist_ok: bool = False,
        **settings: Any,
    ) -> Index:
        """Create a new index at ``root`` (``exist_ok``: open it when it is already an index)."""
        path = Path(root).expanduser()
        if (path / "index.json").exists():
            if exist_ok:
                return cls.open(path, model=model, encoder=encoder)
            raise ConfigError(f"{path} is already an index; open it or choose another folder")
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{path} exists and is not a folder; choose a folder for the index")
        if path.is_dir() and any(path.iterdir()):
            raise ConfigError(f"{path} is not empty and not an index; choose an empty or new folder")
        cfg = config or IndexConfig()
        if model is not None:
            cfg.model = model
        if settings:
            cfg = IndexConfig.from_dict({**cfg.to_dict(), **settings})
        enc = encoder if encoder is not None else load_encoder(cfg.model)
        check_encoder(enc)
        if encoder is not None:
            cfg.model = enc.name
        enc_cfg = encoder_dict(enc)
        if cfg.calibration is None and "calibration" not in settings:
            cfg.calibration = default_calibration(enc.name, encoder_signature(enc_cfg))
        info = new_index_info(enc, enc_cfg, cfg)
        existed = path.is_dir()
        path.mkdir(parents=True, exist_ok=True)
        for sub in ("vectors", "media", "thumbs"):
            (path / sub).mkdir(exist_ok=True)
        atomic_write_json(path / "index.json", info)
        try:
            return cls(path, info, cfg, enc, readonly=False)
        except BaseException:
            # e.g. an unreachable Milvus server: leave no half-made index behind (the folder was empty)
            for child in path.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            if not existed:
                path.rmdir()
            raise

    @classmethod
    def open(
        cls,
        root: str | os.PathLike[str],
        *,
        model: str | None = None,
        encoder: Any = None,
        readonly: bool = False,
    ) -> Index:
        """Open an existing index. ``model`` (or ``encoder``) must be the encoder it was built with."""
        path = Path(root).expanduser()
        info = read_index_info(path)
        recorded = info["encoder"]
        if model is not None and model != recorded["name"]:
            raise EncoderMismatchError(
                f"the index {path} was built with encoder {recorded['name']!r} (dim {recorded['dim']}); "
                f"you asked for {model!r}. Search it without --model (or with --model {recorded['name']}), "
                "or build a new index with the other encoder"
            )
        enc = encoder if encoder is not None else load_encoder(recorded["name"], recorded)
        signature = encoder_signature(encoder_dict(enc))
        if (
            enc.name != recorded["name"]
            or int(enc.dim) != int(recorded["dim"])
            or signature != recorded["signature"]
        ):
            raise EncoderMismatchError(
                f"the index {path} was built with encoder {recorded['name']!r} (dim {recorded['dim']}, "
                f"signature {recorded['signature']}); the encoder given is {enc.name!r} (dim {enc.dim}, "
                f"signature {signature}). "
                "Its vectors would not be comparable: use the same encoder or rebuild the index."
                + unshipped_weights_hint(recorded)
            )
        cfg = IndexConfig.from_dict(dict(info["config"]))
        return cls(path, info, cfg, enc, readonly=readonly)

    def close(self) -> None:
        """Save the vector stores (if changed), let go of them and close the database."""
        with self._lock:
            try:
                if self._dirty and not self.readonly:
                    self.flush()
            finally:
                try:
                    for vs in self._vectors.values():
                        vs.close()
                    self.store.close()
                finally:
                    self._writer.release()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.store.count()

    def flush(self, *, force: bool = False) -> None:
        """Save every vector store for the current database generation (atomic) when anything changed
        since the last save (or ``force``), then drop the SQLite copies of the vectors they now hold."""
        with self._lock:
            if not (self._dirty or force):
                return
            gen = self.store.generation
            for name, vs in self._vectors.items():
                vs.save(vector_path(self.root, self.config.vector_store, name), gen)
            self._dirty = False
            self._unsaved = 0
            self._saved_at = time.monotonic()
            vf.settle(self._vectors, self.store, gen)  # the saved stores now hold the only copy

    def save_if_due(self) -> bool:
        """After a small write: :meth:`flush` when enough changed since the last save (``SAVE_AFTER_ITEMS``
        items, 1/``SAVE_SHARE`` of the index, or ``SAVE_AFTER_S`` seconds); else leave the new vectors in
        SQLite, where a crash does not lose them. :meth:`close` always saves. Returns whether it saved."""
        with self._lock:
            if not self._dirty or self.readonly:
                return False
            size = max(1, len(self._vectors["image"]))
            due = (
                self._unsaved >= SAVE_AFTER_ITEMS
                or self._unsaved * SAVE_SHARE >= size
                or time.monotonic() - self._saved_at >= SAVE_AFTER_S
            )
            if due:
                self.flush()
            return due

    @contextlib.contextmanager
    def reading(self) -> Iterator[Index]:
        """Hold the index still (no write in this process) across several reads."""
        with self._lock:
            yield self

    def _follow(self) -> None:
        """A read-only view: take in what other processes committed since (call under ``_lock``)."""
        if self._follower is not None:
            self._vectors = self._follower.sync(self._vectors)

    # ---- reading items -------------------------------------------------------------------------
    def get(self, item_id: str) -> IndexedItem | None:
        """The item with id ``item_id`` (16 hex digits) or None."""
        rowid = self.rowid_of(item_id)
        return None if rowid is None else self.store.items_by_rowid([rowid]).get(rowid)

    def items(self, rowids: Sequence[int]) -> dict[int, IndexedItem]:
        """Items by rowid (rowids no longer in the index are left out)."""
        return self.store.items_by_rowid(rowids)

    def rowid_of(self, item_id: str) -> int | None:
        """The rowid of item ``item_id``, or None (also for strings that are not item ids)."""
        return self.store.rowid_of(item_id) if looks_like_id(item_id) else None

    def rowid_by_sha(self, sha256: str) -> int | None:
        return self.store.rowid_by_sha(sha256)

    def path_entry(self, path: str) -> tuple[int, int, int] | None:
        """``(item_rowid, size, mtime_ns)`` recorded for an indexed file path, or None."""
        return self.store.path_entry(path)

    def paths_under(self, folder: str) -> list[str]:
        return self.store.paths_under(folder)

    def all_paths(self) -> list[str]:
        return self.store.all_paths()

    def media_path(self, item_id: str) -> Path | None:
        """A readable file holding the item's bytes (a stored upload or an original path)."""
        rowid = self.rowid_of(item_id)
        if rowid is None:
            return None
        stored = self.store.stored_path(rowid)
        if stored and (self.root / stored).is_file():
            return self.root / stored
        item = self.store.items_by_rowid([rowid]).get(rowid)
        for p in item.paths if item else []:
            if Path(p).is_file():
                return Path(p)
        return None

    def stats(self) -> dict[str, Any]:
        s = self.store.stats()
        s.update(
            {
                "index": str(self.root),
                "encoder": self.info["encoder"]["name"],
                "dim": self.dim,
                "created": self.info.get("created"),
                "vectors": {name: vs.describe() for name, vs in self._vectors.items()},
                "config": self.config.to_dict(),
            }
        )
        return s

    @property
    def generation(self) -> int:
        """Bumped by every committed write: caches built over the index compare it."""
        return self.store.generation

    def text_rows(self) -> list[tuple[int, str]]:
        """``(rowid, passage)`` of every item with context text (captions, OCR)."""
        return self.store.text_rows()

    def text_changes(self, after: int = 0) -> tuple[int, list[tuple[int, str | None]]]:
        """Passages written (``(rowid, passage)``) and removed (``(rowid, None)``) after position ``after``
        of the passage log, in order, and the last position; ``after=0``: every live passage."""
        return self.store.text_changes(after)

    def item_changes(self, after: int = 0) -> tuple[int, list[tuple[int, bool]]]:
        """Items written (``(rowid, True)``) and removed (``(rowid, False)``) after position ``after`` of
        the item log, in order, and the last position; ``after=0``: every live item."""
        return self.store.item_changes(after)

    def item_log_position(self) -> int:
        """The item log's last position (read it before reading every item, then follow from it)."""
        return self.store.item_log_position()

    def emotion_rows(self, rowids: Sequence[int] | None = None) -> list[tuple[int, str, float]]:
        """``(rowid, emotion, score)`` of every emotion tag (of the items ``rowids`` when given)."""
        return self.store.emotion_rows(rowids)

    def count_untagged(self) -> int:
        """Items without any emotion tag (an emotion filter leaves them out)."""
        return self.store.count_untagged()

    def context_rows(
        self, rowids: Sequence[int] | None = None
    ) -> list[tuple[int, str, int, list[tuple[str, float]], int]]:
        """``(rowid, media, captions, [(OCR line, confidence), ...], generated captions)`` (counts) of every
        item (of ``rowids``)."""
        return self.store.context_rows(rowids)

    def phashes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rowids, perceptual hashes as uint64)`` of every item that has one."""
        return self.store.all_phashes()

    def cached(self, keys: Sequence[str], stage: str, version: str) -> dict[str, bytes]:
        """Enrichment results cached under ``(key, stage, version)`` (keys are content hashes, or content
        hashes joined with a hash of the enricher's other inputs)."""
        return self.store.cache_get_many(keys, stage, version)

    # ---- what search asks ----------------------------------------------------------------------
    def rowids_where(
        self, *, emotions: Sequence[str] = (), media: Sequence[str] = (), source: str | None = None
    ) -> np.ndarray:
        """Rowids of items matching every given filter (emotion: any of; media: any of)."""
        return self.store.rowids_where(emotions=emotions, media=media, source=source)

    def vector_count(self, field: str) -> int:
        """Live vectors of ``field`` (``image`` or ``text``)."""
        with self._lock:
            self._follow()
            return len(self._vectors[field])

    def vector_store(self, field: str) -> VectorStore:
        """The vector store of ``field`` (read it under :meth:`reading` when writes may run)."""
        with self._lock:
            self._follow()
            return self._vectors[field]

    def nearest(self, field: str, query: np.ndarray, k: int) -> np.ndarray:
        """Rowids of the ``k`` nearest ``field`` vectors to ``query`` ``(dim,)``, best first."""
        with self._lock:
            self._follow()
            vs = self._vectors[field]
            if len(vs) == 0 or k < 1:
                return np.zeros(0, np.int64)
            _, ids = vs.search(query[None, :], min(k, len(vs)))
        return ids[0][ids[0] >= 0]

    def nearest_where(self, field: str, query: np.ndarray, k: int, where: RowFilter) -> np.ndarray | None:
        """Rowids of the ``k`` nearest ``field`` vectors among the items matching ``where``, best first, when
        the vector store applies the filter itself (Milvus); None when it cannot (FAISS): then take
        :meth:`nearest` and keep what :meth:`rowids_where` allows."""
        with self._lock:
            self._follow()
            vs = self._vectors[field]
            if not vs.can_filter(where):
                return None
            if len(vs) == 0 or k < 1:
                return np.zeros(0, np.int64)
            _, ids = vs.search(query[None, :], min(k, len(vs)), where)
        return ids[0][ids[0] >= 0]

    def vector_scores(self, field: str, queries: np.ndarray, rowids: np.ndarray) -> np.ndarray:
        """Inner products ``(q, n)`` of ``queries`` ``(q, dim)`` with the ``field`` vectors of ``rowids``;
        NaN where an item has no such vector (removed, or no text)."""
        q = np.atleast_2d(queries)
        vecs = self.vectors(field, rowids)
        out = np.full((q.shape[0], vecs.shape[0]), np.nan, dtype=np.float64)
        present = ~np.isnan(vecs[:, 0]) if vecs.size else np.zeros(0, dtype=bool)
        if present.any():
            out[:, present] = q @ vecs[present].T
        return out

    def vectors(self, field: str, rowids: np.ndarray) -> np.ndarray:
        """The ``field`` vectors of ``rowids`` ``(n, dim)`` float32; rows of NaN where an item has none."""
        rowids = np.asarray(rowids, dtype=np.int64)
        out = np.full((rowids.size, self.dim), np.nan, dtype=np.float32)
        if rowids.size == 0:
            return out
        with self._lock:
            self._follow()
            vs = self._vectors[field]
            present = vs.contains(rowids)
            if present.any():
                out[present] = vs.reconstruct(rowids[present])
        return out

    # ---- regions (the objects branch) ------------------------------------------------------------
    @property
    def has_regions(self) -> bool:
        """Whether this index keeps regions (an objects mode other than ``none``)."""
        return REGION_FIELD in self._vectors

    def nearest_regions(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest region vectors to ``query`` ``(dim,)``: ``(scores, region ids)``, best first."""
        with self._lock:
            self._follow()
            vs = self._vectors.get(REGION_FIELD)
            if vs is None or len(vs) == 0 or k < 1:
                return np.zeros(0, np.float32), np.zeros(0, np.int64)
            scores, ids = vs.search(query[None, :], min(k, len(vs)))
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def region_ids(self, rowids: Sequence[int]) -> np.ndarray:
        """The region ids of items ``rowids``, sorted (their item: ``id // REGION_SLOTS``)."""
        with self.store._lock:
            return region_rows.region_ids_of(self.store.conn, [int(r) for r in rowids])

    def frames(self, rowids: Sequence[int]) -> dict[int, frame_rows.ItemFrames]:
        """``rowid -> its sampled frames' vectors and times`` (animated items only; :mod:`.frame_rows`)."""
        with self.store._lock:
            return frame_rows.frames_of(self.store.conn, [int(r) for r in rowids], self.dim)

    def regions(self, rowids: Sequence[int], *, masks: bool = True) -> dict[int, list[Region]]:
        """``rowid -> regions`` (slot order, masks decoded on demand from their RLE)."""
        with self.store._lock:
            return region_rows.regions_of(self.store.conn, [int(r) for r in rowids], masks=masks)

    def all_vectors(self, field: str) -> tuple[np.ndarray, np.ndarray]:
        """Every live ``(rowids sorted, vectors)`` of ``field``."""
        with self._lock:
            self._follow()
            vs = self._vectors[field]
            ids = vs.ids()
            return ids, vs.reconstruct(ids)


def looks_like_id(value: object) -> bool:
    """Whether ``value`` has the shape of an item id (16 lowercase hex digits)."""
    return isinstance(value, str) and len(value) == 16 and all(c in "0123456789abcdef" for c in value)
