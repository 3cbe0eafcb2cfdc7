"""Fit and measure calibrated fusion (:mod:`memesearch.search.calibration`) on labelled queries.

1. :func:`collect_pairs` — for every query, the candidates search would score (the union of each branch's
   top ``depth`` over the gallery), each with its raw branch scores, the per-query features computed over
   those candidates (as search computes them), the item's features and its label (graded relevance at or
   above ``threshold``);
2. :func:`fit_calibration` — one logistic regression per branch on the pairs where the branch has a
   score, then a logistic regression over the branches' log-odds (and "no score" indicators): the learned
   log-odds fusion. The L2 strength of the per-branch regressions is chosen by query-wise cross-validation
   on the ranking search makes of it (:func:`select_branch_c`): the fit minimises log-loss over every
   candidate pair, which mostly rewards pushing easy negatives down, while what a person sees is the top of
   each query's list. Admissible strengths keep every condition's held-out R@1, R@10 and NDCG@10 from
   falling significantly below its best single branch's (one-sided 5%, Bonferroni over the tests); of
   those, the one of largest mean gain is kept (a :class:`PairSet` knows which condition each pair came
   from: ``group``);
   Generated captions: with ``split_generated``, the branches named get ``<branch>:generated`` calibrators
   for the pairs whose item text is all generated, fitted in a second stage with the rest held fixed
   (:mod:`memesearch.eval.calibrate_generated`), with their own L2 strength, cross-validated after stage 1's;
3. :func:`calibration_metrics` — expected calibration error (ECE, 10 equal-width bins), the reliability
   curve, and precision / recall of the cut at a probability (0.5) over the candidate pairs, recall also
   against every relevant item of the gallery; :func:`plot_reliability` draws the curve.

Fit on a validation split under realistic conditions (plain folders, OCR on, no oracle captions); never on
test (:func:`memesearch.eval.fusion_weights.is_test_split` refuses it in the commands).

Example::

    >>> pairs = collect_pairs(Searcher(index), queries_from_dataset(ds, "val", index))   # doctest: +SKIP
    >>> cal = fit_calibration(pairs, fitted_on={"data": "emoji val, OCR on, no captions"})
    >>> calibration_metrics(cal, pairs)["ece"]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from memesearch.errors import ConfigError
from memesearch.eval.calibrate_generated import add_generated_stage, fit_in_two_stages, without_generated
from memesearch.eval.calibration_fit import PairSet, fit_joint
from memesearch.eval.index_eval import IndexQueries
from memesearch.search.branches import BRANCHES
from memesearch.search.calibration import (
    Calibration,
    generated_rows,
    logit,
    pair_features,
)

#: L2 strengths (scikit-learn's ``C``: smaller = stronger) tried for the per-branch regressions
C_GRID: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
#: ``C`` of the fusion regression (few coefficients, many pairs: barely regularised)
C_FUSION = 1.0
#: the rank cut of the ranking metrics :func:`select_branch_c` compares (R@K, NDCG@K)
SELECT_AT = 10


def collect_pairs(
    searcher: Any,
    queries: IndexQueries,
    *,
    depth: int = 50,
    threshold: int = 1,
    precomputed: tuple[np.ndarray, dict[str, np.ndarray]] | None = None,
) -> PairSet:
    """The candidate pairs of ``queries`` over their gallery (see the module docstring).

    ``precomputed``: what ``searcher.score_matrix`` returns for these queries' texts, when the caller has it
    already (the queries are then not encoded again)."""
    qs = queries.queries
    rowids, matrices = precomputed if precomputed is not None else searcher.score_matrix([q.text for q in qs])
    gallery = np.unique(queries.columns)
    col_of = {int(r): j for j, r in enumerate(rowids.tolist())}
    cols = np.array([col_of[int(r)] for r in gallery], dtype=np.int64)
    position = {int(r): j for j, r in enumerate(gallery.tolist())}
    columns_of: dict[str, list[int]] = {}  # a qrels label -> the gallery positions it names
    for r, lab in zip(queries.columns.tolist(), queries.labels, strict=True):
        columns_of.setdefault(lab, []).append(position[int(r)])
    item_feats = searcher.item_features(gallery)
    names = [n for n in BRANCHES if n in matrices]
    out_scores: dict[str, list[np.ndarray]] = {n: [] for n in names}
    out_feats: dict[str, list[np.ndarray]] = {n: [] for n in names}
    items, labels, query = [], [], []
    relevant_total = 0
    for i, q in enumerate(qs):
        per_branch = {n: matrices[n][i, cols].astype(np.float64) for n in names}
        cand: set[int] = set()
        for s in per_branch.values():
            present = np.flatnonzero(~np.isnan(s))
            top = present[np.argsort(-s[present], kind="stable")[:depth]]
            cand.update(top.tolist())
        idx = np.array(sorted(cand), dtype=np.int64)
        rel = np.zeros(gallery.size, dtype=bool)
        for lab, grade in q.qrels.items():
            if grade >= threshold:
                rel[columns_of.get(lab, [])] = True
        relevant_total += int(rel.sum())
        for n in names:
            s = per_branch[n][idx]
            out_scores[n].append(s)
            out_feats[n].append(pair_features(s, item_feats[idx]))
        items.append(item_feats[idx])
        labels.append(rel[idx])
        query.append(np.full(idx.size, i, dtype=np.int64))
    width = item_feats.shape[1] if item_feats.ndim == 2 else 0
    return PairSet(
        scores={n: np.concatenate(v) if v else np.zeros(0) for n, v in out_scores.items()},
        features={n: np.concatenate(v) if v else np.zeros((0, width + 4)) for n, v in out_feats.items()},
        items=np.concatenate(items) if items else np.zeros((0, width)),
        labels=np.concatenate(labels) if labels else np.zeros(0, bool),
        query=np.concatenate(query) if query else np.zeros(0, np.int64),
        relevant_total=relevant_total,
    )


def _fit(
    pairs: PairSet,
    c: float,
    c_fusion: float,
    min_pairs: int,
    split_generated: Sequence[str] = (),
    c_generated: float | None = None,
) -> Calibration:
    """:func:`fit_calibration` with a fixed per-branch ``c`` (and ``c_generated`` for the generated-caption
    calibrators): with ``split_generated`` and pairs whose item text is generated, in two stages
    (:mod:`memesearch.eval.calibrate_generated`)."""
    generated = generated_rows(pairs.items)
    if split_generated and generated.any():
        return fit_in_two_stages(pairs, c, c_fusion, min_pairs, split_generated, c_generated=c_generated)
    return fit_joint(pairs, c, c_fusion, min_pairs)


def fused_logit(calibration: Calibration, pairs: PairSet) -> np.ndarray:
    """``logit(relevance)`` of every pair from the features :func:`collect_pairs` computed (over the same
    candidates search scores, so equal to :func:`relevance_of`, without the per-query loop)."""
    z = np.full(len(pairs), calibration.fusion_intercept, dtype=np.float64)
    for name in calibration.base_branches:
        s = pairs.scores.get(name)
        if s is None:
            z += calibration.missing.get(name, 0.0)
            continue
        present = ~np.isnan(s)
        p = np.full(len(pairs), 0.5)
        w = np.zeros(len(pairs))
        p[present], w[present] = calibration.evidence(
            name, pairs.features[name][present], pairs.items[present]
        )
        z += np.where(present, w * logit(p), calibration.missing.get(name, 0.0))
    return z


def query_metrics(
    scores: np.ndarray, labels: np.ndarray, query: np.ndarray, *, k: int = SELECT_AT
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(queries, {metric: (n,) values})``: ``R@1``, ``R@k`` and ``NDCG@k`` of every query with a relevant
    pair (``queries``, sorted) when its pairs are ranked by ``scores`` (NaN = last); ties are pessimistic
    (SPEC §5), gains binary, the ideal list is the query's own relevant pairs."""
    s = np.nan_to_num(np.asarray(scores, np.float64), nan=-np.inf)
    y = np.asarray(labels, bool)
    q = np.asarray(query)
    names = ("R@1", f"R@{k}", f"NDCG@{k}")
    if not y.any():
        return np.zeros(0, q.dtype), {m: np.zeros(0) for m in names}
    order = np.lexsort((-s, q))
    qs, ss, ys = q[order], s[order], y[order]
    n = qs.size
    start = np.searchsorted(qs, qs, side="left")
    # pessimistic rank: the last position of the block of equal scores the pair sits in
    new_block = np.ones(n, dtype=bool)
    new_block[1:] = (qs[1:] != qs[:-1]) | (ss[1:] != ss[:-1])
    block = np.cumsum(new_block) - 1
    block_end = np.zeros(int(block[-1]) + 1, dtype=np.int64)
    np.maximum.at(block_end, block, np.arange(n))
    rank = block_end[block] - start + 1
    uq, qi = np.unique(qs, return_inverse=True)
    n_rel = np.bincount(qi, weights=ys.astype(np.float64), minlength=uq.size)
    has = n_rel > 0
    first = np.full(uq.size, np.inf)
    np.minimum.at(first, qi[ys], rank[ys])
    dcg = np.bincount(
        qi, weights=np.where(ys & (rank <= k), 1.0 / np.log2(rank + 1.0), 0.0), minlength=uq.size
    )
    ideal = np.cumsum(1.0 / np.log2(np.arange(1, k + 1) + 1.0))
    idcg = ideal[np.maximum(np.minimum(n_rel, k).astype(np.int64), 1) - 1]
    values = ((first <= 1).astype(np.float64), (first <= k).astype(np.float64), dcg / idcg)
    return uq[has], {m: v[has] for m, v in zip(names, values, strict=True)}


