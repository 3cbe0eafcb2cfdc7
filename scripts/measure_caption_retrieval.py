"""The retrieval effect of generated captions under realistic conditions (issue 12's "Done when").

Two indexes of the same plain list of image paths — the emoji benchmark's held-out drawing style (the
``test`` and ``test-seen`` items: no captions, no manifest emotions), OCR on, default settings, the
``starter`` model and its default calibration — one built as is, one with ``--captioner starter-caption``.
Both are searched with the benchmark's English and Chinese queries (gallery = the split's items) and
every branch and the fused ranking are reported, per language, with and without generated captions:

* ``test``: unseen concepts in the unseen style — the captioner was never taught these names;
* ``test-seen``: concepts seen in training, drawn in the unseen style — what the captioner can name.

Run by hand (~10-20 minutes on 2 shared cores, mostly OCR)::

    python scripts/measure_caption_retrieval.py --emoji data/emoji --out docs/results/caption_retrieval.json
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

SHOWN = ("R@1", "R@5", "R@10", "MdR", "MAP")
SPLITS = ("test", "test-seen")


def plain_list(dataset: Any, splits: tuple[str, ...], path: Path) -> Path:
    """A CSV list of the image paths of ``splits`` only (no captions, no emotions): a plain folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path"])
        seen: set[str] = set()
        for split in splits:
            for it in dataset[split].items:
                p = str(it.resolve_path(dataset.root))
                if p not in seen:
                    seen.add(p)
                    w.writerow([p])
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emoji", type=Path, default=Path("data/emoji"))
    parser.add_argument("--captioner", default="starter-caption")
    parser.add_argument("--model", default="starter", help="model of the indexes (starter-v1)")
    parser.add_argument("--work", type=Path, default=Path("build/caption_retrieval"))
    parser.add_argument("--out", type=Path, default=Path("docs/results/caption_retrieval.json"))
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--build-only", action="store_true", help="Build (or update) the indexes, no search.")
    args = parser.parse_args(argv)

    from memesearch.data.formats import read_dataset
    from memesearch.eval.index_eval import evaluate_index, queries_from_dataset
    from memesearch.index import Index
    from memesearch.index.info import default_calibration
    from memesearch.ingest import add_paths
    from memesearch.search import Searcher

    ds = read_dataset(args.emoji)
    listing = plain_list(ds, SPLITS, args.work / "heldout-style.csv")
    report: dict[str, Any] = {
        "dataset": str(args.emoji),
        "captioner": args.captioner,
        "conditions": {},
        "command": "python scripts/measure_caption_retrieval.py " + " ".join(sys.argv[1:]),
    }
    for condition, captioner in (("without captions", None), ("with generated captions", args.captioner)):
        folder = args.work / ("captioned" if captioner else "plain")
        started = time.perf_counter()
        if (folder / "index.json").exists():
            idx = Index.open(folder)
        else:
            idx = Index.create(folder, model=args.model, captioner=captioner)
        with idx:
            # an index built earlier searches with the default calibration shipped now
            shipped = default_calibration(idx.config.model, idx.info["encoder"]["signature"])
            if shipped != idx.config.calibration:
                idx.update_config(calibration=shipped)
            summary = add_paths(idx, [listing], workers=args.workers, progress=sys.stderr.isatty())
            stages = {k: round(v["seconds"], 1) for k, v in summary.stages.items()}
            timing = folder / "build_stages.json"  # the run that indexed the files: its stage times
            if summary.indexed:
                timing.write_text(json.dumps(stages) + "\n", encoding="utf-8")
            elif timing.is_file():
                stages = json.loads(timing.read_text(encoding="utf-8"))
            print(
                f"{condition}: {len(idx)} items in {time.perf_counter() - started:.0f} s; {stages}",
                flush=True,
            )
            if args.build_only:
                continue
            per_split = {}
            for split in SPLITS:
                evaluation = evaluate_index(
                    Searcher(idx), queries_from_dataset(ds, split, idx, gallery="split")
                )
                per_split[split] = {
                    group: {
                        branch: {k: float(r.metrics[k]) for k in SHOWN} | {"n": int(r.n_queries["total"])}
                        for branch, r in branches.items()
                    }
                    for group, branches in evaluation.reports.items()
                }
            report["n_items"] = len(idx)
            cal = idx.config.calibration or {}
            report["conditions"][condition] = {
                "index_stages_s": stages,
                "splits": per_split,
                "calibration": {
                    "version": cal.get("version"),
                    "generated_calibrators": sorted(k for k in cal.get("branches", {}) if ":" in k),
                },
            }
        args.out.parent.mkdir(parents=True, exist_ok=True)  # after each condition: a partial report survives
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(
            f"{condition}: evaluated in {time.perf_counter() - started:.0f} s; wrote {args.out}", flush=True
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
