"""Score fusion across retrieval branches: ``score = Σ_b w_b · s_b``, weights chosen on a validation split.

Inputs are per-branch score arrays over the same items (``(N,)`` for one query, ``(Q, N)`` for many),
already on comparable scales: cosine similarity for the dense branches (image, text; *not* multiplied by a
temperature) and calibrated BM25 in [0, 1] for the lexical branch (:mod:`memesearch.models.lexical`).
:func:`normalize_per_query` offers per-query min-max or z-score normalisation for other score kinds.

**Missing scores.** ``NaN`` in a branch's array means "this branch has no score for this item" (e.g. the
lexical branch for an item with no caption and no OCR, or the text branch for an item without context
text). The rule, for each (query, item):

- by default the branch contributes nothing and the weights of the branches that do have a score are
  renormalised: ``fused = Σ_{b present} w_b s_b / Σ_{b present} w_b``;
- a branch listed in ``fill`` uses that value instead of a missing score (``fill={"lexical": 0.0}``
  treats "no text" like "no matching word"). Renormalisation lets an item with no text be ranked on its
  dense scores alone, which favours it over items whose text merely fails to match; with many
  text-less items, filling the lexical branch with 0 avoids that bias. Choose on validation;
- when no branch with a positive weight has a score, the fused score is ``NaN`` (the item is not a
  candidate: :func:`rank` leaves it out; :func:`select_weights` ranks it last).

A missing score is never replaced by the score of an empty-string embedding.

Weights are chosen elsewhere: :func:`memesearch.eval.fusion_weights.select_weights` searches a grid over
the simplex on a *validation* split with the exact metrics (models do not evaluate themselves); this
module holds only the arithmetic that search and evaluation share.

Example::

    >>> import numpy as np
    >>> img = np.array([0.30, 0.25, 0.20]); lex = np.array([0.0, 1.0, np.nan])
    >>> [(r.item_id, round(r.score, 3)) for r in rank(["a", "b", "c"], {"image": img, "lexical": lex},
    ...                                                {"image": 0.8, "lexical": 0.2})]
    [('b', 0.4), ('a', 0.24), ('c', 0.2)]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from memesearch.errors import ConfigError

logger = logging.getLogger(__name__)

#: Score of an item a branch cannot score (no context text) where a finite matrix is needed: below any
#: cosine, so it ranks last. Shared by training (Task scoring), evaluation and the demo.
NO_SCORE = -2.0


@dataclass(frozen=True, slots=True)
class FusedResult:
    """One fused search result: the fused score and the score each branch gave (``None``: no score)."""

    item_id: str
    score: float
    branch_scores: dict[str, float | None]


# --------------------------------------------------------------------------------------------------------
# Fusion arithmetic
# --------------------------------------------------------------------------------------------------------


def normalize_weights(
    weights: Mapping[str, float], branches: Sequence[str] | None = None
) -> dict[str, float]:
    """Check ``weights`` (finite, >= 0, not all 0; one per branch) and scale them to sum to 1."""
    if not weights:
        raise ConfigError(
            "no fusion weights given; expected one weight per branch, e.g. {'image': 0.7, 'text': 0.3}"
        )
    if branches is not None:
        missing = [b for b in branches if b not in weights]
        extra = [b for b in weights if b not in branches]
        if missing or extra:
            raise ConfigError(
                f"fusion weights name branches {sorted(weights)} but the scores come from {sorted(branches)}"
                + (f"; no weight for {missing}" if missing else "")
                + (f"; no scores for {extra}" if extra else "")
            )
    for name, w in weights.items():
        if not (isinstance(w, int | float) and math.isfinite(w) and w >= 0):
            raise ConfigError(f"fusion weight of branch {name!r} must be a finite number >= 0, got {w!r}")
    total = float(sum(weights.values()))
    if total <= 0:
        raise ConfigError(f"fusion weights are all zero ({dict(weights)}); give at least one positive weight")
    return {name: float(w) / total for name, w in weights.items()}


def branch_arrays(branch_scores: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Per-branch scores as float64 arrays of one shape (NaN = no score); infinities are refused."""
    if not branch_scores:
        raise ValueError("no branch scores given")
    arrays = {name: np.asarray(s, dtype=np.float64) for name, s in branch_scores.items()}
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"branch score arrays must have the same shape, got {shapes}")
    for name, a in arrays.items():
        if np.isinf(a).any():
            raise ValueError(f"branch {name!r} has infinite scores; use NaN for 'no score'")
    return arrays


