"""Text-branch baselines on the emoji benchmark: the table in README.md, produced by this command.

    python scripts/report_emoji_baselines.py [--dataset data/emoji] [--models e5-small,minilm]

Builds the benchmark if absent (``memesearch datasets build emoji``), evaluates each text encoder's
text branch on the test split (unseen concepts, held-out style) with the oracle captions,
for all queries and per language, writes ``docs/results/emoji_text_baselines.{md,json}`` and replaces
the table between the ``emoji-text-baselines`` markers in README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from memesearch.utils.readme import write_block

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("R@1", "R@5", "R@10", "MR", "MdR", "NDCG@10", "MAP")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "emoji")
    parser.add_argument("--split", default="test")
    parser.add_argument("--models", default="e5-small,minilm")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--no-readme", action="store_true", help="Do not update README.md.")
    args = parser.parse_args(argv)

    from memesearch.cli.main import main as cli
    from memesearch.data.formats import read_dataset
    from memesearch.eval.encoders import evaluate_encoder
    from memesearch.models import create_encoder

    if not (args.dataset / "dataset.json").exists():
        code = cli(["datasets", "build", "emoji", "--out", str(args.dataset)])
        if code:
            return code
    ds = read_dataset(args.dataset)
    rows: list[dict[str, object]] = []
    for name in args.models.split(","):
        enc = create_encoder(name)
        for captions in (True,):  # without oracle captions emoji items have no text at all
            t0 = time.perf_counter()
            res = evaluate_encoder(ds, args.split, enc, branch="text", captions=captions, by_lang=True)
            secs = time.perf_counter() - t0
            for group, ev in res.items():
                rows.append(
                    {
                        "model": name,
                        "oracle_captions": captions,
                        "queries": group,
                        "n": ev.report.n_queries.get("with_relevant", 0),
                        **{c: ev.report.metrics[c] for c in COLUMNS},
                        "seconds": round(secs, 1),
                    }
                )
                print(name, captions, group, {c: round(ev.report.metrics[c], 4) for c in COLUMNS}, flush=True)

    n_items = len(ds[args.split].items)
    lines = [
        f"Text branch on the emoji `{args.split}` split ({n_items} images of unseen concepts in the held-out "
        "style; gallery = the whole split; pessimistic ties; relevant = grade ≥ 1). With oracle captions "
        "each item's context text is its English and Chinese name, embedded as one passage as the index "
        "does (no OCR: emoji carry no text), so these rows are a ceiling for caption-based retrieval, "
        "not a result of image understanding.",
        "",
        "| model | queries | n | " + " | ".join(COLUMNS) + " |",
        "|---|---|---:|" + "---:|" * len(COLUMNS),
    ]
    for r in rows:
        vals = " | ".join(
            f"{r[c]:.1f}" if c == "MdR" else f"{r[c]:.4f}"  # type: ignore[str-format]
            for c in COLUMNS
        )
        lines.append(f"| {r['model']} | {r['queries']} | {r['n']} | {vals} |")
    lines += ["", "Reproduce: `python scripts/report_emoji_baselines.py` (after `make install`)."]
    table = "\n".join(lines)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "emoji_text_baselines.md").write_text(table + "\n", encoding="utf-8")
    (args.out / "emoji_text_baselines.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    if not args.no_readme:
        write_block(ROOT / "README.md", "emoji-text-baselines", table, missing_ok=True)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
