"""Calibrated fusion: each branch's raw score becomes a probability of relevance; the probabilities are
combined in log-odds space into the hit's ``relevance`` (SPEC §2.2 "Fusion", §2.4).

Raw scores of different branches are not comparable (e5 cosines of unrelated texts sit at 0.80-0.90, the
starter's image cosines at 0.0-0.3, BM25 is calibrated per query to [0, 1]), so adding them weighted lets
one branch's noise floor beat another's signal. Instead, for each branch ``b``::

    p_b = sigmoid(w_b · x_b + c_b)

where ``x_b`` are the features of one (query, item) pair (:data:`FEATURES`): the raw score; its gap to the
query's best score in that branch; the log of its rank in that branch (capped at :data:`RANK_CAP`: ranks
among the candidates are exact up to there, see below); the log of how many candidates the branch scored
(capped the same way: being first of two items with text says little, first of fifty says a lot, and a
folder where almost nothing carries text gives the text branches exactly that); and what the item carries
(readable OCR lines, their mean OCR confidence, a caption, the media type). The fused relevance is a
learned log-odds combination::

    logit(relevance) = a + Σ_b [ present_b · v_b · logit(p_b) + (1 - present_b) · m_b ]

with ``present_b`` = the branch has a score for the item (an item without text has no text score: its
``m_text`` says how much that absence itself tells). Coefficients are fitted by logistic regression on a
validation split under realistic conditions (:mod:`memesearch.eval.calibrate`) and stored in the index
(``index.json`` ``config.calibration``). Rank and gap are computed over the candidates of one query:
every branch contributes its top ``n`` candidates, so an item's rank in a branch is exact whenever it is
within that branch's top ``n`` (>= :data:`RANK_CAP`), the branch's best score is always a candidate, and the
count of scored candidates is exact up to :data:`RANK_CAP`.

Version 2 added the ``log_scored`` feature; a version 1 calibration (``index.json`` written before) is read
with a zero coefficient for it, which gives exactly the relevance it gave before.

Example::

    >>> cal = Calibration.from_dict(index.config.calibration)                   # doctest: +SKIP
    >>> relevance, per_branch = cal.relevance(scores, item_features)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memesearch.errors import ConfigError

CALIBRATION_VERSION = 2
#: ranks (and counts of scored candidates) beyond this are one feature value ("far down", "many")
RANK_CAP = 50
#: the per-pair features of a branch score, in coefficient order
FEATURES: tuple[str, ...] = (
    "score",
    "gap",
    "log_rank",
    "log_scored",
    "ocr_lines",
    "ocr_quality",
    "has_caption",
    "is_gif",
    "is_video",
)
#: item features (columns of :func:`item_feature_matrix`), a suffix of :data:`FEATURES`
ITEM_FEATURES: tuple[str, ...] = FEATURES[4:]
#: the features of version 1 (no ``log_scored``): read by inserting a zero coefficient
_V1_FEATURES: tuple[str, ...] = tuple(f for f in FEATURES if f != "log_scored")
_EPS = 1e-6


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` with ``p`` clipped away from 0 and 1."""
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(q / (1.0 - q))


