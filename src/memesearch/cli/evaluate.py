"""``memesearch evaluate``: score a run file and print / write its SPEC §5 metrics.

The work is done by :func:`memesearch.eval.evaluator.evaluate_run_file`; this module only parses
options, prints the table and writes the files.
"""

from __future__ import annotations

from pathlib import Path

import typer

from memesearch.errors import ConfigError

_TIES_HELP = (
    "How equal scores are ordered: pessimistic (relevant items after equal-scored less relevant ones), "
    "optimistic, or input (file order). auto = input for --format cbvs (what the CBVS reference "
    "evaluator does, reproducing its published numbers), pessimistic otherwise."
)


def _parse_ks(text: str, option: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(
            f"{option} expects comma-separated positive integers like 1,5,10, got {text!r}"
        ) from None
    if not ks or any(k < 1 for k in ks):
        raise ConfigError(f"{option} expects comma-separated positive integers like 1,5,10, got {text!r}")
    return ks


def evaluate(
    run: Path | None = typer.Option(
        None,
        "--run",
        help="Run file to evaluate: rows of (query, item, score), see --format.",
        dir_okay=False,
    ),
    qrels: Path | None = typer.Option(
        None,
        "--qrels",
        help="Relevance judgements: TREC qrels (qid 0 docid grade), native queries JSONL, or a native "
        "dataset folder (with --split). Default: the run's own label column (cbvs, jsonl with label).",
    ),
    split: str = typer.Option("test", "--split", help="Split of the dataset folder given to --qrels."),
    fmt: str = typer.Option(
        "auto",
        "--format",
        help="Run format: cbvs (label TAB query TAB docid TAB score), trec (qid Q0 docid rank score tag), "
        "jsonl ({query_id, item_id, score[, label]}), or auto (detected from the first line).",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Folder to write metrics.json and metrics.md (and the plot) into. Default: print only.",
    ),
    plot: bool = typer.Option(
        False, "--plot", help="Also write recall_curve.png (R@K and recall@K vs K) to --out."
    ),
    ties: str = typer.Option("auto", "--ties", help=_TIES_HELP),
    threshold: int | None = typer.Option(
        None,
        "--threshold",
        help="Lowest grade that counts as relevant for R@K, MdR/MnR, P@K, recall@K and MAP. "
        "Default: 2 for --format cbvs (CBVS counts label 2 as relevant), 1 otherwise.",
    ),
    k: str = typer.Option("1,5,10", "--k", help="Cut-offs for R@K, P@K and recall@K, comma separated."),
    ndcg_k: str = typer.Option("1,3,5,10", "--ndcg-k", help="Cut-offs for NDCG@K, comma separated."),
    skip_missing_queries: bool = typer.Option(
        False,
        "--skip-missing-queries",
        help="Ignore queries of --qrels that have no row in the run (trec_eval's habit) instead of "
        "counting them as finding nothing.",
    ),
) -> None:
    """Evaluate a run: R@K, MR, MdR, MnR, P@K, recall@K, NDCG@K, MAP and PNR as defined in SPEC §5.

    Example: memesearch evaluate --format cbvs --run inference_result.txt --out results/ --plot
    """
    from rich.console import Console

    from memesearch.eval.evaluator import evaluate_run_file
    from memesearch.eval.report import metrics_table, write_report

    if run is None:
        raise ConfigError("give the run file to evaluate with --run PATH")
    if plot and out is None:
        raise ConfigError("--plot writes recall_curve.png into --out; give --out DIR")
    ks = _parse_ks(k, "--k")
    ndcg_ks = _parse_ks(ndcg_k, "--ndcg-k")
    _, report = evaluate_run_file(
        run,
        fmt=fmt,
        qrels_path=qrels,
        split=split,
        ties=ties,
        threshold=threshold,
        ks=ks,
        ndcg_ks=ndcg_ks,
        skip_missing_queries=skip_missing_queries,
    )
    console = Console()
    s = report.settings
    console.print(metrics_table(report, title=f"{run.name} ({s['format']})"))
    console.print(
        f"queries: {report.n_queries['total']} ({report.n_queries['with_relevant']} with a relevant item); "
        f"relevant: grade >= {s['threshold']}; ties: {s['ties']}; grades from {s['grades']}; "
        f"duplicate rows kept: {s['duplicate_rows']}",
        highlight=False,
    )
    if out is not None:
        inputs = {"run": str(run), "format": s["format"], "qrels": str(qrels) if qrels else "run labels"}
        paths = write_report(report, out, extra=inputs, title=f"Metrics of {run.name}")
        written = [paths["json"], paths["markdown"]]
        if plot:
            from memesearch.eval.plots import plot_recall_curve

            written.append(plot_recall_curve(report, Path(out) / "recall_curve.png"))
        console.print("wrote " + ", ".join(str(p) for p in written), highlight=False)
