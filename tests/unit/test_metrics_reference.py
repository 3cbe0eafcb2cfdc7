"""Reference tests: our metrics equal trec_eval's (PyPI pytrec-eval-terrier) where the definitions coincide.

- MAP, P@K and recall@K: graded qrels, relevance level = our threshold, no score ties (trec_eval
  breaks ties by document id), judged relevant documents missing from the run included.
- NDCG@K: trec_eval's ndcg_cut uses gain = grade, ours 2^grade − 1; they coincide on binary grades.
  Every query has a relevant and a non-relevant judgement, so none is excluded as all-equal; ours adds
  1e-6 to DCG and IDCG, hence the 1e-5 tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

from memesearch.eval.retrieval import evaluate_run
from memesearch.eval.run import Run

pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec-eval-terrier is not installed")


def make_case(seed: int, max_grade: int) -> tuple[Run, dict[str, dict[str, int]]]:
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, float]] = []
    qrels: dict[str, dict[str, int]] = {}
    for qi in range(int(rng.integers(3, 15))):
        q = f"q{qi}"
        n = int(rng.integers(2, 40))
        scores = rng.permutation(1000)[:n] / 1000 + qi  # distinct: no ties
        rows.extend((q, f"d{j}", float(s)) for j, s in enumerate(scores))
        judged = {f"d{j}": int(rng.integers(0, max_grade + 1)) for j in range(n + 5) if rng.random() < 0.6}
        # d{n}.. are not in the run: judged relevant items the run missed
        judged["d0"] = max_grade  # at least one relevant at the highest level
        judged[f"d{n + 10}"] = 0  # and one non-relevant judgement
        qrels[q] = judged
    order = rng.permutation(len(rows))
    return Run.from_rows([rows[i] for i in order]), qrels


def trec(
    run: Run, qrels: dict[str, dict[str, int]], measures: set[str], level: int
) -> dict[str, dict[str, float]]:
    as_dict: dict[str, dict[str, float]] = {}
    for q, d, s in zip(run.query_ids, run.item_ids, run.scores.tolist(), strict=True):
        as_dict.setdefault(q, {})[d] = s
    return pytrec_eval.RelevanceEvaluator(qrels, measures, relevance_level=level).evaluate(as_dict)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("threshold", [1, 2])
def test_map_precision_recall_match_trec_eval(seed: int, threshold: int) -> None:
    run, qrels = make_case(seed, max_grade=2)
    ref = trec(run, qrels, {"map", "P_1", "P_5", "P_10", "recall_5", "recall_10"}, threshold)
    ours = evaluate_run(run, qrels, ks=(1, 5, 10), threshold=threshold, ties="pessimistic")
    assert ours.n_queries["MAP"] == len(ref)
    for our_name, trec_name in [
        ("MAP", "map"),
        ("P@1", "P_1"),
        ("P@5", "P_5"),
        ("P@10", "P_10"),
        ("recall@5", "recall_5"),
        ("recall@10", "recall_10"),
    ]:
        expected = np.mean([m[trec_name] for m in ref.values()])
        assert ours[our_name] == pytest.approx(expected, abs=1e-9), our_name


@pytest.mark.parametrize("seed", range(10))
def test_ndcg_matches_trec_eval_on_binary_grades(seed: int) -> None:
    run, qrels = make_case(1000 + seed, max_grade=1)
    ref = trec(run, qrels, {"ndcg_cut_1", "ndcg_cut_3", "ndcg_cut_5", "ndcg_cut_10"}, 1)
    ours = evaluate_run(run, qrels, ndcg_ks=(1, 3, 5, 10))
    assert ours.n_queries["NDCG@1"] == len(ref)
    for k in (1, 3, 5, 10):
        expected = np.mean([m[f"ndcg_cut_{k}"] for m in ref.values()])
        assert ours[f"NDCG@{k}"] == pytest.approx(expected, abs=1e-5), k
