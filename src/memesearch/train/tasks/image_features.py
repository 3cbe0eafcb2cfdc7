"""Image embeddings of a dataset split by a frozen encoder, computed once and kept on disk.

A Task that trains on top of a frozen image tower (the ``clipcap`` captioner) needs each image's
embedding in every epoch; encoding them again each time would cost more than the training itself. The
file is keyed by the encoder (its full self-description: name, weights hash, dims, preprocessing) and by
every image file (path, size, modification time), so a changed image, dataset or encoder never reads
stale vectors.

Example::

    >>> cache = ImageFeatureCache()
    >>> features = cache.features(create_encoder("tiny-clip"), ["a.png", "b.png"])   # doctest: +SKIP
    >>> features.shape                                                                  # doctest: +SKIP
    (2, 32)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memesearch.errors import DataFormatError
from memesearch.models.encoders.base import Encoder
from memesearch.models.starter.text_cache import default_cache_dir
from memesearch.utils.io import atomic_open

log = logging.getLogger(__name__)


class ImageFeatureCache:
    """``(N, dim)`` embeddings of image files by a frozen encoder, in memory and under
    ``directory/image-features/`` (default ``~/.cache/memesearch``)."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self._memory: dict[str, np.ndarray] = {}

    @staticmethod
    def key(encoder: Encoder, paths: Sequence[Path], normalize: bool) -> str:
        """The cache key of these files under this encoder (see the module docstring)."""
        described = encoder.config.to_dict()
        described.pop("versions", None)
        digest = hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode())
        digest.update(b"normalized" if normalize else b"raw")
        for path in paths:
            try:
                stat = os.stat(path)
            except OSError as exc:
                raise DataFormatError(
                    f"cannot read the image file ({exc.strerror or exc})", path=path
                ) from None
            digest.update(f"\x1f{Path(path).resolve()}\x1e{stat.st_size}\x1e{stat.st_mtime_ns}".encode())
        return digest.hexdigest()[:32]

    def features(
        self, encoder: Encoder, paths: Sequence[Path], *, normalize: bool = True, batch_size: int = 64
    ) -> np.ndarray:
        """The embeddings of ``paths`` (encoded on the first call, then read from memory or disk)."""
        key = self.key(encoder, paths, normalize)
        if key in self._memory:
            return self._memory[key]
        file = self.directory / "image-features" / f"{key}.npy"
        vectors: np.ndarray | None = None
        if file.is_file():
            try:
                vectors = np.load(file, allow_pickle=False)
            except (OSError, ValueError) as exc:
                log.warning("ignoring unreadable feature cache %s (%s)", file, exc)
        if vectors is None or vectors.shape != (len(paths), encoder.dim):
            start = time.perf_counter()
            vectors = encoder.encode_image(list(paths), normalize=normalize, batch_size=batch_size)
            log.info(
                "embedded %d images with %s in %.1f s (cached in %s)",
                len(paths), encoder.name, time.perf_counter() - start, file,
            )  # fmt: skip
            file.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(file, "wb") as fh:
                np.save(fh, vectors.astype(np.float32))
        self._memory[key] = vectors.astype(np.float32, copy=False)
        return self._memory[key]
