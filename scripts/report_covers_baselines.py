"""Baselines on the covers benchmark's test split, CBVS protocol: the table in README.md, produced here.

    python scripts/report_covers_baselines.py [--dataset data/covers]

Builds the benchmark if absent (``memesearch datasets build covers --out data/covers``, default options),
then evaluates on the test split (unseen topics), for all queries and per language, as CBVS reports
models (R@K and MR over the split's whole gallery, relevant = label 2; PNR, NDCG@K and MAP over each
query's judged candidates; pessimistic ties):

* ``tiny-clip`` image branch: a random tiny CLIP, the chance row;
* ``starter`` image branch: the committed starter image tower (trained on emoji, in e5-small's space);
* ``e5-small`` text branch on the OCR: the query against the cover text as drawn (a perfect OCR); covers
  without text get no score and rank last. This is the "read the text" ceiling an OCR-free image tower
  (UniCLIP) aims at on text covers, and it cannot find text-less covers.

Writes ``docs/results/covers_baselines.{md,json}`` and replaces the table between the ``covers-baselines``
markers in README.md. Same as ``memesearch evaluate --dataset data/covers --split test --model NAME
[--branch text] --by-lang``, row by row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from memesearch.utils.readme import write_block

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("R@1", "R@5", "R@10", "MR", "PNR", "NDCG@1", "NDCG@5", "NDCG@10", "MAP")
#: (encoder, branch); ``STARTER`` is replaced by ``--model``
STARTER = "starter"
RUNS = (("tiny-clip", "image"), (STARTER, "image"), ("e5-small", "text"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "covers")
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", default=STARTER, help="the starter row's version")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--no-readme", action="store_true", help="Do not update README.md.")
    args = parser.parse_args(argv)

    from memesearch.cli.main import main as cli
    from memesearch.data.formats import read_dataset
    from memesearch.eval.encoders import evaluate_encoder
    from memesearch.models import create_encoder

    if not (args.dataset / "dataset.json").exists():
        code = cli(["datasets", "build", "covers", "--out", str(args.dataset)])
        if code:
            return code
    ds = read_dataset(args.dataset)
    rows: list[dict[str, object]] = []
    for name, branch in RUNS:
        name = args.model if name == STARTER else name
        enc = create_encoder(name)
        t0 = time.perf_counter()
        res = evaluate_encoder(ds, args.split, enc, branch=branch, by_lang=True, threshold=2, protocol="cbvs")
        secs = round(time.perf_counter() - t0, 1)
        for group, ev in res.items():
            rows.append(
                {
                    "model": name,
                    "branch": branch,
                    "queries": group,
                    "n": ev.report.n_queries.get("total", 0),
                    **{c: ev.report.metrics[c] for c in COLUMNS},
                    "seconds": secs,
                }
            )
            print(name, branch, group, {c: round(ev.report.metrics[c], 4) for c in COLUMNS}, flush=True)

    split = ds[args.split]
    textless = sum(1 for it in split.items if not it.meta.get("has_text"))
    lines = [
        f"Covers benchmark `{args.split}` split ({len(split.items)} covers of unseen topics, {textless} "
        f"without text; {len(split.queries)} queries), CBVS protocol: R@K and MR over the whole split "
        "(relevant = label 2), PNR / NDCG / MAP over each query's judged candidates; pessimistic ties. "
        "`text` = the query against the cover text as drawn (perfect OCR; covers without text rank last).",
        "",
        "| model | branch | queries | n | " + " | ".join(COLUMNS) + " |",
        "|---|---|---|---:|" + "---:|" * len(COLUMNS),
    ]
    for r in rows:
        vals = " | ".join(f"{r[c]:.3f}" if c == "PNR" else f"{r[c]:.4f}" for c in COLUMNS)  # type: ignore[str-format]
        lines.append(f"| {r['model']} | {r['branch']} | {r['queries']} | {r['n']} | {vals} |")
    flag = "" if args.model == STARTER else f" --model {args.model}"
    lines += ["", f"Reproduce: `python scripts/report_covers_baselines.py{flag}` (after `make install`)."]
    table = "\n".join(lines)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "covers_baselines.md").write_text(table + "\n", encoding="utf-8")
    payload = {"dataset": ds.meta.get("command"), "rows": rows}
    (args.out / "covers_baselines.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if not args.no_readme:
        write_block(ROOT / "README.md", "covers-baselines", table, missing_ok=True)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
