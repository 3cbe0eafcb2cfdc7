"""An index directory: SQLite (WAL) metadata + FAISS vectors + stored uploads, describing itself.

Layout of ``DIR``::

    index.json          format, memesearch version, encoder (name, config, signature), settings, versions
    meta.sqlite         items, paths, emotions, enrichment cache (the source of truth, vectors included)
    vectors/image.faiss item embeddings (query -> image branch), + .json sidecar (generation, kind)
    vectors/text.faiss  caption/OCR embeddings (query -> text branch)
    media/              uploaded files, named by their SHA-256 (never by the client's file name)
    thumbs/             thumbnail cache

Example::

    >>> idx = Index.create("memes.idx", model="starter")          # doctest: +SKIP
    >>> summary = idx.add_paths(["~/Pictures/memes"], progress=True)
    >>> idx.remove([summary.indexed[0]])
    1
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.errors import ConfigError, MemesearchError
from memesearch.index.config import (
    INDEX_FORMAT,
    INDEX_FORMAT_VERSION,
    IndexConfig,
    encoder_signature,
)
from memesearch.index.inputs import InputRecord, expand_inputs
from memesearch.index.prepare import Prepared, PrepareTask, prepare
from memesearch.index.store import Store, item_text
from memesearch.index.vectors import VectorIndex
from memesearch.search.results import IndexedItem, IngestFailure, IngestSummary, OCRLine

logger = logging.getLogger(__name__)

MEDIA_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "MPO": "jpg"}


class IndexNotFoundError(MemesearchError):
    """The folder is not a memesearch index."""


class EncoderMismatchError(MemesearchError):
    """The index was built with another encoder than the one asked for."""


class IndexLockedError(MemesearchError):
    """The index is opened read-only and a write was asked for."""


@dataclass
class _Pending:
    record: InputRecord
    key: str
    size: int
    mtime_ns: int
    sha256: str = ""


def _encoder_dict(encoder: Any) -> dict[str, Any]:
    return dict(encoder.config.to_dict())


class Index:
    """One index directory (see the module docstring). Thread-safe: writes and vector access are
    serialised by one lock; SQLite readers in other processes keep working during writes (WAL)."""

    def __init__(
        self, root: Path, info: dict[str, Any], config: IndexConfig, encoder: Any, *, readonly: bool
    ) -> None:
        self.root = root
        self.info = info
        self.config = config
        self.encoder = encoder
        self.readonly = readonly
        self._lock = threading.RLock()
        self.store = Store(root / "meta.sqlite", readonly=readonly)
        self.dim = int(encoder.dim)
        self.image_vectors = self._load_vectors("image_vec", root / "vectors" / "image.faiss")
        self.text_vectors = self._load_vectors("text_vec", root / "vectors" / "text.faiss")
        self._tagger: Any = None
        self._phashes: tuple[np.ndarray, np.ndarray] | None = None
        self._lexical: tuple[int, Any, list[int]] | None = None
        self._dirty = False

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
        enc = encoder if encoder is not None else _load_encoder(cfg.model)
        _check_encoder(enc)
        if encoder is not None:
            cfg.model = enc.name
        enc_cfg = _encoder_dict(enc)
        info = {
            "format": INDEX_FORMAT,
            "format_version": INDEX_FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "encoder": {
                "name": enc.name,
                "dim": int(enc.dim),
                "signature": encoder_signature(enc_cfg),
                "config": enc_cfg,
            },
            "config": cfg.to_dict(),
            "versions": _versions(),
        }
        path.mkdir(parents=True, exist_ok=True)
        for sub in ("vectors", "media", "thumbs"):
            (path / sub).mkdir(exist_ok=True)
        _write_json(path / "index.json", info)
        return cls(path, info, cfg, enc, readonly=False)

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
        enc = encoder if encoder is not None else _load_encoder(recorded["name"])
        signature = encoder_signature(_encoder_dict(enc))
        if (
            enc.name != recorded["name"]
            or int(enc.dim) != int(recorded["dim"])
            or signature != recorded["signature"]
        ):
            raise EncoderMismatchError(
                f"the index {path} was built with encoder {recorded['name']!r} (dim {recorded['dim']}, "
                f"signature {recorded['signature']}); the encoder given is {enc.name!r} (dim {enc.dim}, "
                f"signature {signature}). "
                "Its vectors would not be comparable: use the same encoder or rebuild the index"
            )
        cfg = IndexConfig.from_dict(dict(info["config"]))
        return cls(path, info, cfg, enc, readonly=readonly)

    def close(self) -> None:
        """Save the vector files (if changed) and close the database."""
        with self._lock:
            if self._dirty and not self.readonly:
                self.flush()
            self.store.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.store.count()

    def _load_vectors(self, column: str, path: Path) -> VectorIndex:
        gen = self.store.generation
        loaded = VectorIndex.load(path, self.dim, self.config.vectors, gen)
        if loaded is not None:
            return loaded
        vi = VectorIndex(self.dim, self.config.vectors)
        ids_parts, vec_parts = [], []
        for ids, vecs in self.store.iter_vectors(column, self.dim):
            ids_parts.append(ids)
            vec_parts.append(vecs)
        if ids_parts:
            logger.info(
                "rebuilding %s from the database (%d vectors)", path.name, sum(len(i) for i in ids_parts)
            )
            vi.rebuild(np.concatenate(ids_parts), np.concatenate(vec_parts))
        if not self.readonly:
            vi.save(path, gen)
        return vi

    def flush(self) -> None:
        """Write the FAISS files for the current database generation (atomic)."""
        with self._lock:
            gen = self.store.generation
            for vi, name in ((self.image_vectors, "image"), (self.text_vectors, "text")):
                if vi.needs_compaction():
                    vi.compact()
                vi.save(self.root / "vectors" / f"{name}.faiss", gen)
            self._dirty = False

    # ---- reading -------------------------------------------------------------------------------
    def get(self, item_id: str) -> IndexedItem | None:
        """The item with id ``item_id`` (16 hex digits) or None."""
        if not _looks_like_id(item_id):
            return None
        rowid = self.store.rowid_of(item_id)
        if rowid is None:
            return None
        return self.store.items_by_rowid([rowid]).get(rowid)

    def items(self, rowids: Sequence[int]) -> dict[int, IndexedItem]:
        return self.store.items_by_rowid(rowids)

    def media_path(self, item_id: str) -> Path | None:
        """A readable file holding the item's bytes (a stored upload or an original path)."""
        if not _looks_like_id(item_id):
            return None
        rowid = self.store.rowid_of(item_id)
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

    def thumbnail(self, item_id: str, size: int = 256) -> bytes | None:
        """WebP thumbnail (longest side ``size``), cached under ``thumbs/``; None for unknown items."""
        from memesearch.index.media import decode_media, make_thumbnail

        size = int(min(max(size, 16), 1024))
        item = self.get(item_id)
        if item is None:
            return None
        cached = self.root / "thumbs" / f"{item.sha256}-{size}.webp"
        if cached.is_file():
            return cached.read_bytes()
        src = self.media_path(item_id)
        if src is None:
            return None
        decoded = decode_media(str(src), max_frames=1, max_pixels=self.config.max_pixels)
        data = make_thumbnail(decoded.frames[0], size)
        if not self.readonly:
            _atomic_write_bytes(cached, data)
        return bytes(data)

    def stats(self) -> dict[str, Any]:
        s = self.store.stats()
        s.update(
            {
                "index": str(self.root),
                "encoder": self.info["encoder"]["name"],
                "dim": self.dim,
                "created": self.info.get("created"),
                "vectors": {
                    "image": {"kind": self.image_vectors.kind, "count": len(self.image_vectors)},
                    "text": {"kind": self.text_vectors.kind, "count": len(self.text_vectors)},
                },
                "config": self.config.to_dict(),
            }
        )
        return s

    def lexical(self) -> tuple[Any, list[int]]:
        """BM25 over captions + OCR of every item with text, and the rowid of each of its documents."""
        from memesearch.models.lexical import LexicalIndex

        with self._lock:
            gen = self.store.generation
            if self._lexical is None or self._lexical[0] != gen:
                rows = self.store.text_rows()
                lex = LexicalIndex()
                if rows:
                    lex.build([str(r) for r, _ in rows], [t for _, t in rows], show_progress=False)
                self._lexical = (gen, lex, [r for r, _ in rows])
            return self._lexical[1], self._lexical[2]

    # ---- writing -------------------------------------------------------------------------------
    def _writable(self) -> None:
        if self.readonly:
            raise IndexLockedError(f"the index {self.root} was opened read-only; open it for writing")

    def tagger(self) -> Any:
        if self._tagger is None:
            from memesearch.enrich.emotion import EmotionTagger

            self._tagger = EmotionTagger(self.encoder, top_k=self.config.emotion_top_k)
        return self._tagger

    def add_paths(
        self,
        inputs: Sequence[str | os.PathLike[str]],
        *,
        workers: int | None = None,
        progress: bool = False,
        source: str | None = None,
        splits: Sequence[str] | None = None,
        prune: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> IngestSummary:
        """Index files, folders, CSV/JSONL lists and dataset folders (see :mod:`memesearch.index.inputs`).

        Unchanged files (same path, size and mtime) are skipped; changed files are re-indexed; exact
        duplicates add a path to the existing item; ``prune`` removes indexed files under the given
        folders that no longer exist. ``workers``: processes for decoding and OCR (default:
        :func:`default_workers`; 0 or 1 = in this process). Returns what happened, failures with
        reasons included.
        """
        self._writable()
        t0 = time.perf_counter()
        try:
            expanded = expand_inputs(
                inputs,
                exclude=self.root,
                oracle_captions=self.config.oracle_captions,
                source=source,
                splits=splits,
            )
        except KeyError as exc:  # unknown split of a dataset
            raise ConfigError(str(exc.args[0]) if exc.args else str(exc)) from None
        summary = IngestSummary(failed=list(expanded.failures), messages=list(expanded.messages))
        with self._lock:
            if prune:
                summary.removed = self._prune(expanded.folders)
            pending: list[_Pending] = []
            for rec in expanded.records:
                key = str(rec.path)
                try:
                    st = os.stat(rec.path)
                except OSError as exc:
                    summary.failed.append(
                        IngestFailure(key, "missing", f"{key}: cannot read the file ({exc.strerror})")
                    )
                    continue
                if not os.path.isfile(rec.path):
                    summary.failed.append(IngestFailure(key, "not-media", f"{key}: not a regular file"))
                    continue
                entry = self.store.path_entry(key)
                if entry is not None and entry[1] == st.st_size and entry[2] == st.st_mtime_ns:
                    summary.skipped += 1
                    continue
                pending.append(_Pending(rec, key, int(st.st_size), int(st.st_mtime_ns)))
            if pending:
                self._ingest(pending, summary, workers=workers, progress=progress, on_progress=on_progress)
            if self._dirty:
                self.flush()
        summary.seconds = time.perf_counter() - t0
        return summary

    def add_bytes(
        self,
        data: bytes,
        *,
        source: str = "upload",
        filename: str | None = None,
        captions: Sequence[str] = (),
        emotions: Sequence[str] | None = None,
    ) -> IngestSummary:
        """Index an uploaded file: stored as ``media/<sha256>.<ext>`` (the client's name only goes into
        ``meta.filename``, cleaned). Bad bytes give a summary with one failure and change nothing."""
        from memesearch.index.hashing import sha256_bytes

        self._writable()
        t0 = time.perf_counter()
        summary = IngestSummary()
        label = _clean_filename(filename) if filename else "upload"
        sha = sha256_bytes(data)
        with self._lock:
            existing = self.store.rowid_by_sha(sha)
            if existing is not None:
                summary.duplicates += 1
                item = self.store.items_by_rowid([existing])[existing]
                summary.existing.append(item.id)
                summary.seconds = time.perf_counter() - t0
                return summary
            task = self._task(label, sha, data=data)
            result = prepare(task)
            if isinstance(result, IngestFailure):
                summary.failed.append(result)
                summary.seconds = time.perf_counter() - t0
                return summary
            ext = MEDIA_EXTENSIONS.get(result.format.upper(), result.format.lower() or "bin")
            rel = f"media/{sha}.{ext}"
            _atomic_write_bytes(self.root / rel, data)
            meta = {"filename": label} if filename else {}
            rec = InputRecord(
                Path(rel),
                captions=list(captions),
                emotions=list(emotions) if emotions else None,
                source=source,
                meta=meta,
            )
            self._commit([(result, rec, [])], summary, stored={sha: rel}, paths=False)
            self.flush()
        summary.seconds = time.perf_counter() - t0
        return summary

    def remove(self, targets: Sequence[str]) -> int:
        """Remove items by id, by file path, or every indexed file under a folder. Returns items removed.

        Unknown ids/paths raise :class:`ConfigError` naming them (nothing is removed then).
        """
        self._writable()
        with self._lock:
            rowids: set[int] = set()
            paths: list[str] = []
            unknown: list[str] = []
            for t in targets:
                if _looks_like_id(t) and (rid := self.store.rowid_of(t)) is not None:
                    rowids.add(rid)
                    continue
                key = os.path.normpath(os.path.abspath(os.path.expanduser(t)))
                under = self.store.paths_under(key)
                if under:
                    paths.extend(under)
                else:
                    unknown.append(t)
            if unknown:
                raise ConfigError(
                    f"not in the index: {', '.join(repr(u) for u in unknown[:5])}"
                    + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
                    + "; give item ids (memesearch search --json shows them) or indexed file paths"
                )
            return self._remove(rowids, paths)

    def remove_missing(self) -> int:
        """Remove every indexed path whose file no longer exists (items left without a file go)."""
        self._writable()
        with self._lock:
            gone = [p for p in self.store.all_paths() if not os.path.exists(p)]
            return self._remove(set(), gone)

    def _prune(self, folders: Sequence[Path]) -> int:
        gone: list[str] = []
        for folder in folders:
            gone.extend(p for p in self.store.paths_under(str(folder)) if not os.path.exists(p))
        return self._remove(set(), gone) if gone else 0

    def _remove(self, rowids: set[int], paths: Sequence[str]) -> int:
        removed: list[int] = []
        with self.store.transaction() as conn:
            for p in paths:
                rid = Store.delete_path(conn, p)
                if rid is not None and Store.orphan(conn, rid):
                    rowids.add(rid)
            stored = [self.store_path_in(conn, r) for r in rowids]
            removed = Store.delete_items(conn, sorted(rowids))
        self.image_vectors.remove(removed)
        self.text_vectors.remove(removed)
        self._phashes = None
        for rel in stored:
            if rel:
                (self.root / rel).unlink(missing_ok=True)
        self._dirty = True
        self.flush()
        return len(removed)

    @staticmethod
    def store_path_in(conn: sqlite3.Connection, rowid: int) -> str | None:
        row = conn.execute("SELECT stored_path FROM items WHERE rowid=?", (rowid,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    # ---- the pipeline --------------------------------------------------------------------------
    def _task(
        self, path: str, sha: str, *, data: bytes | None = None, run_ocr: bool | None = None
    ) -> PrepareTask:
        side = max(4 * int(self.encoder.config.image_size or 64), 256)
        return PrepareTask(
            path=path,
            sha256=sha,
            run_ocr=self.config.ocr if run_ocr is None else run_ocr,
            max_frames=self.config.max_frames,
            max_pixels=self.config.max_pixels,
            frame_side=side,
            ocr_min_score=self.config.ocr_min_score,
            data=data,
        )

    def _ingest(
        self,
        pending: list[_Pending],
        summary: IngestSummary,
        *,
        workers: int | None,
        progress: bool,
        on_progress: Callable[[int, int], None] | None,
    ) -> None:
        from memesearch.index.hashing import sha256_file

        n_workers = default_workers(self.config.ocr) if workers is None else max(0, int(workers))
        total = len(pending)
        done = 0
        with _progress(progress, total) as advance:

            def tick(n: int) -> None:
                nonlocal done
                done += n
                advance(n)
                if on_progress is not None:
                    on_progress(done, total)

            # 1. content hashes (I/O bound: threads)
            def hash_one(p: _Pending) -> str | IngestFailure:
                try:
                    return sha256_file(p.key)
                except OSError as exc:
                    return IngestFailure(p.key, "missing", f"{p.key}: cannot read the file ({exc})")

            with ThreadPoolExecutor(max_workers=4) as pool:
                hashes = list(pool.map(hash_one, pending))
            fresh: dict[str, list[_Pending]] = {}
            for p, h in zip(pending, hashes, strict=True):
                if isinstance(h, IngestFailure):
                    summary.failed.append(h)
                    tick(1)
                    continue
                p.sha256 = h
                rid = self.store.rowid_by_sha(h)
                if rid is not None:
                    self._attach_path(p, rid, summary)
                    tick(1)
                    continue
                fresh.setdefault(h, []).append(p)
            # 2. decode + OCR in workers, 3. embed + commit in batches here
            ocr_ver = self._ocr_version() if self.config.ocr else ""
            groups = list(fresh.values())
            cached_ocr = (
                self.store.cache_get_many([g[0].sha256 for g in groups], "ocr", ocr_ver) if ocr_ver else {}
            )
            tasks = [
                self._task(g[0].key, g[0].sha256, run_ocr=self.config.ocr and g[0].sha256 not in cached_ocr)
                for g in groups
            ]
            by_sha = {g[0].sha256: g for g in groups}
            sha_of_path = {t.path: t.sha256 for t in tasks}
            batch: list[tuple[Prepared, InputRecord, list[_Pending]]] = []
            for result in _run_tasks(tasks, n_workers):
                if isinstance(result, IngestFailure):
                    group = by_sha.get(sha_of_path.get(result.path, ""), [])
                    summary.failed.append(result)
                    for extra in group[1:]:  # same bytes under other names fail the same way
                        summary.failed.append(IngestFailure(extra.key, result.reason, result.message))
                    tick(max(1, len(group)))
                    continue
                if result.ocr is None and result.sha256 in cached_ocr:
                    result.ocr = [OCRLine.from_dict(d) for d in json.loads(cached_ocr[result.sha256])]
                group = by_sha[result.sha256]
                batch.append((result, group[0].record, group))
                if len(batch) >= self.config.batch_size:
                    self._commit(batch, summary, ocr_version=ocr_ver)
                    tick(sum(len(g) for _, _, g in batch))
                    batch = []
            if batch:
                self._commit(batch, summary, ocr_version=ocr_ver)
                tick(sum(len(g) for _, _, g in batch))

    def _ocr_version(self) -> str:
        from memesearch.index.prepare import ocr_version

        return ocr_version(self.config.ocr_min_score)

    def _attach_path(self, p: _Pending, rowid: int, summary: IngestSummary) -> None:
        """An exact duplicate (or a re-indexed unchanged content): record the path on the item."""
        with self.store.transaction() as conn:
            old = Store.delete_path(conn, p.key)
            Store.put_path(conn, p.key, rowid, p.size, p.mtime_ns)
            if old is not None and old != rowid and Store.orphan(conn, old):
                Store.delete_items(conn, [old])
                self.image_vectors.remove([old])
                self.text_vectors.remove([old])
                self._phashes = None
        self._dirty = True
        summary.duplicates += 1

    def _near_duplicate(self, phash_hex: str, local: Sequence[tuple[str, int]] = ()) -> str | None:
        """Id of an item whose perceptual hash is within ``near_duplicate_distance`` (closest first)."""
        limit = self.config.near_duplicate_distance
        if not phash_hex or limit <= 0:
            return None
        h = int(phash_hex, 16)
        if self._phashes is None:
            self._phashes = self.store.all_phashes()
        rowids, hashes = self._phashes
        if rowids.size:
            dist = np.bitwise_count(hashes ^ np.uint64(h))
            best = int(np.argmin(dist))
            if int(dist[best]) <= limit:
                item = self.store.items_by_rowid([int(rowids[best])]).get(int(rowids[best]))
                if item is not None:
                    return item.id
        for item_id, other in local:
            if (h ^ other).bit_count() <= limit:
                return item_id
        return None

    def _commit(
        self,
        batch: list[tuple[Prepared, InputRecord, list[_Pending]]],
        summary: IngestSummary,
        *,
        ocr_version: str = "",
        stored: dict[str, str] | None = None,
        paths: bool = True,
    ) -> None:
        """Embed one batch, then write it in one transaction and add its vectors to FAISS."""
        from memesearch.data.emotions import normalize_emotion

        prepared = [b[0] for b in batch]
        records = [b[1] for b in batch]
        # emotions: the input's own words, else zero-shot from the image (and the text read from it)
        given: list[list[tuple[str, float]] | None] = []
        for rec in records:
            if rec.emotions:
                words: list[str] = []
                for e in rec.emotions:
                    try:
                        w = normalize_emotion(e)
                    except MemesearchError:
                        w = e.strip().lower()
                    if w and w not in words:
                        words.append(w)
                given.append([(w, 1.0) for w in words])
            else:
                given.append(None)
        frames = [f for p in prepared for f in p.frames]
        owner = np.repeat(np.arange(len(prepared)), [len(p.frames) for p in prepared])
        # caption + OCR text: one passage embedding per item serves the text branch and the emotion tags
        texts = [
            item_text(r.captions, [o.to_dict() for o in p.ocr or []])
            for p, r in zip(prepared, records, strict=True)
        ]
        has_text = [i for i, t in enumerate(texts) if t]
        text_vecs: dict[int, np.ndarray] = {}
        if has_text:
            tv = self.encoder.encode_text([texts[i] for i in has_text], kind="passage", batch_size=64)
            text_vecs = {i: tv[k] for k, i in enumerate(has_text)}
        emotions: list[list[tuple[str, float]]] = [g or [] for g in given]
        untagged = [i for i, g in enumerate(given) if g is None] if self.config.emotions else []
        if untagged and (image_tags_on() or any(i in text_vecs for i in untagged)):
            tagger = self.tagger()
            by_image: list[list[tuple[str, float]]] = [[] for _ in prepared]
            if tagger.tags_images:  # the extra image forward pass only when image tags are on
                plain = _mean_by_owner(self.encoder.encode_image(frames, batch_size=64), owner, len(prepared))
                by_image = tagger.tag_embeddings(plain)
            by_text: list[list[tuple[str, float]]] = [[] for _ in prepared]
            with_text = [i for i in untagged if i in text_vecs]
            if with_text and tagger.text_kind == "passage":
                tags = tagger.tag_embeddings(np.stack([text_vecs[i] for i in with_text]), source="text")
                for i, t in zip(with_text, tags, strict=True):
                    by_text[i] = t
            elif with_text:
                for i, t in zip(with_text, tagger.tag_texts([texts[i] for i in with_text]), strict=True):
                    by_text[i] = t
            for i in untagged:
                emotions[i] = _merge_emotions(by_image[i], by_text[i], self.config.emotion_top_k)
        if hasattr(self.encoder, "encode_items"):
            frame_emotions = [[e for e, _ in emotions[int(o)]] for o in owner]
            vecs = self.encoder.encode_items(frames, frame_emotions)
        else:
            vecs = self.encoder.encode_image(frames, batch_size=64)
        image_vecs = _mean_by_owner(vecs, owner, len(prepared))
        now = time.time()
        new_rows: list[tuple[int, int]] = []
        items: list[IndexedItem] = []
        local: list[tuple[str, int]] = []  # (id, phash) of this batch, for near-duplicates inside it
        for i, (p, rec, _group) in enumerate(batch):
            dup = self._near_duplicate(p.phash, local)
            meta = dict(rec.meta)
            if p.extension_mismatch:
                meta["extension_mismatch"] = True
            item = IndexedItem(
                id=p.sha256[:16],
                sha256=p.sha256,
                media=p.media,
                width=p.width,
                height=p.height,
                frames=len(p.frames),
                phash=p.phash,
                duplicate_of=dup,
                ocr=p.ocr,
                captions=list(rec.captions),
                emotions=emotions[i],
                source=rec.source,
                meta=meta,
                added_at=now,
            )
            items.append(item)
            if p.phash:
                local.append((item.id, int(p.phash, 16)))
            if dup is not None:
                summary.near_duplicates += 1
        with self.store.transaction() as conn:
            for i, (p, _rec, group) in enumerate(batch):
                rowid = Store.insert_item(
                    conn, items[i], image_vecs[i], text_vecs.get(i), stored_path=(stored or {}).get(p.sha256)
                )
                new_rows.append((i, rowid))
                if paths:
                    for pend in group:
                        old = Store.delete_path(conn, pend.key)
                        Store.put_path(conn, pend.key, rowid, pend.size, pend.mtime_ns)
                        if old is not None and old != rowid and Store.orphan(conn, old):
                            Store.delete_items(conn, [old])
                            self.image_vectors.remove([old])
                            self.text_vectors.remove([old])
                    summary.duplicates += max(0, len(group) - 1)
                if ocr_version and p.ocr is not None:
                    Store.put_cache(
                        conn,
                        p.sha256,
                        "ocr",
                        ocr_version,
                        json.dumps([o.to_dict() for o in p.ocr], ensure_ascii=False).encode(),
                    )
        if self._phashes is not None:
            got = [(r, int(items[i].phash, 16)) for i, r in new_rows if items[i].phash]
            if got:
                self._phashes = (
                    np.concatenate([self._phashes[0], np.array([r for r, _ in got], np.int64)]),
                    np.concatenate([self._phashes[1], np.array([h for _, h in got], np.uint64)]),
                )
        rows = np.array([r for _, r in new_rows], dtype=np.int64)
        self.image_vectors.add(rows, image_vecs)
        tv_rows = [(r, text_vecs[i]) for i, r in new_rows if i in text_vecs]
        if tv_rows:
            self.text_vectors.add(
                np.array([r for r, _ in tv_rows], np.int64), np.stack([v for _, v in tv_rows])
            )
        summary.indexed.extend(it.id for it in items)
        self._dirty = True

    def set_weights(self, weights: dict[str, float]) -> None:
        """Change the default fusion weights recorded in index.json."""
        from memesearch.index.config import check_weights

        self._writable()
        with self._lock:
            self.config.weights = check_weights(weights)
            self.info["config"] = self.config.to_dict()
            _write_json(self.root / "index.json", self.info)

    def insert_vectors(
        self,
        image_vecs: np.ndarray,
        *,
        media: str = "image",
        source: str | None = "synthetic",
        chunk: int = 10_000,
        progress: bool = False,
    ) -> list[str]:
        """Add items that are only vectors (benchmarks, migrations): one row each, no file, no text.

        Goes through the same database transactions and FAISS path as files do.
        """
        self._writable()
        vecs = np.ascontiguousarray(image_vecs, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[1] != self.dim:
            raise ConfigError(f"expected vectors of shape (n, {self.dim}), got {vecs.shape}")
        ids: list[str] = []
        now = time.time()
        with self._lock, _progress(progress, len(vecs)) as advance:
            for start in range(0, len(vecs), chunk):
                part = vecs[start : start + chunk]
                with self.store.transaction() as conn:
                    # explicit rowids (one writer holds the transaction) let one executemany insert the chunk
                    first = int(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM items").fetchone()[0]) + 1
                    rows = list(range(first, first + len(part)))
                    shas = [hashlib.sha256(v.tobytes()).hexdigest() for v in part]
                    conn.executemany(
                        "INSERT INTO items(rowid, id, sha256, media, added_at, source, image_vec) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [
                            (r, h[:16], h, media, now, source, v.tobytes())
                            for r, h, v in zip(rows, shas, part, strict=True)
                        ],
                    )
                    ids.extend(h[:16] for h in shas)
                self.image_vectors.add(np.array(rows, np.int64), part)
                advance(len(part))
            self._dirty = True
            self.flush()
        return ids


# ---- helpers -------------------------------------------------------------------------------------
def _run_tasks(tasks: list[PrepareTask], workers: int) -> Iterator[Prepared | IngestFailure]:
    if workers <= 1 or len(tasks) < 4:
        for t in tasks:
            yield prepare(t)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    window = max(64, workers * 16)
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        for start in range(0, len(tasks), window):
            yield from pool.map(prepare, tasks[start : start + window], chunksize=4)


def default_workers(ocr: bool) -> int:
    """Worker processes when the caller does not say: every core when OCR runs (it dominates the
    cost), else all but two — decoding without OCR costs less than the encoder forward pass, and on a
    small machine worker processes only take cores from the encoder (measured: bench/bench_ingest.py)."""
    cores = os.cpu_count() or 1
    return cores if ocr else max(0, cores - 2)


def image_tags_on() -> bool:
    """Whether the default emotion tagger tags images (off: measured at chance, see enrich.emotion)."""
    from memesearch.enrich.emotion import DEFAULT_MIN_SCORE_IMAGE

    return DEFAULT_MIN_SCORE_IMAGE is not None


def _mean_by_owner(vectors: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Average frame vectors per item and renormalise -> ``(n, dim)``."""
    out = np.zeros((n, vectors.shape[1]), dtype=np.float64)
    np.add.at(out, owner, vectors)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norm, 1e-12)).astype(np.float32)


def _merge_emotions(
    a: Sequence[tuple[str, float]], b: Sequence[tuple[str, float]], top_k: int
) -> list[tuple[str, float]]:
    best: dict[str, float] = {}
    for e, s in [*a, *b]:
        best[e] = max(best.get(e, 0.0), float(s))
    return sorted(best.items(), key=lambda kv: -kv[1])[:top_k]


def _looks_like_id(value: str) -> bool:
    return isinstance(value, str) and len(value) == 16 and all(c in "0123456789abcdef" for c in value)


def _clean_filename(name: str) -> str:
    """The last path component, without control characters, at most 200 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable()).strip().lstrip(".")
    return base[:200] or "upload"


def read_index_info(path: Path) -> dict[str, Any]:
    """Read and check ``index.json``; :class:`IndexNotFoundError` when ``path`` is not an index."""
    info_path = path / "index.json"
    if not info_path.is_file():
        raise IndexNotFoundError(
            f"{path} is not a memesearch index (no index.json); "
            f"build one with: memesearch index FILES --index {path}"
        )
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexNotFoundError(f"{info_path} cannot be read ({exc}); the index is damaged") from None
    if info.get("format") != INDEX_FORMAT:
        raise IndexNotFoundError(
            f"{info_path} is not a memesearch index file (format {info.get('format')!r})"
        )
    if int(info.get("format_version", 0)) > INDEX_FORMAT_VERSION:
        raise IndexNotFoundError(
            f"{path} was written by a newer memesearch (index format {info['format_version']}); "
            "upgrade memesearch"
        )
    return dict(info)


def _load_encoder(name: str) -> Any:
    from memesearch.models import create_encoder

    enc = create_encoder(name)
    _check_encoder(enc)
    return enc


def _check_encoder(enc: Any) -> None:
    if not (enc.supports_images and enc.supports_text):
        raise ConfigError(
            f"encoder {enc.name!r} cannot read both images and text; an index needs one that does "
            "(e.g. 'starter', 'clip:<dir>', 'tiny-clip')"
        )


def _versions() -> dict[str, str]:
    from memesearch.models.encoders.base import package_versions

    v = package_versions("memesearch", "faiss-cpu", "numpy", "pillow", "rapidocr", "av", "torch")
    v["sqlite"] = sqlite3.sqlite_version
    v["python"] = platform.python_version()
    return v


def _write_json(path: Path, data: dict[str, Any]) -> None:
    _atomic_write_bytes(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class _NullProgress:
    def __call__(self, n: int) -> None:
        return None


class _progress:
    """Context manager yielding ``advance(n)``; a rich bar when ``show``."""

    def __init__(self, show: bool, total: int) -> None:
        self.show = show and total > 0
        self.total = total
        self._p: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.show:
            return _NullProgress()
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._p = Progress(
            TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=False
        )
        self._p.start()
        task = self._p.add_task("indexing", total=self.total)
        return lambda n: self._p.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._p is not None:
            self._p.stop()
