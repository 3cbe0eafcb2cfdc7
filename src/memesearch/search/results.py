"""What a search returns (plain dataclasses, JSON-ready): a ranked list of hits with per-branch scores.

``to_dict()`` gives the JSON form used by ``memesearch search --json`` and by the HTTP API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memesearch.index.config import BRANCHES
from memesearch.index.records import IndexedItem


@dataclass
class Hit:
    """One search result.

    ``score`` is the fused score the list is sorted by; ``scores`` holds each branch's own score
    (``image``: query vs item embedding, ``text``: query vs caption/OCR embedding, ``lexical``:
    calibrated BM25 over caption/OCR words), missing where the branch had no score for the item.
    ``why`` lists human-readable reasons (filled when ``explain=True``). ``relevance`` is the calibrated
    probability that the item is relevant (None when the index has no calibration); when it is there the
    list is sorted by it and ``score`` equals it. ``region`` is the item's region that matched best when
    the ``objects`` branch ranked (``{"box": [x0, y0, x1, y1] in pixels of the image, "score": its cosine,
    "label"?}``), else None. ``frame`` is, for an animated item scored by its best frame, the sampled
    frame that matched the query best (``{"index": 0-based among the sampled frames, "time_ms": its time
    or null, "score": its cosine, "frames": how many were sampled}``), else None. ``generated_caption``
    (JSON only) says when the item's text, which the text and lexical branches matched, is (partly)
    captions a captioner wrote (:meth:`IndexedItem.generated_caption`: the captions, the captioner's name
    and version); null otherwise.
    """

    rank: int
    id: str
    score: float
    scores: dict[str, float]
    item: IndexedItem
    why: list[str] = field(default_factory=list)
    relevance: float | None = None
    region: dict[str, Any] | None = None
    frame: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "id": self.id,
            "score": round(float(self.score), 6),
            "relevance": None if self.relevance is None else round(float(self.relevance), 6),
            "scores": {k: round(float(v), 6) for k, v in self.scores.items()},
            "why": list(self.why),
            "generated_caption": self.item.generated_caption(),
            "region": None if self.region is None else dict(self.region),
            "frame": None if self.frame is None else dict(self.frame),
            "item": self.item.to_dict(),
        }


@dataclass
class SearchResponse:
    """The ranked hits for one query plus what was asked and how long it took."""

    query: str | None
    hits: list[Hit]
    k: int
    filters: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    took_ms: float = 0.0
    total_items: int = 0
    branches: list[str] = field(default_factory=lambda: list(BRANCHES))
    calibrated: bool = False
    min_relevance: float | None = None
    below_cut: int = 0
    untagged_excluded: int = 0  # items with no emotion tag that an emotion filter left out

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "k": self.k,
            "filters": self.filters,
            "weights": self.weights,
            "took_ms": round(self.took_ms, 3),
            "total_items": self.total_items,
            "branches": list(self.branches),
            "calibrated": self.calibrated,
            "min_relevance": self.min_relevance,
            "below_cut": self.below_cut,
            "untagged_excluded": self.untagged_excluded,
            "hits": [h.to_dict() for h in self.hits],
        }
