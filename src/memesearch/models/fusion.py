"""Score fusion across retrieval branches: ``score = Σ_b w_b · s_b``, weights chosen on a validation split.

Inputs are per-branch score arrays over the same items (``(N,)`` for one query, ``(Q, N)`` for many),
already on comparable scales: cosine similarity for the dense branches (QI, QC; *not* multiplied by a
temperature) and calibrated BM25 in [0, 1] for the lexical branch (:mod:`memesearch.models.lexical`).
:func:`normalize_per_query` offers per-query min-max or z-score normalisation for other score kinds.

**Missing scores.** ``NaN`` in a branch's array means "this branch has no score for this item" (e.g. the
lexical branch for an item with no caption and no OCR, or QC for an item without context text). The
rule, for each (query, item):

- by default the branch contributes nothing and the weights of the branches that do have a score are
  renormalised: ``fused = Σ_{b present} w_b s_b / Σ_{b present} w_b``;
- a branch listed in ``fill`` uses that value instead of a missing score (``fill={"lexical": 0.0}``
  treats "no text" like "no matching word"). Renormalisation lets an item with no text be ranked on its
  dense scores alone, which favours it over items whose text merely fails to match; with many
  text-less items, filling the lexical branch with 0 avoids that bias. Choose on validation;
- when no branch with a positive weight has a score, the fused score is ``NaN`` (the item is not a
  candidate: :func:`rank` leaves it out; :func:`select_weights` ranks it last).

A missing score is never replaced by the score of an empty-string embedding.

Weights are chosen by :func:`select_weights` with a grid over the simplex on a *validation* split (it
refuses a split named "test" unless told otherwise; the seeds chose alpha on test) and the result keeps
the whole sweep, which :func:`plot_sweep` draws.

Example::

    >>> import numpy as np
    >>> qi = np.array([0.30, 0.25, 0.20]); lex = np.array([0.0, 1.0, np.nan])
    >>> [(r.item_id, round(r.score, 3)) for r in rank(["a", "b", "c"], {"qi": qi, "lexical": lex},
    ...                                                {"qi": 0.8, "lexical": 0.2})]
    [('b', 0.4), ('a', 0.24), ('c', 0.2)]
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from memesearch.errors import ConfigError, DataFormatError

logger = logging.getLogger(__name__)

#: Metrics where a lower value is better (ranks); every other metric is maximised.
LOWER_IS_BETTER: frozenset[str] = frozenset({"MdR", "MnR"})
_TEST_NAME = re.compile(r"(?<![a-z])test(?![a-z])")


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
            "no fusion weights given; expected one weight per branch, e.g. {'qi': 0.7, 'qc': 0.3}"
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


def _as_arrays(branch_scores: Mapping[str, Any]) -> dict[str, np.ndarray]:
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

    >>> fuse_scores({"qi": [0.5, 0.5], "lexical": [1.0, float("nan")]}, {"qi": 0.5, "lexical": 0.5})
    array([0.75, 0.5 ])
    """
    arrays = _as_arrays(branch_scores)
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
    arrays = _as_arrays(branch_scores)
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


# --------------------------------------------------------------------------------------------------------
# Weight selection on a validation split
# --------------------------------------------------------------------------------------------------------


def weight_grid(branches: Sequence[str], step: float = 0.1) -> list[dict[str, float]]:
    """Every weight vector on the simplex whose entries are multiples of ``step`` (1/step an integer).

    >>> weight_grid(["qi", "lexical"], step=0.5)
    [{'qi': 0.0, 'lexical': 1.0}, {'qi': 0.5, 'lexical': 0.5}, {'qi': 1.0, 'lexical': 0.0}]
    """
    if not branches:
        raise ValueError("no branches to weight")
    if len(set(branches)) != len(branches):
        raise ValueError(f"branch names repeat: {list(branches)}")
    if not (0 < step <= 1):
        raise ConfigError(f"grid step must be in (0, 1], got {step}")
    n = round(1 / step)
    if abs(n * step - 1) > 1e-9:
        raise ConfigError(f"grid step must divide 1 (e.g. 0.1, 0.05, 0.25), got {step}")
    grid = []
    for combo in itertools.product(range(n + 1), repeat=len(branches) - 1):
        rest = n - sum(combo)
        if rest < 0:
            continue
        grid.append({b: c / n for b, c in zip(branches, (*combo, rest), strict=True)})
    return grid


