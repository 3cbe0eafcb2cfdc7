"""The main job behind ``make demo``: the most complete end-to-end path that exists so far.

1. build the emoji benchmark (``memesearch datasets build emoji``) unless it is already there;
2. score its test split (unseen concepts drawn in the held-out style) with the offline multilingual
   text encoder ``e5-small`` on the items' oracle captions, write the run and print the SPEC §5
   metrics for all, English and Chinese queries;
3. answer a few example queries in English and Chinese over the held-out-style gallery, printing the
   top emoji with their scores and why they matched.

Run it with ``python -m memesearch.demo [--data data/emoji] [--out build/demo]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

EXAMPLE_QUERIES = ("so sleepy", "笑哭了", "angry", "生日快乐")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memesearch.demo", description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data/emoji"), help="Emoji benchmark folder.")
    parser.add_argument("--out", type=Path, default=Path("build/demo"), help="Folder for demo outputs.")
    parser.add_argument("--model", default="e5-small", help="Text encoder for the text branch.")
    args = parser.parse_args(argv)

    from rich.console import Console

    from memesearch.cli.main import main as cli
    from memesearch.data.formats import read_dataset
    from memesearch.eval.encoders import evaluate_encoder, text_branch_scores
    from memesearch.eval.report import metrics_table, write_report
    from memesearch.eval.run import write_run
    from memesearch.models import create_encoder

    console = Console()
    if not (args.data / "dataset.json").exists():
        console.print(f"[bold]1. building the emoji benchmark into {args.data}[/bold]")
        code = cli(["datasets", "build", "emoji", "--out", str(args.data)])
        if code:
            return code
    else:
        console.print(f"[bold]1. emoji benchmark found at {args.data}[/bold]")
    ds = read_dataset(args.data)
    for name, c in ds.counts().items():
        console.print(f"   {name}: {c['items']} images, {c['queries']} queries", highlight=False)

    console.print(f"[bold]2. text branch of {args.model} on the test split (oracle captions)[/bold]")
    encoder = create_encoder(args.model)
    results = evaluate_encoder(ds, "test", encoder, branch="text", by_lang=True)
    args.out.mkdir(parents=True, exist_ok=True)
    for group, res in results.items():
        target = args.out / "emoji-test" / group
        write_report(res.report, target, extra=res.settings, title=f"emoji test · {args.model} · {group}")
        write_run(res.run, target / "run.jsonl", "jsonl")
        console.print(metrics_table(res.report, title=f"queries: {group}"))
    console.print(f"   reports and runs written to {args.out / 'emoji-test'}", highlight=False)

    console.print("[bold]3. example queries over the held-out-style gallery (text branch)[/bold]")
    gallery = {it.id: it for name in ("test", "test-seen") if name in ds for it in ds[name].items}
    items = list(gallery.values())
    scores = text_branch_scores(list(EXAMPLE_QUERIES), items, encoder)
    for qi, query in enumerate(EXAMPLE_QUERIES):
        console.print(f'   "{query}"', highlight=False)
        for j in scores[qi].argsort()[::-1][:3]:
            it = items[j]
            why = " / ".join(it.captions)
            console.print(
                f"      {it.meta.get('char', '')}  {scores[qi, j]:.3f}  caption match: {why}  "
                f"emotions: {', '.join(it.emotions) or '-'}",
                highlight=False,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
