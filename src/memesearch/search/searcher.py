"""Search an index: text or image in, ranked items out, with per-branch scores and reasons.

A text query is embedded once (``kind="query"``) and scored by every branch of
:mod:`memesearch.search.branches` (``image``, ``text``, ``lexical``; SPEC §2.2, §2.4).

Candidates are the union of each branch's top hits (the vector store for the dense branches); every
candidate is then scored exactly by every branch. With a calibration in the index
(:mod:`memesearch.search.calibration`, fitted by ``memesearch tune``) each branch score becomes a
probability and they are combined in log-odds space into the hit's ``relevance``, which orders the list
and drives the ``min_relevance`` cut-off; without one (or with explicit ``weights``) the raw scores are
summed with the weights (:func:`memesearch.models.fusion.fuse_scores`, missing scores renormalised).
Filters (emotion, media type, source) are applied before the top ``k`` are cut: a filter that leaves few
items (``exact_filter_limit``) scores all of them exactly; otherwise the ANN candidate lists are widened
until ``k`` items pass or the index is exhausted. The emotion filter is exact: items without any emotion
tag are unknown and left out, and the response says how many (``untagged_excluded``).

Example::

    >>> from memesearch.index import Index                                   # doctest: +SKIP
    >>> s = Searcher(Index.open("memes.idx"))
    >>> for hit in s.search("so sleepy", k=3, explain=True).hits:
    ...     print(hit.rank, hit.id, round(hit.score, 3), hit.why)
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.errors import MemesearchError
from memesearch.index.config import BRANCHES, check_weights
from memesearch.index.records import IndexedItem
from memesearch.index.vector_store import RowFilter
from memesearch.search.branches import (
    Branch,
    EmotionBranch,
    LexicalBranch,
    SearchQuery,
    VectorBranch,
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
from memesearch.search.results import Hit, SearchResponse

logger = logging.getLogger(__name__)


class Searcher:
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
            out["fused"] = _fuse(out, active).astype(np.float32)
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
    def _untagged_count(self) -> int:
        """Items without any emotion tag (a full-table count: kept until the index changes)."""
        gen = self.index.generation
        if self._untagged is None or self._untagged[0] != gen:
            self._untagged = (gen, int(self.index.count_untagged()))
        return self._untagged[1]

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

    def _rank(
        self,
        q: SearchQuery,
        k: int,
        filters: dict[str, Any],
        weights: dict[str, float],
        explain: bool,
        *,
        same_sha: str | None = None,
        calibration: Calibration | None = None,
        cut: float | None = None,
        objects: bool = False,
    ) -> SearchResponse:
        idx = self.index
        query = q.text
        if calibration is not None and query is not None:
            active = {b: 1.0 for b in calibration.branches if b in self.branches}
        else:
            calibration = None
            active = {
                b: w
                for b, w in weights.items()
                if w > 0 and (query is not None or self.branches[b].image_queries)
            }
        if objects and query is not None and "objects" not in active:
            # the objects branch stands in for the image branch (it holds the global score too)
            active["objects"] = (active.pop("image", 0.0) or 1.0) if calibration is None else 1.0
            if calibration is not None:
                active.pop("image", None)
        with idx.reading():
            total = idx.vector_count("image")
            allowed: np.ndarray | None = None
            untagged = self._untagged_count() if filters.get("emotion") else 0
            if filters:
                allowed = idx.rowids_where(
                    emotions=filters.get("emotion", ()),
                    media=filters.get("media", ()),
                    source=filters.get("source"),
                )
            if allowed is not None and allowed.size <= self.exact_filter_limit:
                cand = allowed
            else:
                where = RowFilter(
                    media=tuple(filters.get("media", ())),
                    source=filters.get("source"),
                    emotions=tuple(filters.get("emotion", ())),
                )
                cand = self._candidates(q, k, active, allowed, total, where)
            scores = {b: self.branches[b].score([q], cand)[0] for b in active}
        relevance: np.ndarray | None = None
        if calibration is not None:
            fused = (
                calibration.relevance(
                    _calibrated_view(scores, calibration), self._item_features.lookup(cand)
                )[0]
                if cand.size
                else np.zeros(0)
            )
            relevance = fused
        else:
            fused = _fuse(scores, active) if cand.size else np.zeros(0)
        order = np.argsort(-np.nan_to_num(fused, nan=-np.inf), kind="stable")
        keep = [int(i) for i in order if not math.isnan(fused[i])][:k]
        below = 0
        if cut is not None and relevance is not None:
            below = sum(1 for i in keep if relevance[i] < cut)
            keep = [i for i in keep if relevance[i] >= cut]
        items = idx.items([int(cand[i]) for i in keep])
        regions = self._matched_regions(q, cand[keep]) if "objects" in active else {}
        frames = self._matched_frames(q, cand[keep]) if "image" in active else {}
        hits: list[Hit] = []
        for i in keep:
            item = items.get(int(cand[i]))
            if item is None:  # removed between the vector search and the read
                continue
            branch = {
                b: float(scores[b][i]) for b in self.branches if b in scores and not math.isnan(scores[b][i])
            }
            why = self._explain(q, item, branch, filters, same_sha) if explain else []
            frame = frames.get(int(cand[i]))
            if explain and frame is not None:
                from memesearch.search.frames import describe_frame

                why.append(f"best image match in {describe_frame(frame)}")
            rel = None if relevance is None else float(relevance[i])
            hits.append(
                Hit(
                    rank=len(hits) + 1,
                    id=item.id,
                    score=float(fused[i]),
                    scores=branch,
                    item=item,
                    why=why,
                    relevance=rel,
                    region=regions.get(int(cand[i])),
                    frame=frame,
                )
            )
        return SearchResponse(
            query=query,
            hits=hits,
            k=k,
            filters=filters,
            weights={} if calibration is not None else dict(active),
            total_items=total,
            calibrated=calibration is not None,
            min_relevance=cut,
            below_cut=below,
            untagged_excluded=untagged,
        )

    def _matched_frames(self, q: SearchQuery, rowids: np.ndarray) -> dict[int, dict[str, Any]]:
        """``rowid -> {index, time_ms, score, frames}`` of the frame of each animated hit that matched ``q``
        best, when the image branch scores by the best frame (:mod:`memesearch.search.frames`)."""
        from memesearch.search.branches import ImageBranch
        from memesearch.search.frames import matched_frames

        branch = self.branches.get("image")
        if not isinstance(branch, ImageBranch) or not branch.best_frame or not rowids.size:
            return {}
        return matched_frames(self.index, q.vector_for("image"), rowids)

    def _matched_regions(self, q: SearchQuery, rowids: np.ndarray) -> dict[int, dict[str, Any]]:
        """``rowid -> {box, score, label?}`` of the region that matched ``q`` best (items that have one)."""
        from memesearch.index.config import REGION_SLOTS
        from memesearch.search.branches import ObjectsBranch

        branch = self.branches.get("objects")
        if not isinstance(branch, ObjectsBranch) or not rowids.size:
            return {}
        best, rid = branch.best_regions([q], rowids)
        found = self.index.regions(rowids.tolist(), masks=False)
        out: dict[int, dict[str, Any]] = {}
        for j, r in enumerate(rowids.tolist()):
            if rid[0, j] < 0 or r not in found:
                continue
            region = found[r][int(rid[0, j]) % REGION_SLOTS]
            entry: dict[str, Any] = {"box": [round(v, 2) for v in region.box], "score": float(best[0, j])}
            if region.label is not None:
                entry["label"] = region.label
            out[r] = entry
        return out

    def _candidates(
        self,
        q: SearchQuery,
        k: int,
        active: Mapping[str, float],
        allowed: np.ndarray | None,
        n_items: int,
        where: RowFilter | None = None,
    ) -> np.ndarray:
        """The union of every active branch's top ``n`` (the image branch always contributes), widened
        until ``k`` items pass the filter or the index is exhausted. A vector store that filters itself
        (Milvus) gives a vector branch its top ``n`` among the allowed items directly."""
        n = max(self.candidates, k)
        names = ["image", *[b for b in active if b != "image"]]
        while True:
            found = [self._branch_candidates(self.branches[b], q, n, where) for b in names]
            cand = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
            if allowed is not None:
                cand = cand[np.isin(cand, allowed)]
            if allowed is None or cand.size >= k or n >= n_items:
                return cand
            n *= 4

    @staticmethod
    def _branch_candidates(branch: Branch, q: SearchQuery, n: int, where: RowFilter | None) -> np.ndarray:
        if where and isinstance(branch, VectorBranch):
            pushed = branch.candidates_where(q, n, where)
            if pushed is not None:
                return pushed
        return branch.candidates(q, n)

    def _explain(
        self,
        q: SearchQuery,
        item: IndexedItem,
        scores: Mapping[str, float],
        filters: Mapping[str, Any],
        same_sha: str | None,
    ) -> list[str]:
        why: list[str] = []
        if same_sha is not None and item.sha256 == same_sha:
            why.append("the same file as the query image")
        for name, branch in self.branches.items():  # in display order, whatever order fusion used
            if name in scores:
                reason = branch.explain(q, item, scores[name])
                if reason:
                    why.append(reason)
        if item.emotions:
            from memesearch.data.emotions import EMOTIONS

            wanted = set(filters.get("emotion", ()))
            parts = [
                f"{e}/{EMOTIONS.get(e, e)} {s:.2f}" + (" ✓" if e in wanted else "") for e, s in item.emotions
            ]
            # tags the image emotion head read from the picture (ingest marks them in meta)
            from_picture = (item.meta or {}).get("emotion_source") == "image"
            why.append(("emotion from the picture: " if from_picture else "emotions: ") + ", ".join(parts))
        if item.duplicate_of:
            why.append(f"near-duplicate of {item.duplicate_of}")
        return why


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


def _calibrated_view(scores: dict[str, np.ndarray], calibration: Calibration) -> dict[str, np.ndarray]:
    """The scores a calibration reads: an ``objects`` score (cosines of the same image tower as the image
    branch) is read through the image branch's calibration when the calibration has none of its own."""
    if "objects" in scores and "objects" not in calibration.branches and "image" not in scores:
        return {**scores, "image": scores["objects"]}
    return scores


def _fuse(scores: dict[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    from memesearch.models.fusion import fuse_scores

    present = {b: scores[b] for b in weights if b in scores}
    return fuse_scores(present, {b: weights[b] for b in present})


__all__ = ["BRANCHES", "Searcher"]
