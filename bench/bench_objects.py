"""Benchmark: what regions cost at ingest and at search time.

Run by hand (not a test), on a collages build (``memesearch datasets build collages --out data/collages``)::

    .venv/bin/python bench/bench_objects.py data/collages --split test --queries 50

Indexes the split's collages (starter model, no OCR, no emotion tags: what is timed is the image work) once
with ``--objects none`` and once with ``--objects auto`` for each region embedding, and reports ingest
images/s with the per-stage seconds (``enrich`` = segmenting, ``embed`` = item + region vectors), the regions
kept, and the mean search latency of the split's first ``--queries`` queries without and with ``--objects``
(one process, warm). Numbers taken while other jobs share the cores are slower, not different.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from memesearch.data.formats import read_dataset
from memesearch.index import Index
from memesearch.ingest import add_paths
from memesearch.search import Searcher


def run(dataset: Path, split: str, objects: str, method: str, queries: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = {"ocr": False, "emotions": False, "objects": objects, "region_embedding": method}
        with Index.create(Path(tmp) / "idx", model="starter", **settings) as idx:
            t0 = time.perf_counter()
            summary = add_paths(idx, [dataset], splits=[split], workers=0)
            seconds = time.perf_counter() - t0
            regions = idx.vector_count("region") if idx.has_regions else 0
            searcher = Searcher(idx).warm()
            latency: dict[str, float] = {}
            for mode in ("plain", "objects") if idx.has_regions else ("plain",):
                searcher.search(queries[0], k=10, objects=mode == "objects")
                t1 = time.perf_counter()
                for q in queries:
                    searcher.search(q, k=10, objects=mode == "objects")
                latency[mode] = round((time.perf_counter() - t1) / len(queries) * 1000, 1)
    return {
        "objects": objects,
        "region_embedding": method if objects != "none" else "-",
        "items": len(summary.indexed),
        "seconds": round(seconds, 1),
        "items_per_s": round(len(summary.indexed) / seconds, 2),
        "stages_s": {
            k: v["seconds"] for k, v in summary.stages.items() if k in ("prepare", "enrich", "embed")
        },
        "regions": regions,
        "search_ms": latency,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    ds = read_dataset(args.dataset)
    texts = [q.text for q in ds[args.split].queries][: args.queries]
    rows = [run(args.dataset, args.split, "none", "masked-crop", texts)]
    for method in ("masked-crop", "crop", "mask-pool"):
        rows.append(run(args.dataset, args.split, "auto", method, texts))
    print(
        "| objects | region embedding | items | images/s | enrich s | embed s | regions "
        "| search ms (plain / objects) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        lat = " / ".join(str(v) for v in r["search_ms"].values())
        print(
            f"| {r['objects']} | {r['region_embedding']} | {r['items']} | {r['items_per_s']} | "
            f"{r['stages_s'].get('enrich', 0):.1f} | {r['stages_s'].get('embed', 0):.1f} | "
            f"{r['regions']} | {lat} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
