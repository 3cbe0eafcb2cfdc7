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

Generated captions (``memesearch index --captioner``) are their own kind of evidence: a captioner that
names a concept it never saw writes a wrong name as fluently as a right one, so a text match with a generated
caption is not worth what a match with a given caption is. From version 3, ``has_caption`` means a *given*
caption (from a manifest or the user), and the item feature ``generated_caption`` is the share of the item's
text lines (captions and readable OCR lines) that a captioner wrote: 1 = its whole text is generated, in
between = partly. A calibration may hold a second calibrator for a branch, keyed ``<branch>:generated``
(:func:`generated_key`), with its own fusion weight: it scores the pairs whose item's text is only generated
(:func:`generated_rows`), the plain ``<branch>`` calibrator the others (given captions, OCR text, partly
generated text, with the share as a feature). Which branches get one is chosen by measurement on validation
data (``fit_calibration``'s ``split_generated``).

Version 2 added the ``log_scored`` feature, version 3 ``generated_caption``; a version 1 or 2 calibration
(``index.json`` written before) is read with zero coefficients for the features it lacks, no generated
calibrators, and ``has_caption`` counting generated captions as it did then
(``caption_includes_generated``), which gives exactly the relevance it gave before.

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

CALIBRATION_VERSION = 3
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
    "generated_caption",
)
#: item features (columns of :func:`item_feature_matrix`), a suffix of :data:`FEATURES`
ITEM_FEATURES: tuple[str, ...] = FEATURES[4:]
#: the column of ``generated_caption`` in :func:`item_feature_matrix`
GENERATED_COLUMN = ITEM_FEATURES.index("generated_caption")
#: the features each older version was written with: read with zero coefficients for the others
_OLD_FEATURES: dict[int, tuple[str, ...]] = {
    1: tuple(f for f in FEATURES if f not in ("log_scored", "generated_caption")),
    2: tuple(f for f in FEATURES if f != "generated_caption"),
}
#: the suffix of a branch's calibrator for generated-caption evidence (:func:`generated_key`)
GENERATED_SUFFIX = ":generated"
_EPS = 1e-6


def generated_key(branch: str) -> str:
    """The key of ``branch``'s calibrator for pairs whose item text is (partly) a generated caption."""
    return branch + GENERATED_SUFFIX


