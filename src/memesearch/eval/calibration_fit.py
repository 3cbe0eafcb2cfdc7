"""The fitting core of calibrated fusion: the labelled pairs (:class:`PairSet`), a small L2 logistic
regression (:func:`logistic`) and the joint fit of one calibrator per branch plus the fusion
(:func:`fit_joint`). :mod:`memesearch.eval.calibrate` (model selection, metrics, reports) and
:mod:`memesearch.eval.calibrate_generated` (the two-stage fit of generated-caption evidence) both build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memesearch.errors import ConfigError
from memesearch.search.calibration import (
    BranchCalibration,
    Calibration,
    logit,
)


@dataclass
class PairSet:
    """Candidate (query, item) pairs: per branch the raw score ``(P,)`` (NaN = no score) and its features
    ``(P, F)``; the item features ``(P, Fi)``; the labels ``(P,)``; the query of each pair ``(P,)``;
    ``relevant_total`` = relevant (query, item) pairs in the whole gallery, candidates or not; ``group``
    ``(P,)`` = the condition (data set, gallery) each pair comes from (None: all one group)."""

    scores: dict[str, np.ndarray]
    features: dict[str, np.ndarray]
    items: np.ndarray
    labels: np.ndarray
    query: np.ndarray
    relevant_total: int
    group: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.group is None:
            self.group = np.zeros(self.labels.size, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.labels.size)

    @property
    def groups(self) -> np.ndarray:
        """The condition of every pair ``(P,)`` (zeros when there is one)."""
        assert self.group is not None
        return self.group

    @classmethod
    def concat(cls, parts: Sequence[PairSet]) -> PairSet:
        """One pair set of ``parts``; queries are renumbered, and each part's groups become their own."""
        names = sorted({n for p in parts for n in p.scores})
        offset = group_offset = 0
        queries, groups = [], []
        for p in parts:
            queries.append(p.query + offset)
            offset += int(p.query.max()) + 1 if p.query.size else 0
            groups.append(p.groups + group_offset)
            group_offset += int(p.groups.max()) + 1 if p.groups.size else 1
        return cls(
            scores={n: np.concatenate([p.scores[n] for p in parts]) for n in names},
            features={n: np.concatenate([p.features[n] for p in parts]) for n in names},
            items=np.concatenate([p.items for p in parts]),
            labels=np.concatenate([p.labels for p in parts]),
            query=np.concatenate(queries),
            relevant_total=sum(p.relevant_total for p in parts),
            group=np.concatenate(groups) if groups else np.zeros(0, np.int64),
        )

    def subset(self, mask: np.ndarray) -> PairSet:
        """The pairs where ``mask`` holds (``relevant_total`` is kept: it is a report, not a fit input)."""
        return PairSet(
            scores={n: v[mask] for n, v in self.scores.items()},
            features={n: v[mask] for n, v in self.features.items()},
            items=self.items[mask],
            labels=self.labels[mask],
            query=self.query[mask],
            relevant_total=self.relevant_total,
            group=self.groups[mask],
        )


def logistic(
    x: np.ndarray, y: np.ndarray, c: float, *, offset: np.ndarray | None = None, intercept: bool = True
) -> tuple[list[float], float]:
    """``(coef, intercept)`` minimising ``c * sum(log-loss) + |coef|^2 / 2`` (the intercept is not
    penalised: scikit-learn's ``LogisticRegression(C=c)`` objective), solved to convergence by damped Newton
    steps: few features over many pairs, where L-BFGS stops early, far from the optimum.

    The penalty is on the features' own units on purpose (scores within [-1, 1], log ranks and counts
    within [0, 4], item features within [0, 5]): a feature that barely varies where the calibration is
    fitted (an emotion score on a few items) cannot get a coefficient so large that another gallery, where
    it varies more, makes it decide every ranking. Standardising the columns first fits the validation sets
    as well and breaks a captioned, emotion-tagged gallery completely.

    ``offset``: a fixed ``(N,)`` term added to every pair's log-odds (a model fitted before, kept as is);
    ``intercept=False`` fits none (returned as 0)."""
    x = np.asarray(x, np.float64).reshape(len(y), -1)
    a = np.column_stack([x, np.ones(len(y))]) if intercept else x
    t = np.asarray(y, np.float64)
    base = np.zeros(len(y)) if offset is None else np.asarray(offset, np.float64)
    ridge = np.ones(a.shape[1])
    w = np.zeros(a.shape[1])
    if intercept:
        ridge[-1] = 0.0
        rate = float(np.clip(t.mean(), 1e-6, 1 - 1e-6))
        w[-1] = np.log(rate / (1 - rate))

    def objective(v: np.ndarray) -> float:
        z = a @ v + base
        return float(c * np.sum(np.logaddexp(0.0, z) - t * z) + 0.5 * np.sum(ridge * v * v))

    f = objective(w)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w + base, -40.0, 40.0)))
        grad = c * (a.T @ (p - t)) + ridge * w
        hess = c * (a.T * (p * (1.0 - p))) @ a + np.diag(ridge) + 1e-12 * np.eye(a.shape[1])
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        decrease = float(grad @ step)
        if decrease < 1e-10 * max(1.0, abs(f)):
            break
        size = 1.0
        while size > 1e-8:  # backtracking until the Armijo condition holds
            candidate = w - size * step
            fc = objective(candidate)
            if fc <= f - 1e-4 * size * decrease:
                break
            size *= 0.5
        else:
            break
        w, f = candidate, fc
    if not intercept:
        return [float(v) for v in w], 0.0
    return [float(v) for v in w[:-1]], float(w[-1])


def enough_pairs(y: np.ndarray, min_pairs: int) -> bool:
    return y.size >= min_pairs and y.min() != y.max()


def fit_joint(pairs: PairSet, c: float, c_fusion: float, min_pairs: int) -> Calibration:
    """One calibrator per branch over every pair, then the fusion (module docstring)."""
    y = pairs.labels.astype(int)
    if len(pairs) < min_pairs or y.min() == y.max():
        raise ConfigError(
            f"too few labelled pairs to calibrate: {len(pairs)} candidate pairs, {int(y.sum())} relevant; "
            "give more labelled queries (each with at least one relevant indexed item)"
        )
    branches: dict[str, BranchCalibration] = {}
    for name, feats in pairs.features.items():
        present = ~np.isnan(pairs.scores[name])
        if enough_pairs(y[present], min_pairs):
            coef, intercept = logistic(feats[present], y[present], c)
            branches[name] = BranchCalibration(coef, intercept)
    if not branches:
        raise ConfigError(
            "no branch has enough scored pairs with both relevant and irrelevant items to calibrate"
        )
    columns = []
    for name, cal in branches.items():
        present = ~np.isnan(pairs.scores[name])
        p = np.full(len(pairs), 0.5)
        p[present] = cal.probability(pairs.features[name][present])
        columns.append(np.where(present, logit(p), 0.0))
        columns.append((~present).astype(np.float64))
    coef, intercept = logistic(np.column_stack(columns), y, c_fusion)
    names = list(branches)
    return Calibration(
        branches=branches,
        fusion_intercept=intercept,
        fusion_weights={n: coef[2 * k] for k, n in enumerate(names)},
        missing={n: coef[2 * k + 1] for k, n in enumerate(names)},
    )
