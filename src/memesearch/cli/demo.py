"""The main job behind ``make demo``: from a folder of emoji to ranked, explained search results.

1. build the emoji benchmark (``memesearch datasets build emoji``) unless it is already there;
2. index its held-out-style images (splits ``test`` and ``test-seen``: the style the starter model never
   saw in training) with the ``starter`` model — dedup, OCR, emotions, embeddings, FAISS + SQLite — into
   ``OUT/index`` (a re-run skips every unchanged file). The manifest's captions (each emoji's CLDR name in
   English and Chinese — what a named sticker pack carries) are kept, so all three branches take part;
3. answer example queries in English and Chinese, printing the top results with their explanations;
4. evaluate the index on the test split (SPEC §5 metrics, per language): the image branch alone
   (no text used at all) and the fused ranking (image + caption embedding + BM25);
5. with ``--serve``, start the web UI on the index (http://127.0.0.1:8000 by default).

Run it with ``memesearch demo [--data data/emoji] [--out build/demo] [--serve]`` (``make demo`` runs
``python -m memesearch.demo``, the same command).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import typer

EXAMPLE_QUERIES = ("so sleepy", "笑哭了", "angry", "生日快乐", "I can't stop laughing", "好害羞")
SETTINGS = (
    ("image only", {"image": 1.0}),  # the image branch alone: no text of any kind
    ("fused", None),  # image + caption embedding + BM25, the index's fusion weights
)


def demo(
    data: Path = typer.Option(
        Path("data/emoji"), "--data", help="Emoji benchmark folder (built when missing)."
    ),
    out: Path = typer.Option(Path("build/demo"), "--out", help="Folder for the index and reports."),
    model: str = typer.Option("starter", "--model", help="Encoder for the index."),
    workers: int | None = typer.Option(
        None, "--workers", help="Ingest worker processes (default: all cores)."
    ),
    serve: bool = typer.Option(False, "--serve", help="Start the web UI on the index afterwards."),
    host: str = typer.Option("127.0.0.1", "--host", help="Web UI host (with --serve)."),
    port: int = typer.Option(8000, "--port", help="Web UI port (with --serve)."),
) -> None:
    """The main job: build the emoji benchmark, index it, answer example queries, evaluate the index."""
    from rich.console import Console

    from memesearch.cli.datasets_build import build_emoji
    from memesearch.cli.serve import serve as serve_index
    from memesearch.data.emoji.config import EmojiBuildConfig
    from memesearch.data.formats import read_dataset
    from memesearch.index import Index
    from memesearch.ingest import add_paths
    from memesearch.search import Searcher

    console = Console(highlight=False)
    if not (data / "dataset.json").exists():
        console.print(f"[bold]1. building the emoji benchmark into {data}[/bold]")
        build_emoji(data, EmojiBuildConfig())
    else:
        console.print(f"[bold]1. emoji benchmark found at {data}[/bold]")
    ds = read_dataset(data)

    index_dir = out / "index"
    console.print(f"[bold]2. indexing the held-out-style images with {model!r} into {index_dir}[/bold]")
    idx = (
        Index.open(index_dir)
        if (index_dir / "index.json").exists()
        else Index.create(index_dir, model=model, oracle_captions=True)
    )
    with idx:
        summary = add_paths(
            idx, [data], splits=["test", "test-seen"], workers=workers, progress=sys.stderr.isatty()
        )
        console.print(
            f"   indexed {len(summary.indexed)}, skipped {summary.skipped} unchanged, "
            f"{summary.duplicates} exact "
            f"duplicates, {summary.near_duplicates} near-duplicates, {len(summary.failed)} failed "
            f"({summary.seconds:.1f} s); {len(idx)} items",
        )
        if summary.stages:
            console.print(
                "   stages: "
                + ", ".join(
                    f"{k} {v['seconds']:.1f} s ({v['items_per_s']:.1f}/s)" for k, v in summary.stages.items()
                )
            )
        for f in summary.failed[:10]:
            console.print(f"   failed [{f.reason}]: {f.message}")
        searcher = Searcher(idx).warm()

        console.print("[bold]3. example queries (English and Chinese)[/bold]")
        for resp in searcher.search_batch(list(EXAMPLE_QUERIES), k=3, explain=True):
            console.print(f'   "{resp.query}"  ({resp.took_ms:.0f} ms)')
            for h in resp.hits:
                console.print(f"      {h.rank}. {_label(h.item)}  score {h.score:.3f}")
                console.print(f"         why: {'; '.join(h.why)}")

        console.print("[bold]4. evaluation on the test split (unseen concepts, held-out style)[/bold]")
        rows = evaluate_index(searcher, ds, "test", out / "eval")
        console.print(_table(rows))
        (out / "eval" / "table.md").write_text(markdown_table(rows), encoding="utf-8")
        console.print(f"   reports written to {out / 'eval'}")

    if serve:
        console.print(f"[bold]5. web UI on http://{host}:{port} (Ctrl+C to stop)[/bold]")
        serve_index(
            index=index_dir,
            host=host,
            port=port,
            token=None,
            max_upload_mb=10.0,
            model=None,
            open_browser=False,
        )
        return
    console.print(f"   search it yourself: memesearch search 'so sleepy' --index {index_dir} --explain")
    console.print("   web UI: make demo ARGS=--serve")


def _label(item: Any) -> str:
    char = item.meta.get("char", "")
    name = str(item.meta.get("name", "")).lower()
    return f"{char} {name}".strip() or Path(item.paths[0]).name if item.paths else item.id


def evaluate_index(searcher: Any, ds: Any, split: str, out: Path) -> list[dict[str, Any]]:
    """SPEC §5 metrics of the index's rankings for ``split``'s queries, over ``split``'s items.

    Rankings come from :meth:`Searcher.score_matrix` (exact scores of every query vs every item, the
    ranking ``search`` returns). Items found at several dataset paths count for each of them.
    """
    from memesearch.eval.report import write_report
    from memesearch.eval.retrieval import evaluate_scores
    from memesearch.models.fusion import NO_SCORE

    sp = ds[split]
    path_to_ids: dict[str, list[str]] = {}
    for it in sp.items:
        path_to_ids.setdefault(str(Path(it.resolve_path(ds.root)).resolve()), []).append(it.id)
    queries = list(sp.queries)
    # one pass over the queries: every branch's exact scores vs every item (image-only = the image branch)
    rowids, scores = searcher.score_matrix([q.text for q in queries])
    items = searcher.index.items(rowids.tolist())
    cols: list[int] = []
    ids: list[str] = []
    for j, rid in enumerate(rowids.tolist()):
        item = items.get(rid)
        for p in item.paths if item else []:
            for dataset_id in path_to_ids.get(str(Path(p).resolve()), []):
                cols.append(j)
                ids.append(dataset_id)
    qrels = sp.qrels()
    rows_out: list[dict[str, Any]] = []
    for label, weights in SETTINGS:
        matrix = scores["image"] if weights else scores["fused"]
        for lang in ("all", "en", "zh"):
            rows = [i for i, q in enumerate(queries) if lang == "all" or q.meta.get("lang") == lang]
            sub = np.nan_to_num(matrix[np.ix_(rows, cols)], nan=NO_SCORE)
            report = evaluate_scores(sub, qrels, [queries[i].id for i in rows], ids)
            name = "image-only" if weights else "fused"
            write_report(
                report,
                out / name / lang,
                extra={"weights": weights or searcher.weights, "split": split},
                title=f"emoji {split} · index search · {label} · {lang}",
            )
            rows_out.append({"setting": label, "lang": lang, "queries": len(rows), **report.metrics})
    return rows_out


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The evaluation rows as a Markdown table (README)."""
    lines = [
        "| ranking | lang | queries | R@1 | R@5 | R@10 | MdR | MAP |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['lang']} | {r['queries']} | {r['R@1']:.4f} | {r['R@5']:.4f} | "
            f"{r['R@10']:.4f} | {r['MdR']:.0f} | {r['MAP']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def _table(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title="emoji test split: index search (SPEC §5)")
    for col in ("ranking", "lang", "queries", "R@1", "R@5", "R@10", "MdR", "MAP"):
        table.add_column(col, justify="left" if col in ("ranking", "lang") else "right")
    for r in rows:
        table.add_row(
            r["setting"],
            r["lang"],
            str(r["queries"]),
            *(f"{r[m]:.4f}" for m in ("R@1", "R@5", "R@10")),
            f"{r['MdR']:.0f}",
            f"{r['MAP']:.4f}",
        )
    return table