def ranking_metrics(
    scores: np.ndarray, labels: np.ndarray, query: np.ndarray, *, k: int = SELECT_AT
) -> dict[str, float]:
    """The means of :func:`query_metrics` over the queries with a relevant pair, and their number."""
    queries, values = query_metrics(scores, labels, query, k=k)
    out: dict[str, float] = {m: float(v.mean()) if v.size else 0.0 for m, v in values.items()}
    out["queries"] = int(queries.size)
    return out


#: the family-wise one-sided level at which :func:`select_branch_c` calls a condition worse than its best
#: single branch
WORSE_LEVEL = 0.05

#: the metrics :func:`select_branch_c` holds the fusion to: the issue's "R@10 and NDCG@10 at least the
#: best single branch", and R@1, which the R@10 gain of strong regularisation otherwise pays for
SELECT_METRICS: tuple[str, ...] = ("R@1", f"R@{SELECT_AT}", f"NDCG@{SELECT_AT}")


def select_branch_c(
    pairs: PairSet,
    *,
    grid: Sequence[float] = C_GRID,
    folds: int = 5,
    seed: int = 0,
    c_fusion: float = C_FUSION,
    min_pairs: int = 20,
    split_generated: Sequence[str] = (),
) -> tuple[float, dict[str, Any]]:
    """The per-branch ``C`` of ``grid`` whose fused ranking is best on held-out queries, and the record.

    Queries are split into ``folds`` (seeded); each fold's fused scores come from a fit on the others.
    For every group (condition) and each of :data:`SELECT_METRICS`, the gain of the fused ranking over
    the group's best single branch in that metric is the mean over the group's queries of the paired
    difference, with its standard error. A value is admissible when no condition is measurably worse than
    its best branch: no gain is significantly below zero, one-sided at :data:`WORSE_LEVEL` family-wise
    (Bonferroni over the groups x metrics tested: with nine tests a one-standard-error rule calls some
    condition "worse" for most values even where nothing differs, so that the choice is left to chance);
    the choice is the admissible value of largest mean gain, or, when none is admissible, the one whose
    worst gain is largest. Ties go to the weaker regularisation. With fewer than two queries that have a
    relevant pair, nothing can be held out and ``grid``'s largest value is returned.

    With ``split_generated`` and generated-caption pairs the fit has two stages
    (:mod:`memesearch.eval.calibrate_generated`), and each gets its own strength, chosen on what it changes:
    stage 1's ``C`` on the pairs without generated text (the returned value), then, with it fixed, the
    generated-caption calibrators' ``C`` on every pair (``record["c_generated"]``; its candidates under
    ``record["generated"]``). ``record["result"]`` is the row of the final choice (every group's gains).
    """
    grid = sorted(float(c) for c in grid)
    if not (split_generated and generated_rows(pairs.items).any()):

        def joint(train: PairSet, c: float) -> Calibration:
            return _fit(train, c, c_fusion, min_pairs, split_generated)

        c, record = _cross_validate(pairs, grid, joint, folds=folds, seed=seed)
        return c, {**record, "c_generated": None}
    base = without_generated(pairs)

    def stage1(train: PairSet, c: float) -> Calibration:
        return fit_joint(train, c, c_fusion, min_pairs)

    c, record = _cross_validate(base, grid, stage1, folds=folds, seed=seed)
    fitted_stage1: dict[int, Calibration] = {}  # the stage-1 fit of each training fold, reused for every C

    def stage2(train: PairSet, c_generated: float, fold: int) -> Calibration:
        if fold not in fitted_stage1:
            fitted_stage1[fold] = fit_joint(without_generated(train), c, c_fusion, min_pairs)
        stage1 = fitted_stage1[fold]
        return add_generated_stage(stage1, train, c_generated, c_fusion, min_pairs, split_generated)

    c_generated, generated = _cross_validate(pairs, grid, stage2, folds=folds, seed=seed, with_fold=True)
    return c, {
        **record,
        "stage1_result": record.get("result"),
        "c_generated": c_generated,
        "generated": {k: generated[k] for k in ("chosen", "tried", "cross_validated")},
        "result": generated.get("result"),
    }


