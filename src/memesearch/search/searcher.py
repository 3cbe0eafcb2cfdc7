"""Search an index: text or image in, ranked items out, with per-branch scores and reasons.

A text query is embedded once (``kind="query"``) and scored by every branch of
:mod:`memesearch.search.branches` (``image``, ``text``, ``lexical``; SPEC §2.2, §2.4).

Every candidate (the union of each branch's top hits) is scored exactly by every branch; with a calibration
in the index the branch scores become one calibrated ``relevance`` (which orders the list and drives the
``min_relevance`` cut-off), otherwise they are summed with the fusion weights. Filters (emotion, media
type, source) apply before the top ``k`` are cut. How one encoded query is ranked (candidates, scores,
fusion, filters, cut-off, hits and their reasons) lives in :mod:`memesearch.search.ranker`, whose
:class:`~memesearch.search.ranker.Ranker` is a mixin of :class:`Searcher`; this module checks the
arguments, encodes the queries (a text, or an image and optionally one object in it) and holds the public
API and the exact score matrix used by evaluation.

Example::

    >>> from memesearch.index import Index                                   # doctest: +SKIP
    >>> s = Searcher(Index.open("memes.idx"))
    >>> for hit in s.search("so sleepy", k=3, explain=True).hits:
    ...     print(hit.rank, hit.id, round(hit.score, 3), hit.why)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.errors import MemesearchError
from memesearch.index.config import BRANCHES, check_weights
from memesearch.search.branches import (
    Branch,
    EmotionBranch,
    LexicalBranch,
    SearchQuery,
    build_branches,
    query_vectors,
)
from memesearch.search.calibration import Calibration, ItemFeatureTable
from memesearch.search.query_checks import (
    QueryError,
    check_emotions,
    check_k,
    check_media,
    check_query,
)
from memesearch.search.ranker import Ranker, weighted_fusion
from memesearch.search.results import SearchResponse

logger = logging.getLogger(__name__)


class Searcher(Ranker):
    """Searches one :class:`~memesearch.index.Index` (see the module docstring).

    Args:
        index: the index to search.
        weights: fusion weights for an uncalibrated weighted sum (default: the index's calibration when
            it has one, else the weights recorded in the index).
        candidates: hits taken from each branch before exact re-scoring (at least ``k``).
        exact_filter_limit: filtered sets up to this size are scored exhaustively.
    """

    def __init__(
        self,
        index: Any,
        *,
        weights: Mapping[str, float] | None = None,
        candidates: int = 200,
        exact_filter_limit: int = 20_000,
    ) -> None:
        self.index = index
        self.branches: dict[str, Branch] = build_branches(index)
        self.weights = check_weights(dict(weights or index.config.weights))
        recorded = getattr(index.config, "calibration", None)
        self.calibration: Calibration | None = (
            Calibration.from_dict(recorded) if recorded and weights is None else None
        )
        self._item_features = ItemFeatureTable(index)
        self._untagged: tuple[int, int] | None = None  # (generation, items without emotion tags)
        self.candidates = int(candidates)
        self.exact_filter_limit = int(exact_filter_limit)

    @classmethod
    def open(
        cls, path: str | Path, *, model: str | None = None, readonly: bool = True, **kw: Any
    ) -> Searcher:
        from memesearch.index.index import Index

        return cls(Index.open(path, model=model, readonly=readonly), **kw)

    # ---- public API ----------------------------------------------------------------------------
    def search(
        self,
        text: str,
        *,
        k: int = 20,
        emotion: str | Sequence[str] | None = None,
        media: str | Sequence[str] | None = None,
        source: str | None = None,
        explain: bool = False,
        weights: Mapping[str, float] | None = None,
        min_relevance: float | None = None,
        objects: bool = False,
    ) -> SearchResponse:
        """Rank items for a text query (Chinese or English); see the module docstring.

        ``min_relevance``: keep only hits whose calibrated relevance is at least this probability
        (possibly none); needs a calibrated index. ``objects``: rank by the items' regions (the ``objects``
        branch stands in for the ``image`` branch; each hit carries the matched ``region``); needs an index
        built with an objects mode.
        """
        return self.search_batch(
            [text],
            k=k,
            emotion=emotion,
            media=media,
            source=source,
            explain=explain,
            weights=weights,
            min_relevance=min_relevance,
            objects=objects,
        )[0]

    def search_batch(
        self,
        texts: Sequence[str],
        *,
        k: int = 20,
        emotion: str | Sequence[str] | None = None,
        media: str | Sequence[str] | None = None,
        source: str | None = None,
        explain: bool = False,
        weights: Mapping[str, float] | None = None,
        min_relevance: float | None = None,
        objects: bool = False,
    ) -> list[SearchResponse]:
        """Many text queries at once (one encoder call); same options as :meth:`search`."""
        if isinstance(texts, str):
            raise QueryError("search_batch takes a list of queries; use search() for one")
        queries = [check_query(t) for t in texts]
        k = check_k(k)
        filters = self._filters(emotion, media, source)
        w = check_weights(dict(weights)) if weights is not None else self.weights
        calibration = self.calibration if weights is None else None
        cut = self._check_cut(min_relevance, calibration)
        if objects and not getattr(self.branches.get("objects"), "available", False):
            raise QueryError(
                "this index keeps no regions: build it with `memesearch index ... --objects auto` "
                "(or boxes, or sam2:<dir>) to search by objects",
                field="objects",
            )
        if not queries:
            return []
        t0 = time.perf_counter()
        qvecs = query_vectors(self.index.encoder, queries, batch_size=256)
        per_query = (time.perf_counter() - t0) / len(queries)
        out = []
        for sq in qvecs:
            t1 = time.perf_counter()
            resp = self._rank(sq, k, filters, w, explain, calibration=calibration, cut=cut, objects=objects)
            resp.took_ms = (time.perf_counter() - t1 + per_query) * 1000
            out.append(resp)
        return out

    def search_image(
        self,
        image: Any,
        *,
        k: int = 20,
        emotion: str | Sequence[str] | None = None,
        media: str | Sequence[str] | None = None,
        source: str | None = None,
        explain: bool = False,
        box: Sequence[float] | None = None,
    ) -> SearchResponse:
        """Items that look like ``image`` (a path, bytes or a PIL image): the image branch alone.

        ``box`` ``(x0, y0, x1, y1)`` in pixels of the image: search by that one object — the object's mask
        inside the box (the ``auto`` segmenter's box prompt) is cut out as the index cuts its regions
        (masked crop) and compared with the items' regions (the ``objects`` branch) when the index keeps
        regions, else with the items' images.
        """
        from PIL import Image

        from memesearch.utils.io import sha256_bytes, sha256_file

        k = check_k(k)
        filters = self._filters(emotion, media, source)
        t0 = time.perf_counter()
        sha = None
        if isinstance(image, Image.Image):
            frames = [image.convert("RGB")]
        else:
            # decode first: a missing file or a named pipe is a MediaError naming `image`, not a hang
            frames = self._decode_query_image(image).frames
            raw = isinstance(image, bytes | bytearray)
            sha = sha256_bytes(bytes(image)) if raw else sha256_file(str(image))
        weights = {"image": 1.0}
        if box is not None:
            try:
                frames = [_object_crop(frames[0], box)]
            except MemesearchError as exc:
                exc.field = exc.field or "box"
                raise
            if getattr(self.branches.get("objects"), "available", False):
                weights = {"objects": 1.0}
        vecs = self.index.encoder.encode_image(frames, batch_size=64)
        qvec = vecs.mean(axis=0)
        qvec = (qvec / max(float(np.linalg.norm(qvec)), 1e-12)).astype(np.float32)
        resp = self._rank(SearchQuery(None, qvec), k, filters, weights, explain, same_sha=sha)
        resp.took_ms = (time.perf_counter() - t0) * 1000
        return resp

    def _decode_query_image(self, image: Any) -> Any:
        """The query image (a path or bytes) decoded; a media error names the ``image`` argument."""
        from memesearch.enrich.media import decode_media

        cfg = self.index.config
        try:
            if isinstance(image, bytes | bytearray):
                return decode_media(
                    bytes(image), max_frames=cfg.max_frames, max_pixels=cfg.max_pixels, name="query image"
                )
            return decode_media(str(image), max_frames=cfg.max_frames, max_pixels=cfg.max_pixels)
        except MemesearchError as exc:
            exc.field = exc.field or "image"
            raise

    def score_matrix(
        self,
        texts: Sequence[str],
        *,
        weights: Mapping[str, float] | None = None,
        batch_size: int = 256,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Exact fused scores of every query vs every item, for evaluation: ``(rowids (N,), scores)``
        where ``scores`` maps ``fused`` and every branch (weighted or not) to a ``(Q, N)`` float32 array
        (NaN = no score). The ranking :meth:`search` returns on an exact index is this one, cut to ``k``.
        """
        queries = [check_query(t) for t in texts]
        w = check_weights(dict(weights)) if weights is not None else self.weights
        active = {b: v for b, v in w.items() if v > 0}
        idx = self.index
        with idx.reading():
            rowids = idx.all_vectors("image")[0]
        sq = query_vectors(idx.encoder, queries, batch_size=batch_size)
        out: dict[str, np.ndarray] = {
            name: branch.score(sq, rowids).astype(np.float32)
            for name, branch in self.branches.items()
            if getattr(branch, "available", True)  # no objects branch on an index without regions
        }
        if self.calibration is not None and weights is None:
            items = self._item_features.lookup(rowids)
            fused = np.empty((len(queries), rowids.size), dtype=np.float32)
            for i in range(len(queries)):
                row = {name: out[name][i] for name in self.calibration.branches if name in out}
                fused[i] = self.calibration.relevance(row, items)[0]
            out["fused"] = fused
        else:
            out["fused"] = weighted_fusion(out, active).astype(np.float32)
        return rowids, out

    def item_features(self, rowids: np.ndarray) -> np.ndarray:
        """The calibration features of the items ``rowids`` (``calibration.item_feature_matrix`` rows)."""
        return self._item_features.lookup(np.asarray(rowids, dtype=np.int64))

    def warm(self) -> Searcher:
        """Do the one-time work now (lexical index, emotion tagger, item features, first encoder call) so
        the first query is fast."""
        lexical = self.branches.get("lexical")
        if isinstance(lexical, LexicalBranch):
            lexical.lexicon()
        emotion = self.branches.get("emotion")
        if isinstance(emotion, EmotionBranch) and (
            self.calibration is None or "emotion" in self.calibration.branches
        ):
            emotion.warm()
        self._item_features.lookup(np.zeros(0, dtype=np.int64))
        self.index.encoder.encode_text(["warm up"], kind="query")
        return self

    # ---- internals -----------------------------------------------------------------------------
    @staticmethod
    def _check_cut(min_relevance: float | None, calibration: Calibration | None) -> float | None:
        if min_relevance is None:
            return None
        try:
            cut = float(min_relevance)
        except (TypeError, ValueError):
            raise QueryError(
                f"min_relevance must be a probability in [0, 1], got {min_relevance!r}", field="min_relevance"
            ) from None
        if not 0.0 <= cut <= 1.0:
            raise QueryError(
                f"min_relevance must be a probability in [0, 1], got {cut}", field="min_relevance"
            )
        if calibration is None:
            raise QueryError(
                "min_relevance needs calibrated relevance: this index has no calibration (fit one with "
                "`memesearch tune`), or fusion weights were given, which turn calibration off",
                field="min_relevance",
            )
        return cut

    def _filters(self, emotion: Any, media: Any, source: str | None) -> dict[str, Any]:
        f: dict[str, Any] = {}
        emos = check_emotions(emotion)
        if emos:
            f["emotion"] = emos
        med = check_media(media)
        if med:
            f["media"] = med
        if source is not None and str(source).strip():
            f["source"] = str(source).strip()
        return f


def _object_crop(image: Any, box: Sequence[float]) -> Any:
    """The object inside ``box`` of ``image`` as the index embeds a region: the ``auto`` segmenter's mask
    for the box prompt, outside painted white, cut to the box (the plain box when it finds nothing)."""
    from memesearch.models.regions import region_crop
    from memesearch.objects import clamp_box, create_segmenter

    rgb = image.convert("RGB")
    clamped = clamp_box(box, rgb.width, rgb.height)
    if clamped is None:
        raise QueryError(f"the box {list(box)} lies outside the {rgb.width}x{rgb.height} image", field="box")
    found = create_segmenter("auto").segment(rgb, boxes=[clamped])
    if found and found[0].mask is not None:
        return region_crop(rgb, found[0].box, found[0].decoded_mask())
    return region_crop(rgb, clamped)


__all__ = ["BRANCHES", "Searcher"]
