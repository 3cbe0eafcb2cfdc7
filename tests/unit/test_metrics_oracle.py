"""Oracle tests: every SPEC §5 metric of the fast, counter-based code equals a naive sort-and-loop version.

Inputs are random with many ties (small integer scores), uneven candidate lists, queries without
positives, relevant items missing from the candidates, and block sizes that do not divide the gallery.
"""

from __future__ import annotations

import math
import tracemalloc
from collections import defaultdict

import numpy as np
import pytest

from memesearch.eval.metrics import MetricsReport, compute_metrics
from memesearch.eval.ranking import stats_from_blocks
from memesearch.eval.retrieval import evaluate_embeddings, evaluate_run, evaluate_scores
from memesearch.eval.run import Run, invert_qrels

TIES = ("pessimistic", "optimistic", "input")
KS = (1, 2, 5, 10)
NDCG_KS = (1, 3, 5, 10)


# ------------------------------------------------------------------------------------------ oracle
def naive_ranked_grades(scores: list[float], grades: list[int], ties: str) -> list[int]:
    """Grades in rank order: sort by score descending, ties by the rule, then by input position."""
    if ties == "pessimistic":
        key = lambda i: (-scores[i], grades[i], i)  # noqa: E731
    elif ties == "optimistic":
        key = lambda i: (-scores[i], -grades[i], i)  # noqa: E731
    else:
        key = lambda i: (-scores[i], i)  # noqa: E731
    return [grades[i] for i in sorted(range(len(scores)), key=key)]


def naive_metrics(
    queries: list[tuple[list[float], list[int], list[int]]], thr: int, ties: str
) -> dict[str, float]:
    """``queries``: (candidate scores, candidate grades, grades of relevant items not among candidates)."""
    per: dict[str, list[float]] = defaultdict(list)
    pos = neg = tie = 0
    for scores, grades, missing in queries:
        ranked = naive_ranked_grades(scores, grades, ties)
        rel = [g >= thr for g in ranked]
        n_rel = sum(rel) + sum(g >= thr for g in missing)
        if n_rel:
            first = next((i + 1 for i, r in enumerate(rel) if r), math.inf)
            for k in KS:
                per[f"R@{k}"].append(float(first <= k))
                per[f"P@{k}"].append(sum(rel[:k]) / k)
                per[f"recall@{k}"].append(sum(rel[:k]) / n_rel)
            if first < math.inf:
                per["rank"].append(first)
            hits, ap = 0, 0.0
            for i, r in enumerate(rel):
                if r:
                    hits += 1
                    ap += hits / (i + 1)
            per["MAP"].append(ap / n_rel)
        labels = list(grades) + list(missing)
        if len(set(labels)) > 1:
            ideal = sorted(labels, reverse=True)
            for k in NDCG_KS:
                dcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ranked[:k]))
                idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal[:k]))
                per[f"NDCG@{k}"].append((dcg + 1e-6) / (idcg + 1e-6))
        for a in range(len(scores)):
            for b in range(len(scores)):
                if grades[a] > grades[b]:
                    pos += scores[a] > scores[b]
                    neg += scores[a] < scores[b]
                    tie += scores[a] == scores[b]
    names = [f"{m}@{k}" for m in ("R", "P", "recall") for k in KS] + [f"NDCG@{k}" for k in NDCG_KS] + ["MAP"]
    out = {k: float(np.mean(per[k])) if per[k] else math.nan for k in names}
    out["MdR"] = float(np.median(per["rank"])) if per["rank"] else math.nan
    out["MnR"] = float(np.mean(per["rank"])) if per["rank"] else math.nan
    out["PNR"] = (pos + tie / 2) / max(1, neg + tie / 2)
    out["n_rel_queries"] = len(per["MAP"])
    out["n_ndcg_queries"] = len(per["NDCG@1"])
    return out