def query_features(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(gap, log_rank)`` of each score among one query's candidates ``(N,)`` (NaN = no score: NaN out).

    gap = score - the best score; rank 1 = the best (ties share the better rank), capped at RANK_CAP.
    """
    s = np.asarray(scores, dtype=np.float64)
    present = ~np.isnan(s)
    gap = np.full(s.shape, np.nan)
    log_rank = np.full(s.shape, np.nan)
    if present.any():
        vals = s[present]
        gap[present] = vals - vals.max()
        order = np.sort(vals)[::-1]
        # rank = 1 + number of scores strictly greater
        greater = len(order) - np.searchsorted(order[::-1], vals, side="right")
        log_rank[present] = np.log(np.minimum(greater + 1, RANK_CAP))
    return gap, log_rank


def pair_features(scores: np.ndarray, items: np.ndarray) -> np.ndarray:
    """``(N, len(FEATURES))`` features of one query's candidates in one branch (rows with NaN score: NaN
    in the score, gap, rank and count columns).

    ``items`` is ``(N, len(ITEM_FEATURES))`` (:func:`item_feature_matrix`)."""
    s = np.asarray(scores, np.float64)
    gap, log_rank = query_features(s)
    present = ~np.isnan(s)
    log_scored = np.where(present, np.log(max(1, min(int(present.sum()), RANK_CAP))), np.nan)
    return np.column_stack([s, gap, log_rank, log_scored, np.asarray(items, np.float64)])


def item_feature_matrix(
    ocr_lines: np.ndarray, ocr_quality: np.ndarray, has_caption: np.ndarray, media: list[str]
) -> np.ndarray:
    """``(N, len(ITEM_FEATURES))`` from per-item arrays (readable OCR lines, capped at 5 by the caller or
    here; mean OCR confidence of those lines, 0 without; caption present; media type)."""
    m = np.asarray(media)
    return np.column_stack(
        [
            np.minimum(np.asarray(ocr_lines, np.float64), 5.0),
            np.asarray(ocr_quality, np.float64),
            np.asarray(has_caption, np.float64),
            (m == "gif").astype(np.float64),
            (m == "video").astype(np.float64),
        ]
    )


class ItemFeatureTable:
    """:func:`item_feature_matrix` rows of an index's items by rowid, following the index's writes
    (:class:`~memesearch.search.item_tables.FollowedItemTable`, lazy: a query reads the rows of its candidates
    it has not seen yet; a write makes the changed items be read again)."""

    def __init__(self, index: Any) -> None:
        from memesearch.search.item_tables import FollowedItemTable

        self.index = index
        self._table = FollowedItemTable(index, self._read, len(ITEM_FEATURES), lazy=True)

    def _read(self, rowids: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray]:
        from memesearch.data.records import is_readable_text

        rows = self.index.context_rows(rowids)
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, len(ITEM_FEATURES)))
        readable = [[c for t, c in r[3] if is_readable_text(t)] for r in rows]
        matrix = item_feature_matrix(
            np.array([len(x) for x in readable]),
            np.array([float(np.mean(x)) if x else 0.0 for x in readable]),
            np.array([r[2] for r in rows]),
            [r[1] for r in rows],
        )
        return np.array([r[0] for r in rows], dtype=np.int64), matrix

    def lookup(self, rowids: np.ndarray) -> np.ndarray:
        """``(len(rowids), len(ITEM_FEATURES))``; rowids no longer in the index get zeros."""
        return self._table.lookup(np.asarray(rowids, np.int64))[1]


@dataclass
class BranchCalibration:
    """``p = sigmoid(coef · features + intercept)`` for one branch."""

    coef: list[float]
    intercept: float

    def probability(self, features: np.ndarray) -> np.ndarray:
        """``(N,)`` probabilities of ``(N, len(FEATURES))`` features (NaN rows give NaN)."""
        x = np.asarray(features, np.float64)
        z = x @ np.asarray(self.coef, np.float64) + self.intercept
        return _sigmoid(z)


@dataclass
class Calibration:
    """Per-branch calibrators and the log-odds fusion of their probabilities (see the module docstring).

    ``fitted_on`` says what it was fitted on (the data, the conditions, the command); ``metrics`` what it
    measured there (expected calibration error, precision and recall of the cut at 0.5...).
    """

    branches: dict[str, BranchCalibration]
    fusion_intercept: float
    fusion_weights: dict[str, float]
    missing: dict[str, float]
    fitted_on: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    version: int = CALIBRATION_VERSION

    def relevance(
        self, scores: Mapping[str, np.ndarray], items: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(relevance (N,), {branch: p_b (N,), NaN where the branch has no score})`` for one query's
        ``N`` candidates: ``scores`` maps a branch to its raw ``(N,)`` scores, ``items`` is their
        :func:`item_feature_matrix`. Branches this calibration does not know are ignored."""
        n = items.shape[0]
        z = np.full(n, self.fusion_intercept, dtype=np.float64)
        probs: dict[str, np.ndarray] = {}
        for name, cal in self.branches.items():
            s = scores.get(name)
            if s is None:
                z += self.missing.get(name, 0.0)
                continue
            s = np.asarray(s, np.float64)
            present = ~np.isnan(s)
            p = np.full(n, np.nan)
            if present.any():
                feats = pair_features(s, items)
                p[present] = cal.probability(feats[present])
            probs[name] = p
            contrib = np.where(
                present, self.fusion_weights.get(name, 0.0) * logit(np.nan_to_num(p, nan=0.5)), 0.0
            )
            z += contrib + np.where(present, 0.0, self.missing.get(name, 0.0))
        return _sigmoid(z), probs

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "features": list(FEATURES),
            "rank_cap": RANK_CAP,
            "branches": {
                k: {"coef": list(v.coef), "intercept": v.intercept} for k, v in self.branches.items()
            },
            "fusion": {
                "intercept": self.fusion_intercept,
                "weights": dict(self.fusion_weights),
                "missing": dict(self.missing),
            },
            "fitted_on": dict(self.fitted_on),
            "metrics": dict(self.metrics),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Read what :meth:`to_dict` wrote (this version, or version 1: see the module docstring); a
        calibration of other features or version is refused."""
        version = int(data.get("version", 0))
        features = list(data.get("features", []))
        if version == CALIBRATION_VERSION and features == list(FEATURES):
            migrate = None
        elif version == 1 and features == list(_V1_FEATURES):
            migrate = FEATURES.index("log_scored")
        else:
            raise ConfigError(
                f"the index's calibration has version {data.get('version')!r} and features "
                f"{data.get('features')!r}; this memesearch reads version {CALIBRATION_VERSION} with "
                f"{list(FEATURES)} (or version 1 with {list(_V1_FEATURES)}): refit it with `memesearch tune`"
            )

        def coefficients(values: Any) -> list[float]:
            coef = [float(c) for c in values]
            if len(coef) != len(features):
                raise ConfigError(
                    f"the index's calibration has {len(coef)} coefficients for {len(features)} features: "
                    "refit it with `memesearch tune`"
                )
            if migrate is not None:
                coef.insert(migrate, 0.0)
            return coef

        fusion = data["fusion"]
        return cls(
            branches={
                k: BranchCalibration(coefficients(v["coef"]), float(v["intercept"]))
                for k, v in data["branches"].items()
            },
            fusion_intercept=float(fusion["intercept"]),
            fusion_weights={k: float(v) for k, v in fusion["weights"].items()},
            missing={k: float(v) for k, v in fusion.get("missing", {}).items()},
            fitted_on=dict(data.get("fitted_on", {})),
            metrics=dict(data.get("metrics", {})),
        )


__all__ = [
    "FEATURES",
    "ITEM_FEATURES",
    "RANK_CAP",
    "BranchCalibration",
    "Calibration",
    "ItemFeatureTable",
    "item_feature_matrix",
    "logit",
    "pair_features",
    "query_features",
]
