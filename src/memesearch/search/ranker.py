"""Ranking one encoded query: candidates, exact branch scores, fusion or calibrated relevance, the cut-off
and the hits with their reasons; :class:`Ranker` is the mixin :class:`~memesearch.search.searcher.Searcher`
takes this from.

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

Each hit then gets what it says beyond its scores: the region that matched (``objects`` branch), the
frame of an animated item that matched (:mod:`memesearch.search.frames`) and, with ``explain``, the
reasons (``why``) every branch gives. Checking the arguments, encoding the query and the public API stay
in :mod:`memesearch.search.searcher`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from memesearch.index.records import IndexedItem
from memesearch.index.vector_store import RowFilter
from memesearch.search.branches import Branch, SearchQuery, VectorBranch
from memesearch.search.calibration import Calibration, ItemFeatureTable
from memesearch.search.results import Hit, SearchResponse


class Ranker:
    """Ranks one :class:`SearchQuery` against an index (see the module docstring); a mixin of
    :class:`~memesearch.search.searcher.Searcher`, which sets the attributes declared here."""

    index: Any
    branches: dict[str, Branch]
    candidates: int
    exact_filter_limit: int
    _item_features: ItemFeatureTable
    _untagged: tuple[int, int] | None  # (generation, items without emotion tags)

    def _untagged_count(self) -> int:
        """Items without any emotion tag (a full-table count: kept until the index changes)."""
        gen = self.index.generation
        if self._untagged is None or self._untagged[0] != gen:
            self._untagged = (gen, int(self.index.count_untagged()))
        return self._untagged[1]

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
            fused = weighted_fusion(scores, active) if cand.size else np.zeros(0)
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
        textless = getattr(self.index.config, "frame_pooling", "") == "best-textless"
        frames = branch.frames_for(rowids, ungated=branch.ungates(q))
        return matched_frames(frames, q.vector_for("image"), rowids, textless=textless)

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


def _calibrated_view(scores: dict[str, np.ndarray], calibration: Calibration) -> dict[str, np.ndarray]:
    """The scores a calibration reads: an ``objects`` score (cosines of the same image tower as the image
    branch) is read through the image branch's calibration when the calibration has none of its own."""
    if "objects" in scores and "objects" not in calibration.branches and "image" not in scores:
        return {**scores, "image": scores["objects"]}
    return scores


def weighted_fusion(scores: dict[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The weighted sum of the branch ``scores`` named in ``weights`` (missing scores renormalised:
    :func:`memesearch.models.fusion.fuse_scores`); the uncalibrated order."""
    from memesearch.models.fusion import fuse_scores

    present = {b: scores[b] for b in weights if b in scores}
    return fuse_scores(present, {b: weights[b] for b in present})


__all__ = ["Ranker", "weighted_fusion"]