def _cross_validate(
    pairs: PairSet,
    grid: list[float],
    fit: Any,
    *,
    folds: int,
    seed: int,
    with_fold: bool = False,
) -> tuple[float, dict[str, Any]]:
    """:func:`select_branch_c`'s query-wise cross-validation of ``fit(train, c[, fold])`` over ``grid``
    (sorted): the chosen value and the record (its rows under ``tried``, the chosen row under ``result``)."""
    uq = np.unique(pairs.query[pairs.labels])
    if len(grid) == 1 or uq.size < 2:
        return grid[-1], {"grid": grid, "chosen": grid[-1], "cross_validated": False, "tried": []}
    k_folds = int(min(folds, uq.size))
    fold_of = np.full(int(pairs.query.max()) + 1, -1, dtype=np.int64)
    fold_of[uq] = np.random.default_rng(seed).permutation(uq.size) % k_folds
    # queries with no relevant pair train (as negatives) in every fold and are never scored
    fold = fold_of[pairs.query]
    groups = {int(g): pairs.groups == g for g in np.unique(pairs.groups)}
    # per group and metric: the best single branch (raw scores) and its per-query values
    best: dict[int, dict[str, tuple[str, np.ndarray]]] = {}
    for g, m in groups.items():
        per = {b: query_metrics(v[m], pairs.labels[m], pairs.query[m])[1] for b, v in pairs.scores.items()}
        best[g] = {
            k: max(((b, per[b][k]) for b in per), key=lambda bv: float(bv[1].mean())) for k in SELECT_METRICS
        }
    # a loss is significant beyond this many standard errors (one-sided, Bonferroni over the tests)
    z_worse = NormalDist().inv_cdf(1.0 - WORSE_LEVEL / (len(groups) * len(SELECT_METRICS)))
    rows: list[dict[str, Any]] = []
    keys: dict[float, tuple[bool, float, float]] = {}
    for c in grid:
        z = np.full(len(pairs), np.nan)
        try:
            for f in range(k_folds):
                held = fold == f
                train = pairs.subset(~held)
                fitted = fit(train, c, f) if with_fold else fit(train, c)
                z[held] = fused_logit(fitted, pairs.subset(held))
        except ConfigError:
            rows.append({"c": c, "failed": True})
            continue
        gains: list[float] = []
        admissible = True
        per_group: dict[str, dict[str, Any]] = {}
        for g, m in groups.items():
            fused = query_metrics(z[m], pairs.labels[m], pairs.query[m])[1]
            per_group[str(g)] = {"queries": int(fused[SELECT_METRICS[0]].size)}
            for k in SELECT_METRICS:
                branch, values = best[g][k]
                diff = fused[k] - values
                gain = float(diff.mean()) if diff.size else 0.0
                se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else 0.0
                admissible &= gain >= -z_worse * se
                gains.append(gain)
                per_group[str(g)][k] = {
                    "fused": round(float(fused[k].mean()), 4),
                    branch: round(float(values.mean()), 4),
                    "gain": round(gain, 4),
                    "se": round(se, 4),
                }
        mean = float(np.mean(gains))
        keys[c] = (admissible, mean if admissible else min(gains), c)
        rows.append({"c": c, "admissible": admissible, "mean_gain": round(mean, 4), "groups": per_group})
    chosen = max(keys, key=lambda c: keys[c]) if keys else grid[-1]
    result = next((r for r in rows if r.get("c") == chosen and not r.get("failed")), None)
    record = {"chosen": chosen, "cross_validated": True, "grid": grid, "folds": k_folds, "seed": seed,
              "metrics": list(SELECT_METRICS), "worse_beyond_se": round(z_worse, 3), "tried": rows,
              "result": result}  # fmt: skip
    return chosen, record


