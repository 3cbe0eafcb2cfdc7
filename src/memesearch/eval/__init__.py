"""Evaluation: SPEC §5 metrics from runs, score matrices and embeddings; run/qrels I/O; reports and plots.

Heavy pieces (matplotlib) are imported only by :mod:`memesearch.eval.plots`.
"""

from memesearch.eval.metrics import MetricsReport, TieRule, compute_metrics
from memesearch.eval.retrieval import evaluate_embeddings, evaluate_run, evaluate_scores
from memesearch.eval.run import QueryCandidates, Run, invert_qrels
from memesearch.eval.run_io import read_qrels, read_run, write_qrels, write_run

__all__ = [
    "MetricsReport",
    "QueryCandidates",
    "Run",
    "TieRule",
    "compute_metrics",
    "evaluate_embeddings",
    "evaluate_run",
    "evaluate_scores",
    "invert_qrels",
    "read_qrels",
    "read_run",
    "write_qrels",
    "write_run",
]
