"""Fusion weights chosen on a validation split: a grid over the simplex, scored with the exact metrics.

The arithmetic (:func:`~memesearch.models.fusion.fuse_scores`, missing-score rule) is the models' and is
shared with search; choosing the weights is an evaluation and lives here. :func:`select_weights` refuses
a split named "test" unless told otherwise (the seeds chose alpha on test); the result keeps the whole
sweep, which :func:`plot_sweep` draws.

Example::

    sel = select_weights({"image": s_img, "lexical": s_lex}, split.qrels(), split.item_ids(),
                         [q.id for q in split.queries], split_name="val", metric="R@10")
    fused_test = sel.fuse({"image": t_img, "lexical": t_lex})
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.data.splits import is_test_split
from memesearch.errors import ConfigError, DataFormatError
from memesearch.eval.retrieval import evaluate_scores
from memesearch.models.fusion import branch_arrays, fuse_scores, normalize_weights
from memesearch.utils.io import atomic_open, atomic_write_bytes

logger = logging.getLogger(__name__)

#: Metrics where a lower value is better (ranks); every other metric is maximised.
LOWER_IS_BETTER: frozenset[str] = frozenset({"MdR", "MnR"})


# --------------------------------------------------------------------------------------------------------
# Weight selection on a validation split
# --------------------------------------------------------------------------------------------------------


def weight_grid(branches: Sequence[str], step: float = 0.1) -> list[dict[str, float]]:
    """Every weight vector on the simplex whose entries are multiples of ``step`` (1/step an integer).

    >>> weight_grid(["image", "lexical"], step=0.5)
    [{'image': 0.0, 'lexical': 1.0}, {'image': 0.5, 'lexical': 0.5}, {'image': 1.0, 'lexical': 0.0}]
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
        atomic_write_bytes(path, json.dumps(self.to_dict(), indent=1).encode("utf-8"))
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
    :func:`memesearch.eval.retrieval.evaluate_scores` (``metric_kwargs`` are passed on, e.g. ``ties=``).
    Items with a NaN fused score are ranked last. Among grid points with the same metric value the one
    nearest equal weights wins, then the first in grid order (deterministic).

    Raises :class:`~memesearch.errors.ConfigError` when ``split_name`` names a test split, unless
    ``allow_test=True`` (for a deliberate post-hoc analysis only: weights chosen on test inflate test
    numbers, as in the seeds' alpha sweep).

    Example::

        sel = select_weights({"image": s_img, "lexical": s_lex}, split.qrels(), split.item_ids(),
                             [q.id for q in split.queries], split_name="val", metric="R@10")
        fused_test = sel.fuse({"image": t_img, "lexical": t_lex})
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
    arrays = branch_arrays(branch_scores)
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
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png")
    return path


def _fmt_weights(w: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.2f}" for k, v in w.items())
