"""Evaluate a run file: read it, pick the format's defaults, compute SPEC §5 metrics.

This is the library behind ``memesearch evaluate --run``; the CLI only parses options and prints.

Format defaults (``ties="auto"``, ``threshold=None``):

- ``cbvs``: grades come from the run's own label column (unless qrels are given), relevance
  threshold 2 (the CBVS MAP counts label 2 as relevant), tie rule ``input``: the CBVS reference
  evaluator ranks each query's rows by sorting them in file order, so equal scores keep file order.
  This reproduces the published UniCLIP numbers (PNR 3.0708, NDCG@1/3/5/10 0.7844 / 0.8026 / 0.8464 /
  0.8927, MAP 0.7788);
- ``trec`` and ``jsonl``: threshold 1, tie rule ``pessimistic`` (relevant items after equal-scored
  less relevant ones, so ties never inflate a score).

Example::

    run, report = evaluate_run_file("inference_result.txt", fmt="cbvs")
    print(report["NDCG@5"])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from memesearch.errors import ConfigError, DataFormatError
from memesearch.eval.metrics import MetricsReport
from memesearch.eval.ranking import TIE_RULES, TieRule
from memesearch.eval.retrieval import evaluate_run
from memesearch.eval.run import Run
from memesearch.eval.run_io import RUN_FORMATS, detect_run_format, read_qrels, read_run

log = logging.getLogger(__name__)

TIE_CHOICES: tuple[str, ...] = ("auto", *TIE_RULES)


def resolve_settings(fmt: str, ties: str = "auto", threshold: int | None = None) -> tuple[TieRule, int]:
    """The tie rule and relevance threshold for a run format (``auto`` / ``None`` = the format's default)."""
    if ties not in TIE_CHOICES:
        raise ConfigError(f"unknown tie rule {ties!r}; use one of {', '.join(TIE_CHOICES)}")
    auto_rule: TieRule = "input" if fmt == "cbvs" else "pessimistic"
    rule: TieRule = auto_rule if ties == "auto" else ties  # type: ignore[assignment]
    if threshold is None:
        threshold = 2 if fmt == "cbvs" else 1
    if threshold < 1:
        raise ConfigError(
            f"the relevance threshold must be >= 1 (grade 0 means not relevant), got {threshold}"
        )
    return rule, threshold


def evaluate_run_file(
    run_path: str | Path,
    *,
    fmt: str = "auto",
    qrels_path: str | Path | None = None,
    split: str = "test",
    ties: str = "auto",
    threshold: int | None = None,
    ks: Sequence[int] = (1, 5, 10),
    ndcg_ks: Sequence[int] = (1, 3, 5, 10),
    skip_missing_queries: bool = False,
) -> tuple[Run, MetricsReport]:
    """Read ``run_path`` (format ``fmt``, or detected from its first line) and evaluate it.

    Qrels come from ``qrels_path`` when given (TREC qrels, native queries JSONL or a dataset folder with
    ``split``), otherwise from the run's label column (CBVS runs, JSONL runs with ``label``).
    """
    run_path = Path(run_path)
    if fmt == "auto":
        fmt = detect_run_format(run_path)
        log.info("%s: detected run format %s", run_path, fmt)
    if fmt not in RUN_FORMATS:
        raise ConfigError(f"unknown run format {fmt!r}; use one of auto, {', '.join(RUN_FORMATS)}")
    rule, thr = resolve_settings(fmt, ties, threshold)
    run = read_run(run_path, fmt)
    qrels = None
    if qrels_path is not None:
        qrels = read_qrels(qrels_path, split=split)
    elif run.labels is None:
        raise DataFormatError(
            f"a {fmt} run has no label column, so it needs relevance judgements",
            path=run_path,
            hint="pass --qrels FILE (TREC qrels, native queries JSONL or a dataset folder)",
        )
    try:
        report = evaluate_run(
            run,
            qrels,
            ks=ks,
            ndcg_ks=ndcg_ks,
            threshold=thr,
            ties=rule,
            skip_missing_queries=skip_missing_queries,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    report.settings.update({"format": fmt, "ties_option": ties})
    return run, report