@dataclass(frozen=True)
class WeightSelection:
    """The chosen fusion weights, how they were chosen, and the whole sweep.

    ``sweep`` lists ``(weights, metric value)`` for every grid point in grid order; ``split_name`` is the
    split the weights were chosen on.
    """

    weights: dict[str, float]
    metric: str
    metric_value: float
    split_name: str
    sweep: list[tuple[dict[str, float], float]]
    fill: dict[str, float] = field(default_factory=dict)
    n_queries: int = 0
    n_items: int = 0

    @property
    def branches(self) -> list[str]:
        return list(self.weights)

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER

    def fuse(self, branch_scores: Mapping[str, Any]) -> np.ndarray:
        """:func:`fuse_scores` with the chosen weights and fill rule."""
        return fuse_scores(branch_scores, self.weights, fill=self.fill)

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "metric": self.metric,
            "metric_value": self.metric_value,
            "split_name": self.split_name,
            "fill": self.fill,
            "n_queries": self.n_queries,
            "n_items": self.n_items,
            "sweep": [{"weights": w, "value": v} for w, v in self.sweep],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WeightSelection:
        try:
            return cls(
                weights={k: float(v) for k, v in data["weights"].items()},
                metric=str(data["metric"]),
                metric_value=float(data["metric_value"]),
                split_name=str(data["split_name"]),
                sweep=[
                    ({k: float(v) for k, v in p["weights"].items()}, float(p["value"])) for p in data["sweep"]
                ],
                fill={k: float(v) for k, v in data.get("fill", {}).items()},
                n_queries=int(data.get("n_queries", 0)),
                n_items=int(data.get("n_items", 0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataFormatError(
                f"not a weight selection record ({type(exc).__name__}: {exc})",
                hint="expected keys weights, metric, metric_value, split_name, sweep",
            ) from exc

    def save(self, path: str | Path) -> Path:
        """Write the selection as JSON (atomically)."""
        path = Path(path)
        _atomic_write_bytes(path, json.dumps(self.to_dict(), indent=1).encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> WeightSelection:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from exc
        try:
            return cls.from_dict(data)
        except DataFormatError as exc:
            raise DataFormatError(exc.reason, path=path, hint=exc.hint) from exc


def is_test_split(split_name: str) -> bool:
    """True when ``split_name`` names a test split ("test", "test_unseen", "emoji-test", ...)."""
    return bool(_TEST_NAME.search(split_name.lower()))


def select_weights(
    branch_scores: Mapping[str, Any],
    qrels: Mapping[str, Mapping[str, int]],
    item_ids: Sequence[str],
    query_ids: Sequence[str],
    *,
    split_name: str,
    grid: float | Sequence[Mapping[str, float]] = 0.1,
    metric: str = "R@10",
    fill: Mapping[str, float] | None = None,
    allow_test: bool = False,
    **metric_kwargs: Any,
) -> WeightSelection:
    """Choose fusion weights that maximise ``metric`` (minimise for ranks such as MdR) on a validation split.

    ``branch_scores``: name -> ``(Q, N)`` scores (rows follow ``query_ids``, columns ``item_ids``; NaN = no
    score). ``grid``: a step for :func:`weight_grid` or an explicit list of weight dicts. Each grid point
    is fused with :func:`fuse_scores` and scored with
    :func:`memesearch.eval.metrics.evaluate_scores` (``metric_kwargs`` are passed on, e.g. ``ties=``).
    Items with a NaN fused score are ranked last. Among grid points with the same metric value the one
    nearest equal weights wins, then the first in grid order (deterministic).

    Raises :class:`~memesearch.errors.ConfigError` when ``split_name`` names a test split, unless
    ``allow_test=True`` (for a deliberate post-hoc analysis only: weights chosen on test inflate test
    numbers, as in the seeds' alpha sweep).

    Example::

        sel = select_weights({"qi": s_qi, "lexical": s_lex}, split.qrels(), split.item_ids(),
                             [q.id for q in split.queries], split_name="val", metric="R@10")
        fused_test = sel.fuse({"qi": t_qi, "lexical": t_lex})
    """
    if not isinstance(split_name, str) or not split_name:
        raise ConfigError("split_name must name the split the weights are chosen on (e.g. 'val')")
    if is_test_split(split_name) and not allow_test:
        raise ConfigError(
            f"refusing to choose fusion weights on split {split_name!r}: weights must be chosen on a "
            "validation split (e.g. 'val'), never on test; pass allow_test=True only for a deliberate "
            "post-hoc analysis"
        )
    if is_test_split(split_name):
        logger.warning("fusion weights are being chosen on test split %r (allow_test=True)", split_name)
    arrays = _as_arrays(branch_scores)
    shape = next(iter(arrays.values())).shape
    if len(shape) != 2 or shape != (len(query_ids), len(item_ids)):
        raise ValueError(
            f"branch scores must be (Q, N) = ({len(query_ids)}, {len(item_ids)}) for the given query and "
            f"item ids, got {shape}"
        )
    branches = list(arrays)
    points = weight_grid(branches, grid) if isinstance(grid, int | float) else [dict(p) for p in grid]
    if not points:
        raise ConfigError("the weight grid is empty")
    for p in points:
        normalize_weights(p, branches)  # validates names and values

    from memesearch.eval.metrics import evaluate_scores

    metric_kwargs.setdefault("curve", False)  # the recall curve is not needed per grid point
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    sweep: list[tuple[dict[str, float], float]] = []
    best_i, best_key = -1, (-math.inf, -math.inf)
    for i, point in enumerate(points):
        fused = _rank_missing_last(fuse_scores(arrays, point, fill=fill))
        report = evaluate_scores(fused, qrels, list(query_ids), list(item_ids), **metric_kwargs)
        if metric not in report.metrics:
            raise ConfigError(f"unknown metric {metric!r}; the evaluation reports {sorted(report.metrics)}")
        value = float(report.metrics[metric])
        sweep.append((dict(point), value))
        # ties on the metric go to the point nearest equal weights (no branch dropped without evidence)
        key = (sign * value, -_distance_to_uniform(normalize_weights(point, branches)))
        if not math.isnan(value) and key > best_key:
            best_i, best_key = i, key
    if best_i < 0:
        raise ConfigError(
            f"{metric} is undefined (NaN) at every grid point on split {split_name!r}: no query of the split "
            "qualifies for it (e.g. no query has a relevant item among the given items)"
        )
    best_w, best_v = sweep[best_i]
    logger.info("fusion weights chosen on %r: %s (%s = %.4f)", split_name, best_w, metric, best_v)
    return WeightSelection(
        weights=dict(best_w),
        metric=metric,
        metric_value=best_v,
        split_name=split_name,
        sweep=sweep,
        fill=dict(fill or {}),
        n_queries=len(query_ids),
        n_items=len(item_ids),
    )


def _distance_to_uniform(weights: Mapping[str, float]) -> float:
    w = np.array(list(weights.values()), dtype=np.float64)
    return float(np.round(np.linalg.norm(w - 1.0 / len(w)), 9))  # rounded: grid points compare exactly


def _rank_missing_last(fused: np.ndarray) -> np.ndarray:
    """Replace NaN (no branch scored the item) with a value below every real score of the matrix."""
    nan = np.isnan(fused)
    if not nan.any():
        return fused
    floor = float(np.nanmin(fused)) - 1.0 if (~nan).any() else 0.0
    return np.where(nan, floor, fused)


# --------------------------------------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------------------------------------


def plot_sweep(selection: WeightSelection, path: str | Path) -> Path:
    """Draw the fusion-weight sweep of ``selection`` as a PNG at ``path`` (written atomically).

    Two branches: the metric against the first branch's weight. Three: the grid in the plane of the first
    two weights, coloured by the metric. More: the metric per grid point in grid order. The chosen point
    is marked; the title names the split the weights were chosen on.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    branches = selection.branches
    values = np.array([v for _, v in selection.sweep], dtype=np.float64)
    best = selection.weights
    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    label = f"{selection.metric} ({'lower' if not selection.higher_is_better else 'higher'} is better)"
    if len(branches) == 2:
        a = branches[0]
        xs = np.array([w[a] for w, _ in selection.sweep])
        order = np.argsort(xs, kind="stable")
        ax.plot(xs[order], values[order], marker="o")
        ax.axvline(
            best[a],
            color="tab:red",
            linestyle="--",
            label=f"chosen: {_fmt_weights(best)} ({selection.metric} {selection.metric_value:.4g})",
        )
        ax.set_xlabel(f"weight of {a} (weight of {branches[1]} = 1 - it)")
        ax.set_ylabel(label)
        ax.legend(loc="best")
    elif len(branches) == 3:
        a, b = branches[0], branches[1]
        xs = np.array([w[a] for w, _ in selection.sweep])
        ys = np.array([w[b] for w, _ in selection.sweep])
        sc = ax.scatter(xs, ys, c=values, cmap="viridis", s=80)
        fig.colorbar(sc, ax=ax, label=label)
        ax.scatter(
            [best[a]],
            [best[b]],
            marker="*",
            s=300,
            facecolors="none",
            edgecolors="tab:red",
            label=f"chosen: {_fmt_weights(best)} ({selection.metric} {selection.metric_value:.4g})",
        )
        ax.set_xlabel(f"weight of {a}")
        ax.set_ylabel(f"weight of {b} (weight of {branches[2]} = 1 - both)")
        ax.set_aspect("equal")
        ax.legend(loc="upper right")
    else:
        xs = np.arange(len(values))
        ax.plot(xs, values, marker=".")
        best_i = next(i for i, (w, _) in enumerate(selection.sweep) if w == best)
        ax.plot(
            [best_i],
            [values[best_i]],
            marker="*",
            markersize=15,
            color="tab:red",
            label=f"chosen: {_fmt_weights(best)} ({selection.metric} {selection.metric_value:.4g})",
        )
        ax.set_xlabel("grid point")
        ax.set_ylabel(label)
        ax.legend(loc="best")
    ax.set_title(
        f"fusion weights chosen on '{selection.split_name}' "
        f"({selection.n_queries} queries, {selection.n_items} items)"
    )
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format="png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _fmt_weights(w: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.2f}" for k, v in w.items())


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