def fit_calibration(
    pairs: PairSet,
    *,
    c: float | None = None,
    c_grid: Sequence[float] = C_GRID,
    c_fusion: float = C_FUSION,
    folds: int = 5,
    seed: int = 0,
    fitted_on: dict[str, Any] | None = None,
    min_pairs: int = 20,
    split_generated: Sequence[str] = (),
    c_generated: float | None = None,
) -> Calibration:
    """Per-branch logistic calibrators, then the log-odds fusion (see the module docstring).

    ``split_generated``: the branches that get a second calibrator (and fusion weight) for the pairs whose
    item text is (partly) a generated caption (``<branch>:generated``,
    :mod:`memesearch.search.calibration`), when both kinds of pairs are enough to fit; the others read
    generated captions through the ``generated_caption`` item feature only. Choose it on validation data.

    ``c``: the per-branch L2 strength (scikit-learn's ``C``); None chooses it from ``c_grid`` by
    cross-validated ranking (:func:`select_branch_c`, recorded in ``fitted_on["branch_c"]``). A branch with
    fewer than ``min_pairs`` scored pairs, or whose pairs are all relevant or all not, is left out (it then
    contributes nothing); :class:`ConfigError` when no branch can be fitted. ``c_generated``: the strength
    of the generated-caption calibrators (None: chosen with ``c`` when ``c`` is None, else ``c``).
    """
    _fit_check(pairs, min_pairs)
    record: dict[str, Any]
    if c is None:
        c, record = select_branch_c(pairs, grid=c_grid, folds=folds, seed=seed, c_fusion=c_fusion,
                                    min_pairs=min_pairs, split_generated=split_generated)  # fmt: skip
        c_generated = record.get("c_generated") if c_generated is None else c_generated
    else:
        record = {"chosen": float(c), "c_generated": c_generated, "cross_validated": False}
    calibration = _fit(pairs, float(c), c_fusion, min_pairs, split_generated, c_generated)
    calibration.fitted_on = {**dict(fitted_on or {}), "branch_c": record, "fusion_c": c_fusion,
                             "split_generated": list(split_generated)}  # fmt: skip
    return calibration