def fuse_scores(
    branch_scores: Mapping[str, Any],
    weights: Mapping[str, float],
    *,
    fill: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Weighted sum of branch scores with the missing-score rule of the module docstring.

    ``branch_scores``: name -> array, all the same shape (``(N,)`` or ``(Q, N)``), NaN = no score.
    Returns float64 of that shape; NaN where no branch with a positive weight has a score.

    >>> fuse_scores({"image": [0.5, 0.5], "lexical": [1.0, float("nan")]}, {"image": 0.5, "lexical": 0.5})
    array([0.75, 0.5 ])
    """
    arrays = branch_arrays(branch_scores)
    w = normalize_weights(weights, list(arrays))
    fill = dict(fill or {})
    unknown = [b for b in fill if b not in arrays]
    if unknown:
        raise ConfigError(f"fill names unknown branch(es) {unknown}; branches: {sorted(arrays)}")
    shape = next(iter(arrays.values())).shape
    num = np.zeros(shape, dtype=np.float64)
    den = np.zeros(shape, dtype=np.float64)
    for name, s in arrays.items():
        if w[name] == 0.0:
            continue  # a zero-weight branch neither scores nor renormalises
        if name in fill:
            s = np.where(np.isnan(s), float(fill[name]), s)
        present = ~np.isnan(s)
        num += np.where(present, w[name] * s, 0.0)
        den += np.where(present, w[name], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def rank(
    item_ids: Sequence[str],
    branch_scores: Mapping[str, Any],
    weights: Mapping[str, float],
    *,
    k: int | None = None,
    fill: Mapping[str, float] | None = None,
) -> list[FusedResult]:
    """Fuse one query's ``(N,)`` branch scores and return the top ``k`` (all when ``None``), best first.

    Every result carries every branch's score (``None`` where the branch had none). Items whose fused
    score is NaN (no weighted branch scored them) are left out; ties keep the order of ``item_ids``.
    """
    arrays = branch_arrays(branch_scores)
    first = next(iter(arrays.values()))
    if first.ndim != 1 or first.shape[0] != len(item_ids):
        raise ValueError(f"expected (N,) = ({len(item_ids)},) scores per branch, got shape {first.shape}")
    if k is not None and k < 1:
        raise ValueError(f"k must be >= 1 or None, got {k}")
    fused = fuse_scores(arrays, weights, fill=fill)
    valid = np.flatnonzero(~np.isnan(fused))
    order = valid[np.argsort(-fused[valid], kind="stable")]
    if k is not None:
        order = order[:k]
    results = []
    for i in order:
        per_branch: dict[str, float | None] = {
            name: (None if np.isnan(a[i]) else float(a[i])) for name, a in arrays.items()
        }
        results.append(FusedResult(item_id=item_ids[i], score=float(fused[i]), branch_scores=per_branch))
    return results


def normalize_per_query(scores: Any, method: Literal["minmax", "zscore"] = "minmax") -> np.ndarray:
    """Per-query (last axis) min-max to [0, 1] or z-score; NaN entries stay NaN and are ignored.

    A query whose scores are all equal maps to 0 (nothing to tell apart).
    """
    s = np.asarray(scores, dtype=np.float64)
    if method not in ("minmax", "zscore"):
        raise ConfigError(f"normalisation must be 'minmax' or 'zscore', got {method!r}")
    out = np.full_like(s, np.nan)
    present = ~np.isnan(s)
    with np.errstate(invalid="ignore"):
        masked = np.where(present, s, np.nan)
        any_present = present.any(axis=-1, keepdims=True)
        safe = np.where(any_present, masked, 0.0)  # avoid all-NaN warnings in nan reductions
        if method == "minmax":
            lo = np.nanmin(safe, axis=-1, keepdims=True)
            span = np.nanmax(safe, axis=-1, keepdims=True) - lo
            val = np.where(span > 0, (s - lo) / np.where(span > 0, span, 1.0), 0.0)
        else:
            mu = np.nanmean(safe, axis=-1, keepdims=True)
            sd = np.nanstd(safe, axis=-1, keepdims=True)
            val = np.where(sd > 0, (s - mu) / np.where(sd > 0, sd, 1.0), 0.0)
    out[present] = val[present]
    return out
