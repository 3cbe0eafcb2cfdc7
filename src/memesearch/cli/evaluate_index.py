"""``memesearch evaluate --index``: what ``memesearch search`` returns from an index, per branch and fused
(:func:`memesearch.eval.index_eval.evaluate_index`), for the queries of a JSONL file or of a dataset split;
printed as a table and written as ``index_eval.md`` + ``index_eval.json``."""

from __future__ import annotations

from pathlib import Path

from memesearch.errors import ConfigError


def evaluate_index_cli(
    index_dir: Path,
    queries_path: Path | None,
    dataset_path: Path | None,
    split: str,
    gallery: str,
    by_lang: bool,
    out: Path | None,
    ties: str,
    threshold: int | None,
) -> None:
    """Search ``index_dir`` with the queries of ``queries_path`` or of ``dataset_path``/``split``; print the
    metrics per branch and fused, and write them to ``out``."""
    import json

    from rich.console import Console
    from rich.markdown import Markdown

    from memesearch.eval.evaluator import resolve_settings
    from memesearch.eval.index_eval import evaluate_index, queries_from_dataset, queries_from_file
    from memesearch.search import Searcher

    if (queries_path is None) == (dataset_path is None):
        raise ConfigError("--index needs the queries: --queries FILE.jsonl, or --dataset DIR --split NAME")
    rule, thr = resolve_settings("native", ties, threshold)
    searcher = Searcher.open(index_dir)
    try:
        if queries_path is not None:
            qs = queries_from_file(queries_path, searcher.index)
        else:
            from memesearch.data.formats import read_dataset

            assert dataset_path is not None
            qs = queries_from_dataset(read_dataset(dataset_path), split, searcher.index, gallery=gallery)
        result = evaluate_index(searcher, qs, by_lang=by_lang, ties=rule, threshold=thr)
    finally:
        searcher.index.close()
    console = Console()
    weights = ", ".join(f"{k} {v:.2f}" for k, v in result.weights.items())
    console.print(
        f"{index_dir}: {len(qs.queries)} queries ({qs.source}) over {result.n_items} items; "
        f"fused with the index's weights: {weights}",
        highlight=False,
    )
    console.print(Markdown(result.table()))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "index_eval.md").write_text(result.table() + "\n", encoding="utf-8")
        payload = {"settings": result.settings, "weights": result.weights, "rows": result.rows()}
        (out / "index_eval.json").write_text(
            json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8"
        )
        console.print(f"wrote {out / 'index_eval.md'}, {out / 'index_eval.json'}", highlight=False)
