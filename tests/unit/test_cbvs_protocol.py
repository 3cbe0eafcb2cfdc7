"""The CBVS protocol of encoder evaluation: R@K over the gallery, NDCG / MAP / PNR over judged candidates."""

from __future__ import annotations

import numpy as np
import pytest

from memesearch.errors import ConfigError
from memesearch.eval.encoders import cbvs_report
from memesearch.eval.retrieval import evaluate_run, evaluate_scores
from memesearch.eval.run import Run


def test_cbvs_report_takes_each_metric_from_its_side() -> None:
    items = ["a", "b", "c", "d", "e"]
    # q1 judges a (2), b (1), c (0); d and e are unjudged but score high: they push a down in the gallery
    scores = np.array([[0.5, 0.7, 0.1, 0.9, 0.8], [0.2, 0.9, 0.3, 0.1, 0.0]], dtype=np.float32)
    qrels = {"q1": {"a": 2, "b": 1, "c": 0}, "q2": {"b": 2, "c": 0, "e": 1}}
    report = cbvs_report(scores, qrels, ["q1", "q2"], items, threshold=2)
    gallery = evaluate_scores(scores, qrels, ["q1", "q2"], items, threshold=2)
    rows = [("q1", "a", 0.5, 2), ("q1", "b", 0.7, 1), ("q1", "c", 0.1, 0)]
    rows += [("q2", "b", 0.9, 2), ("q2", "c", 0.3, 0), ("q2", "e", 0.0, 1)]
    judged = evaluate_run(Run.from_rows(rows), threshold=2)
    for name in ("R@1", "R@5", "MR", "MnR"):
        assert report[name] == gallery[name]
    for name in ("NDCG@1", "NDCG@3", "MAP", "PNR"):
        assert report[name] == pytest.approx(judged[name])
    # q1: a is 4th in the gallery (R@1 = 0) but beats c among its candidates; b (1) outranks a (2)
    assert (
        report["R@1"] == 0.5
        and report["PNR"] == pytest.approx(judged["PNR"])
        and judged["PNR"] != gallery["PNR"]
    )
    assert report.settings["protocol"] == "cbvs"
    assert report.counts["candidates_candidates"] == 6 and report.counts["candidates"] == 10


def test_cbvs_report_needs_judgements() -> None:
    with pytest.raises(ConfigError, match="judged"):
        cbvs_report(np.zeros((1, 2), dtype=np.float32), {"q": {}}, ["q"], ["a", "b"])
