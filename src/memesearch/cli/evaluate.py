"""``memesearch evaluate``: SPEC §5 metrics of a run file, or of an encoder on a dataset split.

The work is done by :func:`memesearch.eval.evaluator.evaluate_run_file` (``--run``) and
:func:`memesearch.eval.encoders.evaluate_encoder` (``--dataset --model``); this module only parses
options, prints the tables and writes the files. The other modes have a module each, imported only when
used: ``--compare``/``--checkpoint`` in :mod:`memesearch.cli.evaluate_compare`, ``--index`` in
:mod:`memesearch.cli.evaluate_index`, ``--captions`` in :mod:`memesearch.cli.evaluate_captions` and
``--objects`` in :mod:`memesearch.cli.evaluate_objects`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from memesearch.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.eval.metrics import MetricsReport
    from memesearch.eval.run import Run

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
    dataset: Path | None = typer.Option(
        None,
        "--dataset",
        help="Evaluate an encoder (--model) on this dataset (any readable format) instead of a run file; "
        "queries of --split search the split's whole gallery.",
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        help="Encoder name for --dataset: e5-small, minilm, tiny-clip[:seed], clip:<dir or hub id>, "
        "st:<dir or hub id>.",
    ),
    branch: str = typer.Option(
        "image",
        "--branch",
        help="With --dataset: image (query text vs the item's image) or text (query text vs the item's "
        "passage: captions and OCR text joined, as the index embeds it).",
    ),
    oracle_captions: bool = typer.Option(
        True,
        "--oracle-captions/--no-oracle-captions",
        help="With --branch text: use captions marked as oracle (e.g. the emoji names of the emoji "
        "benchmark) as context text, or leave them out.",
    ),
    by_lang: bool = typer.Option(
        False, "--by-lang", help="With --dataset: also evaluate each query language (meta.lang) separately."
    ),
    protocol: str = typer.Option(
        "auto",
        "--protocol",
        help="With --dataset --model: gallery (every metric over the split's gallery) or cbvs (R@K/MR over "
        "the gallery; NDCG, MAP, PNR over each query's judged candidates, relevant = grade 2 unless "
        "--threshold). auto = cbvs for datasets built that way (the covers benchmark), else gallery.",
    ),
    checkpoint: Path | None = typer.Option(
        None,
        "--checkpoint",
        help="With --dataset: a training run (or checkpoint) directory; its Task scores the image branch "
        "(a stage-1 run), or the text and image branches (a clip4meme-qc or ief stage-qc run: the image "
        "branch is the stage-1 model it holds, or else its recorded init_from run). Implies --compare.",
    ),
    compare: bool = typer.Option(
        False,
        "--compare",
        help="With --dataset: evaluate the image (--checkpoint, or the image tower of --model), text and "
        "lexical branches and their fusion side by side; fusion weights are chosen on --val-split, never "
        "on the split being evaluated.",
    ),
    text_model: str | None = typer.Option(
        None,
        "--text-model",
        help="With --compare: text encoder of the text branch (query vs the item's caption/OCR passage). "
        "Default: e5-small; with a --checkpoint that has no text branch of its own, the text tower "
        "`index --model checkpoint:RUN` serves (e.g. the frozen CLIP text tower of a clip4meme-qi run).",
    ),
    text_checkpoint: Path | None = typer.Option(
        None,
        "--text-checkpoint",
        help="With --compare: a trained text-branch run (clip4meme-qc, ief stage qc) instead of "
        "--text-model.",
    ),
    lexical: bool = typer.Option(
        True, "--lexical/--no-lexical", help="With --compare: include the BM25 branch over context text."
    ),
    val_split: str = typer.Option(
        "val", "--val-split", help="With --compare: the validation split the fusion weights are chosen on."
    ),
    select_metric: str = typer.Option(
        "R@10", "--select-metric", help="With --compare: metric the fusion weights maximise on --val-split."
    ),
    index: Path | None = typer.Option(
        None,
        "--index",
        help="Evaluate what `memesearch search` returns from this index, per branch and fused, for the "
        "queries of --queries or of --dataset/--split.",
    ),
    queries: Path | None = typer.Option(
        None,
        "--queries",
        help="With --index: native queries JSONL ({id, text, qrels, meta}); qrels name items by id, "
        "SHA-256 or file path (relative paths are relative to the queries file).",
        dir_okay=False,
    ),
    gallery: str = typer.Option(
        "index",
        "--gallery",
        help="With --index --dataset: rank every indexed item (index) or only the split's items (split).",
    ),
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
    captions: bool = typer.Option(
        False,
        "--captions",
        help="With --dataset: evaluate the captioner --model (starter-caption, a folder or a clipcap run) "
        "on --split (comma-separated): BLEU-1..4, ROUGE-L, CIDEr-D per language, and image->text retrieval "
        "by the captions' embeddings (--text-model, default e5-small).",
    ),
    objects: bool = typer.Option(
        False,
        "--objects",
        help="With --dataset (a collages build): whole-image vs region retrieval on --split — full image, "
        "crop, masked-crop and mask-pooled regions from --segmenter, and truth boxes as an oracle; R@K, "
        "MdR, MnR and how often a correct top-1 hit's region is the named emoji (IoU >= 0.5). --model "
        "defaults to starter.",
    ),
    segmenter: str = typer.Option(
        "auto", "--segmenter", help="With --objects: where regions come from (auto or sam2:<dir or hub id>)."
    ),
    region_global_weight: float = typer.Option(
        0.0,
        "--region-global-weight",
        min=0.0,
        max=1.0,
        help="With --objects: an item scores w * global + (1 - w) * best region (the index setting).",
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
    """Evaluate a run, or an encoder on a dataset: R@K, MR, MdR/MnR, P@K, NDCG@K, MAP, PNR (SPEC §5).

    Examples:
      memesearch evaluate --format cbvs --run inference_result.txt --out results/ --plot
      memesearch evaluate --dataset data/emoji --split test --model e5-small --branch text --by-lang
    """
    from rich.console import Console

    from memesearch.eval.evaluator import evaluate_run_file
    from memesearch.eval.report import metrics_table

    if plot and out is None:
        raise ConfigError("--plot writes recall_curve.png into --out; give --out DIR")
    ks = _parse_ks(k, "--k")
    ndcg_ks = _parse_ks(ndcg_k, "--ndcg-k")
    if index is not None:
        if run is not None or compare or checkpoint is not None or model is not None:
            raise ConfigError("--index evaluates an index; it does not take --run, --model or --checkpoint")
        from memesearch.cli.evaluate_index import evaluate_index_cli

        evaluate_index_cli(index, queries, dataset, split, gallery, by_lang, out, ties, threshold)
        return
    if queries is not None:
        raise ConfigError("--queries goes with --index DIR (the index to search)")
    if objects:
        from memesearch.cli.evaluate_objects import evaluate_objects_cli

        if dataset is None or run is not None:
            raise ConfigError(
                "--objects needs --dataset DIR (a collages build: memesearch datasets build collages)"
            )
        evaluate_objects_cli(
            dataset, split, model, out, segmenter=segmenter, global_weight=region_global_weight
        )
        return
    if captions:
        from memesearch.cli.evaluate_captions import evaluate_captions

        if dataset is None or model is None:
            raise ConfigError("--captions needs --dataset DIR and --model CAPTIONER (e.g. starter-caption)")
        evaluate_captions(dataset, [s.strip() for s in split.split(",")], model, out, text_model=text_model)
        return
    if dataset is not None:
        if run is not None:
            raise ConfigError("give either --run (evaluate a run file) or --dataset with --model, not both")
        if compare or checkpoint is not None:
            from memesearch.cli.evaluate_compare import compare_cli

            compare_cli(
                dataset,
                split,
                val_split,
                checkpoint=checkpoint,
                model=model,
                text_model=text_model,
                text_checkpoint=text_checkpoint,
                lexical=lexical,
                captions=oracle_captions,
                by_lang=by_lang,
                select_metric=select_metric,
                out=out,
                ties=ties,
                threshold=threshold,
            )
            return
        _evaluate_encoder(
            dataset,
            split,
            model,
            branch,
            oracle_captions,
            by_lang,
            out,
            plot,
            ties,
            threshold,
            ks,
            ndcg_ks,
            protocol,
        )
        return
    if run is None:
        raise ConfigError("give the run file to evaluate with --run PATH, or --dataset DIR --model NAME")
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
        written = _write_outputs(report, Path(out), inputs, f"Metrics of {run.name}", plot)
        console.print("wrote " + ", ".join(str(p) for p in written), highlight=False)


def _write_outputs(
    report: MetricsReport, target: Path, extra: dict[str, Any], title: str, plot: bool, run: Run | None = None
) -> list[Path]:
    """metrics.json + metrics.md (+ run.jsonl, + recall_curve.png) into ``target``; the paths written."""
    from memesearch.eval.report import write_report
    from memesearch.eval.run_io import write_run

    paths = write_report(report, target, extra=extra, title=title)
    written = [paths["json"], paths["markdown"]]
    if run is not None:
        written.append(write_run(run, target / "run.jsonl", "jsonl"))
    if plot:
        from memesearch.eval.plots import plot_recall_curve

        written.append(plot_recall_curve(report, target / "recall_curve.png", title=title))
    return written


def _evaluate_encoder(
    dataset_path: Path,
    split: str,
    model: str | None,
    branch: str,
    oracle_captions: bool,
    by_lang: bool,
    out: Path | None,
    plot: bool,
    ties: str,
    threshold: int | None,
    ks: tuple[int, ...],
    ndcg_ks: tuple[int, ...],
    protocol: str = "auto",
) -> None:
    from rich.console import Console

    from memesearch.data.formats import read_dataset
    from memesearch.eval.encoders import PROTOCOLS, evaluate_encoder
    from memesearch.eval.evaluator import resolve_settings
    from memesearch.eval.report import metrics_table
    from memesearch.models import create_encoder

    if model is None:
        raise ConfigError("--dataset needs the encoder to evaluate: --model NAME (e.g. e5-small)")
    if protocol not in ("auto", *PROTOCOLS):
        raise ConfigError(f"unknown --protocol {protocol!r}; use auto, {', '.join(PROTOCOLS)}")
    ds = read_dataset(dataset_path)
    if protocol == "auto":
        protocol = "cbvs" if ds.meta.get("protocol") == "cbvs" else "gallery"
    default_thr = 2 if protocol == "cbvs" else None  # CBVS counts label 2 as relevant
    rule, thr = resolve_settings("native", ties, threshold if threshold is not None else default_thr)
    encoder = create_encoder(model)
    results = evaluate_encoder(
        ds,
        split,
        encoder,
        branch=branch,
        captions=oracle_captions,
        by_lang=by_lang,
        threshold=thr,
        ties=rule,
        ks=ks,
        ndcg_ks=ndcg_ks,
        protocol=protocol,
    )
    console = Console()
    captions = "with oracle captions" if oracle_captions else "without oracle captions"
    for group, res in results.items():
        title = f"{ds.name}/{split} · {model} · {branch} branch" + (
            f" ({captions})" if branch == "text" else ""
        )
        title += f" · queries: {group}" + (" · CBVS protocol" if protocol == "cbvs" else "")
        console.print(metrics_table(res.report, title=title))
        if out is not None:
            target = Path(out) if group == "all" else Path(out) / group
            written = _write_outputs(res.report, target, res.settings, title, plot, run=res.run)
            console.print("wrote " + ", ".join(str(p) for p in written), highlight=False)