def assert_matches(report: MetricsReport, expected: dict[str, float]) -> None:
    for name, value in expected.items():
        if name == "n_rel_queries":
            assert report.n_queries["with_relevant"] == value
            assert report.n_queries["MAP"] == value
        elif name == "n_ndcg_queries":
            assert report.n_queries["NDCG@1"] == value
        elif math.isnan(value):
            assert math.isnan(report[name]), name
        else:
            assert report[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
    if {1, 5, 10} <= set(report.settings["ks"]):
        mr = (expected["R@1"] + expected["R@5"] + expected["R@10"]) / 3
        assert report["MR"] == pytest.approx(mr, nan_ok=True)


# ------------------------------------------------------------------------------------------ runs
def random_run(rng: np.random.Generator) -> tuple[Run, list[tuple[list[float], list[int], list[int]]]]:
    """A labelled run with 1..12 queries of 1..15 rows each, integer scores 0..3, rows interleaved."""
    rows: list[tuple[str, str, float, int]] = []
    n_q = int(rng.integers(1, 13))
    for qi in range(n_q):
        n = int(rng.integers(1, 16))
        no_pos = rng.random() < 0.25
        for j in range(n):
            grade = 0 if no_pos else int(rng.integers(0, 3))
            rows.append((f"q{qi}", f"d{j}", float(rng.integers(0, 4)), grade))
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    queries = []
    for qi in range(n_q):
        mine = [r for r in rows if r[0] == f"q{qi}"]
        queries.append(([r[2] for r in mine], [r[3] for r in mine], []))
    return Run.from_rows(rows), queries


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("ties", TIES)
@pytest.mark.parametrize("thr", [1, 2])
def test_run_labels_match_oracle(seed: int, ties: str, thr: int) -> None:
    run, queries = random_run(np.random.default_rng(seed))
    report = evaluate_run(run, ks=KS, ndcg_ks=NDCG_KS, threshold=thr, ties=ties)  # type: ignore[arg-type]
    assert_matches(report, naive_metrics(queries, thr, ties))


@pytest.mark.parametrize("seed", range(15))
@pytest.mark.parametrize("ties", TIES)
def test_run_with_qrels_matches_oracle(seed: int, ties: str) -> None:
    """External qrels: unjudged rows are grade 0, unretrieved relevant items and missing queries count."""
    rng = np.random.default_rng(100 + seed)
    run, _ = random_run(rng)
    qrels: dict[str, dict[str, int]] = {}
    for q in run.unique_query_ids():
        qrels[q] = {f"d{j}": int(rng.integers(0, 3)) for j in range(20) if rng.random() < 0.4}
    qrels["q_missing"] = {"d1": 2, "d2": 0}
    qrels["q_missing_no_rel"] = {"d1": 0}
    queries = []
    for q in [*run.unique_query_ids(), "q_missing"]:
        cand = [i for i, qq in enumerate(run.query_ids) if qq == q]
        ids = {run.item_ids[i] for i in cand}
        grades = [qrels[q].get(run.item_ids[i], 0) for i in cand]
        missing = [g for d, g in qrels[q].items() if g > 0 and d not in ids]
        queries.append(([float(run.scores[i]) for i in cand], grades, missing))
    for thr in (1, 2):
        report = evaluate_run(run, qrels, ks=KS, ndcg_ks=NDCG_KS, threshold=thr, ties=ties)  # type: ignore[arg-type]
        assert_matches(report, naive_metrics(queries, thr, ties))
        skipped = evaluate_run(
            run, qrels, ks=KS, ndcg_ks=NDCG_KS, threshold=thr, ties=ties, skip_missing_queries=True
        )  # type: ignore[arg-type]
        assert_matches(skipped, naive_metrics(queries[:-1], thr, ties))


def test_duplicate_rows_are_separate_candidates() -> None:
    run = Run.from_rows([("q", "a", 0.5, 2), ("q", "a", 0.5, 2), ("q", "b", 0.9, 0)])
    report = evaluate_run(run, ks=(1, 2), ndcg_ks=(3,), threshold=2)
    assert report["R@1"] == 0.0 and report["R@2"] == 1.0
    assert report["MAP"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert report.counts["pnr_neg"] == 2 and report.settings["duplicate_rows"] == 1


def test_tie_rules_differ_as_documented() -> None:
    run = Run.from_rows([("q", "rel", 1.0, 1), ("q", "x", 1.0, 0), ("q", "y", 1.0, 0)])
    assert evaluate_run(run, ties="pessimistic")["MdR"] == 3
    assert evaluate_run(run, ties="optimistic")["MdR"] == 1
    assert evaluate_run(run, ties="input")["MdR"] == 1
    assert evaluate_run(run, ties="pessimistic")["PNR"] == 1.0  # two ties: (0 + 1) / max(1, 0 + 1)


def test_no_relevant_anywhere_gives_nan_and_counts() -> None:
    run = Run.from_rows([("q", "a", 0.5, 0), ("q", "b", 0.4, 0)])
    report = evaluate_run(run)
    assert math.isnan(report["R@1"]) and math.isnan(report["MAP"]) and math.isnan(report["NDCG@1"])
    assert report.n_queries["without_relevant"] == 1 and report.n_queries["R@1"] == 0
    assert report["PNR"] == 0.0
    assert report.to_dict()["metrics"]["MAP"] is None


# ------------------------------------------------------------------------------------------ galleries
def random_gallery(
    rng: np.random.Generator, n_q: int, n_items: int
) -> tuple[list[str], list[str], dict[str, dict[str, int]]]:
    query_ids = [f"q{i}" for i in range(n_q)]
    item_ids = [f"i{j}" for j in range(n_items)]
    qrels: dict[str, dict[str, int]] = {}
    for q in query_ids:
        if rng.random() < 0.2:
            continue  # no judgement at all
        judged = {f"i{j}": int(rng.integers(0, 4)) for j in range(n_items) if rng.random() < 0.15}
        if rng.random() < 0.3:
            judged["ghost"] = int(rng.integers(1, 3))  # relevant but not in the gallery
        qrels[q] = judged
    return query_ids, item_ids, qrels


def gallery_oracle(scores: np.ndarray, query_ids, item_ids, qrels, thr: int, ties: str) -> dict[str, float]:
    queries = []
    for qi, q in enumerate(query_ids):
        judged = qrels.get(q, {})
        grades = [judged.get(d, 0) for d in item_ids]
        missing = [g for d, g in judged.items() if g > 0 and d not in set(item_ids)]
        queries.append(([float(s) for s in scores[qi]], grades, missing))
    return naive_metrics(queries, thr, ties)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("ties", TIES)
def test_dense_scores_match_oracle(seed: int, ties: str) -> None:
    rng = np.random.default_rng(200 + seed)
    n_q, n_items = int(rng.integers(1, 12)), int(rng.integers(1, 40))
    query_ids, item_ids, qrels = random_gallery(rng, n_q, n_items)
    scores = rng.integers(0, 4, size=(n_q, n_items)).astype(np.float64)
    for thr in (1, 2):
        report = evaluate_scores(
            scores,
            qrels,
            query_ids,
            item_ids,
            ks=KS,
            ndcg_ks=NDCG_KS,
            threshold=thr,
            ties=ties,  # type: ignore[arg-type]
            chunk_size=7,
            query_chunk_size=3,
        )
        assert_matches(report, gallery_oracle(scores, query_ids, item_ids, qrels, thr, ties))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("ties", TIES)
def test_embeddings_match_oracle(seed: int, ties: str) -> None:
    """Integer embeddings make every dot product exact, so the oracle sees the same ties."""
    rng = np.random.default_rng(300 + seed)
    n_q, n_items, dim = int(rng.integers(1, 15)), int(rng.integers(5, 60)), 3
    query_ids, item_ids, qrels = random_gallery(rng, n_q, n_items)
    qe = rng.integers(-1, 2, size=(n_q, dim)).astype(np.float32)
    ie = rng.integers(-1, 2, size=(n_items, dim)).astype(np.float32)
    expected = gallery_oracle(
        qe.astype(np.float64) @ ie.T.astype(np.float64), query_ids, item_ids, qrels, 1, ties
    )
    report = evaluate_embeddings(
        qe,
        ie,
        qrels,
        query_ids,
        item_ids,
        ks=KS,
        ndcg_ks=NDCG_KS,
        ties=ties,  # type: ignore[arg-type]
        chunk_size=11,
        query_chunk_size=4,
        progress=seed == 0,
    )
    assert_matches(report, expected)


@pytest.mark.parametrize("ties", TIES)
def test_blocks_with_tiny_positive_batches(ties: str) -> None:
    """Positives processed a few at a time (max_pos_elements smaller than one row) give the same counts."""
    rng = np.random.default_rng(7)
    query_ids, item_ids, qrels = random_gallery(rng, 9, 31)
    scores = rng.integers(0, 3, size=(9, 31)).astype(np.float32)
    col = {d: j for j, d in enumerate(item_ids)}
    pq, pc, pg, unscored = [], [], [], []
    for qi, q in enumerate(query_ids):
        for d, g in qrels.get(q, {}).items():
            if g > 0 and d in col:
                pq.append(qi), pc.append(col[d]), pg.append(g)
            elif g > 0:
                unscored.append((qi, g))
    stats = stats_from_blocks(
        lambda q0, q1, i0, i1: scores[q0:q1, i0:i1],
        9,
        31,
        query_ids,
        np.array(pq),
        np.array(pc),
        np.array(pg),
        scores[pq, pc].astype(np.float64),
        unscored=unscored,
        query_chunk=2,
        item_chunk=6,
        max_pos_elements=5,
    )
    report = compute_metrics(stats, ks=KS, ndcg_ks=NDCG_KS, threshold=1, ties=ties)  # type: ignore[arg-type]
    assert_matches(report, gallery_oracle(scores, query_ids, item_ids, qrels, 1, ties))


@pytest.mark.parametrize("ties", TIES)
def test_run_from_scores_equals_gallery(ties: str) -> None:
    rng = np.random.default_rng(11)
    query_ids, item_ids, qrels = random_gallery(rng, 6, 25)
    qrels = {q: {d: g for d, g in j.items() if d != "ghost"} for q, j in qrels.items()}
    scores = rng.integers(0, 3, size=(6, 25)).astype(np.float64)
    run = Run.from_scores(scores, query_ids, item_ids, qrels=qrels)
    dense = evaluate_scores(scores, qrels, query_ids, item_ids, ties=ties)  # type: ignore[arg-type]
    from_run = evaluate_run(run, ties=ties)  # type: ignore[arg-type]
    for name in ("R@1", "R@5", "MAP", "NDCG@3", "NDCG@10", "MnR", "PNR"):
        assert from_run[name] == pytest.approx(dense[name], nan_ok=True), name
    top3 = Run.from_scores(scores, query_ids, item_ids, k=3)
    assert len(top3) == 18
    for q, cand in top3.by_query().items():
        assert list(cand.scores) == sorted(scores[query_ids.index(q)], reverse=True)[:3]


def test_embeddings_never_build_the_dense_matrix() -> None:
    """1,000 x 20,000 would be 80 MB as float32; the blocked evaluation stays far below that."""
    rng = np.random.default_rng(5)
    n_q, n_items, dim = 1000, 20000, 16
    qe = rng.standard_normal((n_q, dim), dtype=np.float32)
    ie = rng.standard_normal((n_items, dim), dtype=np.float32)
    qrels = {f"q{i}": {f"i{int(j)}": 1 for j in rng.integers(0, n_items, 2)} for i in range(n_q)}
    query_ids = [f"q{i}" for i in range(n_q)]
    item_ids = [f"i{j}" for j in range(n_items)]
    tracemalloc.start()
    try:
        report = evaluate_embeddings(
            qe, ie, qrels, query_ids, item_ids, chunk_size=2048, query_chunk_size=128
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20e6, f"peak traced memory {peak / 1e6:.1f} MB"
    dense = evaluate_scores(qe @ ie.T, qrels, query_ids, item_ids)
    # random floats: the blocked matmul and the full one may round differently by an ulp, never more
    for name in ("R@1", "R@10", "MAP", "NDCG@10", "MnR"):
        assert report[name] == pytest.approx(dense[name], rel=1e-3), name


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match="tie rule"):
        evaluate_scores(np.zeros((1, 2)), {}, ["q"], ["a", "b"], ties="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold"):
        evaluate_scores(np.zeros((1, 2)), {}, ["q"], ["a", "b"], threshold=0)
    with pytest.raises(ValueError, match="shape"):
        evaluate_scores(np.zeros((2, 2)), {}, ["q"], ["a", "b"])
    with pytest.raises(ValueError, match="NaN"):
        evaluate_scores(np.array([[np.nan, 1.0]]), {}, ["q"], ["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        evaluate_scores(np.zeros((1, 2)), {}, ["q"], ["a", "a"])
    with pytest.raises(ValueError, match="embeddings"):
        evaluate_embeddings(np.zeros((1, 3)), np.zeros((2, 4)), {}, ["q"], ["a", "b"])
    with pytest.raises(ValueError, match="label column"):
        evaluate_run(Run.from_rows([("q", "a", 1.0)]))
    with pytest.raises(ValueError, match="positive"):
        evaluate_run(Run.from_rows([("q", "a", 1.0, 1)]), ks=(0,))


def test_image_to_text_is_the_transposed_problem() -> None:
    rng = np.random.default_rng(21)
    query_ids, item_ids, qrels = random_gallery(rng, 8, 12)
    qrels = {q: {d: g for d, g in j.items() if d != "ghost"} for q, j in qrels.items()}
    scores = rng.integers(0, 3, size=(8, 12)).astype(np.float64)
    inverted = invert_qrels(qrels)
    report = evaluate_scores(scores.T, inverted, item_ids, query_ids, ks=KS, ndcg_ks=NDCG_KS)
    assert_matches(report, gallery_oracle(scores.T, item_ids, query_ids, inverted, 1, "pessimistic"))