def _fit_check(pairs: PairSet, min_pairs: int) -> None:
    y = pairs.labels
    if len(pairs) < min_pairs or not y.any() or y.all():
        raise ConfigError(
            f"too few labelled pairs to calibrate: {len(pairs)} candidate pairs, {int(y.sum())} relevant; "
            "give more labelled queries (each with at least one relevant indexed item)"
        )


def with_calibration(
    calibration: Calibration, rowids: np.ndarray, scores: dict[str, np.ndarray], items: np.ndarray
) -> dict[str, np.ndarray]:
    """``scores`` (a ``Searcher.score_matrix`` result over ``rowids``) with ``fused`` replaced by the
    calibrated relevance ``calibration`` gives, as ``score_matrix`` of a searcher with that calibration
    computes it; ``items`` are the item features of ``rowids``. Saves encoding the queries again."""
    q = next(iter(scores.values())).shape[0] if scores else 0
    fused = np.empty((q, len(rowids)), dtype=np.float32)
    for i in range(q):
        row = {name: scores[name][i] for name in calibration.branches if name in scores}
        fused[i] = calibration.relevance(row, items)[0]
    return {**scores, "fused": fused}


def relevance_of(calibration: Calibration, pairs: PairSet) -> np.ndarray:
    """The fused relevance of every pair, computed query by query exactly as search computes it."""
    out = np.empty(len(pairs))
    order = np.argsort(pairs.query, kind="stable")
    bounds = np.flatnonzero(np.diff(pairs.query[order])) + 1
    for rows in np.split(order, bounds) if order.size else []:
        out[rows] = calibration.relevance({n: s[rows] for n, s in pairs.scores.items()}, pairs.items[rows])[0]
    return out