def generated_rows(items: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: the items (:func:`item_feature_matrix` rows) whose whole text is generated captions
    (what a ``<branch>:generated`` calibrator scores)."""
    x = np.asarray(items, np.float64)
    if x.ndim != 2 or x.shape[1] <= GENERATED_COLUMN:
        return np.zeros(x.shape[0] if x.ndim else 0, bool)
    return np.asarray(x[:, GENERATED_COLUMN] >= 1.0 - 1e-9)


def _caption_includes_generated(items: np.ndarray) -> np.ndarray:
    """``items`` with ``has_caption`` = any caption, given or generated (what versions 1 and 2 read)."""
    x = np.array(items, np.float64, copy=True)
    if x.ndim == 2 and x.shape[1] > GENERATED_COLUMN:
        col = ITEM_FEATURES.index("has_caption")
        x[:, col] = np.maximum(x[:, col], (x[:, GENERATED_COLUMN] > 0).astype(np.float64))
    return x


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
    ocr_lines: np.ndarray,
    ocr_quality: np.ndarray,
    has_caption: np.ndarray,
    media: list[str],
    generated: np.ndarray | None = None,
) -> np.ndarray:
    """``(N, len(ITEM_FEATURES))`` from per-item arrays (readable OCR lines, capped at 5 by the caller or
    here; mean OCR confidence of those lines, 0 without; a given caption present (not one a captioner
    wrote); media type; the share of the item's text lines — captions and readable OCR lines — that a
    captioner generated, 0 when None)."""
    m = np.asarray(media)
    n = m.shape[0]
    return np.column_stack(
        [
            np.minimum(np.asarray(ocr_lines, np.float64), 5.0).reshape(n),
            np.asarray(ocr_quality, np.float64).reshape(n),
            np.asarray(has_caption, np.float64).reshape(n),
            (m == "gif").astype(np.float64),
            (m == "video").astype(np.float64),
            np.zeros(n) if generated is None else np.clip(np.asarray(generated, np.float64), 0, 1).reshape(n),
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
        n_captions = np.array([r[2] for r in rows], np.float64)
        n_generated = np.minimum(np.array([r[4] for r in rows], np.float64), n_captions)
        n_lines = n_captions + np.array([len(x) for x in readable], np.float64)
        matrix = item_feature_matrix(
            np.array([len(x) for x in readable]),
            np.array([float(np.mean(x)) if x else 0.0 for x in readable]),
            n_captions > n_generated,  # a given caption
            [r[1] for r in rows],
            np.divide(n_generated, n_lines, out=np.zeros_like(n_lines), where=n_lines > 0),
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
    #: read from version 1 or 2: ``has_caption`` counts generated captions, as it did then
    caption_includes_generated: bool = False

    @property
    def base_branches(self) -> list[str]:
        """The branches this calibration fuses (its keys less the ``:generated`` calibrators)."""
        return [k for k in self.branches if not k.endswith(GENERATED_SUFFIX)]

    def evidence(self, name: str, features: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(p_b, fusion weight)`` of scored pairs of branch ``name``: ``features`` ``(N, len(FEATURES))``
        (no NaN), ``items`` their :func:`item_feature_matrix` rows; pairs whose item text is only
        generated captions go to the branch's generated calibrator when there is one."""
        n = features.shape[0]
        if self.caption_includes_generated:
            items = _caption_includes_generated(items)
            features = np.column_stack([features[:, : len(FEATURES) - len(ITEM_FEATURES)], items])
        p = self.branches[name].probability(features) if n else np.zeros(0)
        w = np.full(n, self.fusion_weights.get(name, 0.0))
        key = generated_key(name)
        gen = self.branches.get(key)
        if gen is not None and n:
            rows = generated_rows(items)
            if rows.any():
                p[rows] = gen.probability(features[rows])
                w[rows] = self.fusion_weights.get(key, 0.0)
        return p, w

    def relevance(
        self, scores: Mapping[str, np.ndarray], items: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(relevance (N,), {branch: p_b (N,), NaN where the branch has no score})`` for one query's
        ``N`` candidates: ``scores`` maps a branch to its raw ``(N,)`` scores, ``items`` is their
        :func:`item_feature_matrix`. Branches this calibration does not know are ignored."""
        n = items.shape[0]
        if self.caption_includes_generated:
            items = _caption_includes_generated(items)
        z = np.full(n, self.fusion_intercept, dtype=np.float64)
        probs: dict[str, np.ndarray] = {}
        for name in self.base_branches:
            s = scores.get(name)
            if s is None:
                z += self.missing.get(name, 0.0)
                continue
            s = np.asarray(s, np.float64)
            present = ~np.isnan(s)
            p = np.full(n, np.nan)
            w = np.zeros(n)
            if present.any():
                feats = pair_features(s, items)
                p[present], w[present] = self.evidence(name, feats[present], items[present])
            probs[name] = p
            contrib = np.where(present, w * logit(np.nan_to_num(p, nan=0.5)), 0.0)
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
            **({"caption_includes_generated": True} if self.caption_includes_generated else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Read what :meth:`to_dict` wrote (this version, or version 1 or 2: see the module docstring); a
        calibration of other features or version is refused."""
        version = int(data.get("version", 0))
        features = list(data.get("features", []))
        known = {CALIBRATION_VERSION: FEATURES, **_OLD_FEATURES}
        if version not in known or features != list(known[version]):
            raise ConfigError(
                f"the index's calibration has version {data.get('version')!r} and features "
                f"{data.get('features')!r}; this memesearch reads version {CALIBRATION_VERSION} with "
                f"{list(FEATURES)} (or versions "
                + ", ".join(f"{v} with {list(f)}" for v, f in sorted(_OLD_FEATURES.items()))
                + "): refit it with `memesearch tune`"
            )
        position = {f: i for i, f in enumerate(features)}

        def coefficients(values: Any) -> list[float]:
            coef = [float(c) for c in values]
            if len(coef) != len(features):
                raise ConfigError(
                    f"the index's calibration has {len(coef)} coefficients for {len(features)} features: "
                    "refit it with `memesearch tune`"
                )
            return [coef[position[f]] if f in position else 0.0 for f in FEATURES]

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
            caption_includes_generated=version < 3 or bool(data.get("caption_includes_generated", False)),
        )


__all__ = [
    "FEATURES",
    "GENERATED_COLUMN",
    "GENERATED_SUFFIX",
    "ITEM_FEATURES",
    "RANK_CAP",
    "BranchCalibration",
    "Calibration",
    "ItemFeatureTable",
    "generated_key",
    "generated_rows",
    "item_feature_matrix",
    "logit",
    "pair_features",
    "query_features",
]
