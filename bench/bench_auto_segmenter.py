"""Benchmark: how often the weight-free ``auto`` segmenter finds the pasted emoji of a collages dataset,
per background, and how fast it runs.

Run by hand (not a test), on a dataset built by ``memesearch datasets build collages``::

    memesearch datasets build collages --out data/collages
    .venv/bin/python bench/bench_auto_segmenter.py data/collages --splits test,train --json build/auto.json

For every truth object (``item.objects``) the best box IoU over the regions ``auto`` returns is taken; the
table gives the share of objects found at IoU >= 0.9 and >= 0.5, the regions returned per collage (more
than the objects means false regions: suns, clouds, split drawings) and images/s (one process; the time
includes decoding the PNG). Numbers taken while other jobs share the cores are slower, not different.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from PIL import Image

from memesearch.data.formats import read_dataset
from memesearch.objects import SegmenterConfig, box_iou, create_segmenter


def measure(root: Path, splits: list[str], max_regions: int) -> list[dict[str, Any]]:
    ds = read_dataset(root)
    seg = create_segmenter("auto", SegmenterConfig(max_regions=max_regions))
    rows: list[dict[str, Any]] = []
    for split in splits:
        per: dict[str, dict[str, float]] = {}
        start = time.monotonic()
        n_images = 0
        for it in ds[split].items:
            with Image.open(it.resolve_path(ds.root)) as im:  # type: ignore[arg-type]
                regions = seg.segment(im.convert("RGB"))
            n_images += 1
            s = per.setdefault(
                str(it.meta["background"]), {"images": 0, "objects": 0, "iou90": 0, "iou50": 0}
            )
            s["images"] += 1
            s["regions"] = s.get("regions", 0) + len(regions)
            for truth in it.objects:
                best = max((box_iou(truth.box, r.box) for r in regions), default=0.0)
                s["objects"] += 1
                s["iou90"] += best >= 0.9
                s["iou50"] += best >= 0.5
        seconds = time.monotonic() - start
        for background, s in sorted(per.items()):
            rows.append(
                {
                    "split": split,
                    "background": background,
                    "images": int(s["images"]),
                    "objects": int(s["objects"]),
                    "found_iou90": round(s["iou90"] / max(1, s["objects"]), 3),
                    "found_iou50": round(s["iou50"] / max(1, s["objects"]), 3),
                    "regions_per_image": round(s["regions"] / max(1, s["images"]), 2),
                    "objects_per_image": round(s["objects"] / max(1, s["images"]), 2),
                    "images_per_s_split": round(n_images / seconds, 1),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="A collages dataset folder.")
    parser.add_argument("--splits", default="test", help="Comma-separated views to measure.")
    parser.add_argument("--max-regions", type=int, default=32)
    parser.add_argument("--json", type=Path, default=None, help="Also write the rows here.")
    args = parser.parse_args()
    rows = measure(args.dataset, [s for s in args.splits.split(",") if s], args.max_regions)
    head = f"{'split':10s} {'background':10s} {'images':>6s} {'objects':>7s} {'IoU>=.9':>8s} {'IoU>=.5':>8s}"
    print(head + f" {'regions/img':>11s} {'objects/img':>11s} {'img/s':>6s}")
    for r in rows:
        print(
            f"{r['split']:10s} {r['background']:10s} {r['images']:6d} {r['objects']:7d} "
            f"{r['found_iou90']:8.3f} {r['found_iou50']:8.3f} {r['regions_per_image']:11.2f} "
            f"{r['objects_per_image']:11.2f} {r['images_per_s_split']:6.1f}"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