def calibration_metrics(
    calibration: Calibration, pairs: PairSet, *, cut: float = 0.5, bins: int = 10
) -> dict[str, Any]:
    """ECE, the reliability curve and the cut's precision / recall over ``pairs`` (module docstring)."""
    p = relevance_of(calibration, pairs)
    y = pairs.labels.astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    curve, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            conf, acc = float(p[m].mean()), float(y[m].mean())
            ece += m.mean() * abs(conf - acc)
            curve.append({"bin": [float(edges[b]), float(edges[b + 1])], "mean_p": conf, "frac_relevant": acc,
                          "pairs": int(m.sum())})  # fmt: skip
    kept = p >= cut
    tp = float((kept & (y > 0)).sum())
    return {
        "pairs": len(pairs),
        "relevant_pairs": int(y.sum()),
        "ece": float(ece),
        "reliability": curve,
        "cut": cut,
        "precision_at_cut": tp / max(1.0, float(kept.sum())),
        "recall_at_cut_candidates": tp / max(1.0, float(y.sum())),
        "recall_at_cut_all": tp / max(1, pairs.relevant_total),
        "hits_at_cut": int(kept.sum()),
        "queries": int(np.unique(pairs.query).size),
        "queries_with_no_hit_at_cut": int(
            sum(1 for qi in np.unique(pairs.query) if not kept[pairs.query == qi].any())
        ),
    }


def plot_reliability(metrics: dict[str, Any], path: str | Path, *, title: str) -> Path:
    """The reliability diagram (mean predicted relevance vs observed share of relevant pairs per bin)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from memesearch.utils.io import atomic_path

    fig = Figure(figsize=(5, 5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    xs = [b["mean_p"] for b in metrics["reliability"]]
    ys = [b["frac_relevant"] for b in metrics["reliability"]]
    sizes = [max(8.0, 200.0 * b["pairs"] / max(1, metrics["pairs"])) for b in metrics["reliability"]]
    ax.plot(xs, ys, color="tab:blue", marker="o", label=f"relevance (ECE {metrics['ece']:.3f})")
    ax.scatter(xs, ys, s=sizes, color="tab:blue", alpha=0.4)
    ax.set_xlabel("predicted relevance")
    ax.set_ylabel("share of relevant pairs")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(str(tmp), format="png")
    return Path(path)


__all__ = [
    "C_FUSION",
    "C_GRID",
    "SELECT_METRICS",
    "PairSet",
    "calibration_metrics",
    "collect_pairs",
    "fit_calibration",
    "fused_logit",
    "plot_reliability",
    "query_metrics",
    "ranking_metrics",
    "relevance_of",
    "select_branch_c",
    "with_calibration",
]
