"""Benchmark: the ``sam2:`` segmenter with the SAM2.1 hiera-tiny architecture (transformers' default
``Sam2Config``, ~39M parameters with random weights: real compute, no weights can be downloaded here) on
CPU — image encoding, a point prompt, a box prompt and automatic mask generation, per image.

Run by hand (not a test)::

    .venv/bin/python bench/bench_sam2.py --size 640x480 --points-per-side 16 --json build/bench_sam2.json

The model is saved with ``save_pretrained`` to a temporary folder and loaded through
``create_segmenter("sam2:<dir>")``, as a user would. Each row is the best of ``--repeats`` runs after
one warm-up. Automatic generation with random weights keeps no mask under SAM's thresholds, so it runs
with every threshold at 0 (all candidates go through NMS): the time of a real model is at most this.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def _best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    fn()
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.monotonic()
        result = fn()
        best = min(best, time.monotonic() - start)
    return best, result


def main() -> None:
    import torch
    from transformers import Sam2Config, Sam2Model

    from memesearch.objects import SegmenterConfig, create_segmenter
    from memesearch.objects.sam2 import Sam2Segmenter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x480", help="Image WxH.")
    parser.add_argument("--points-per-side", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads [default: torch's].")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.lower().split("x"))
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8))
    torch.manual_seed(0)
    model = Sam2Model(Sam2Config()).eval()
    params = sum(p.numel() for p in model.parameters())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        loose = SegmenterConfig(
            points_per_side=args.points_per_side,
            pred_iou_thresh=0.0,
            stability_score_thresh=0.0,
            stability_offset=0.0,
            min_area_fraction=0.0,
        )
        seg = create_segmenter(f"sam2:{tmp}", loose)
        assert isinstance(seg, Sam2Segmenter)
        seconds, _ = _best(lambda: seg.image_embeddings(image), args.repeats)
        rows.append({"step": "encode image", "seconds": seconds})
        emb = seg.image_embeddings(image)
        pts = seg.scale_coords(np.array([[w / 2, h / 2]], np.float32), w, h)
        seconds, _ = _best(lambda: seg.decode(emb, points=pts, multimask=True), args.repeats)
        rows.append({"step": "decode 1 point (3 candidates)", "seconds": seconds})
        seconds, _ = _best(lambda: seg.segment(image, points=[(w / 2, h / 2)]), args.repeats)
        rows.append({"step": "segment: 1 point, end to end", "seconds": seconds})
        seconds, _ = _best(
            lambda: seg.segment(image, boxes=[(w / 4, h / 4, 3 * w / 4, 3 * h / 4)]), args.repeats
        )
        rows.append({"step": "segment: 1 box, end to end", "seconds": seconds})
        seconds, regions = _best(lambda: seg.segment(image), args.repeats)
        rows.append(
            {
                "step": f"segment: automatic, {args.points_per_side}x{args.points_per_side} grid",
                "seconds": seconds,
                "regions": len(regions),
            }
        )
    print(f"SAM2 hiera-tiny architecture, {params / 1e6:.1f}M parameters, random weights; image {w}x{h}; ")
    print(f"torch threads {torch.get_num_threads()}, CPUs {os.cpu_count()}")
    for r in rows:
        extra = f"  ({r['regions']} regions)" if "regions" in r else ""
        print(f"  {r['step']:45s} {r['seconds']:7.3f} s{extra}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        meta = {"parameters": params, "image": [w, h], "threads": torch.get_num_threads()}
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
