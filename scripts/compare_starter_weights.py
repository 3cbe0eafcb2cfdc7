"""Compare starter weights (committed versions, exported runs or checkpoints) on views of the emoji benchmark.

The image branch (tower + emotion gate, as trained and exported) of each candidate against e5-small queries,
R@1/R@10/MdR per view — the numbers behind a choice between training runs. With a build that has the
``val-heldout`` view (``memesearch datasets build emoji --out data/emoji-vh --val-style apple``: the val
concepts drawn in a style used neither for training nor for test) selection can see a style gap, as the
test view does.

    python scripts/compare_starter_weights.py --dataset data/emoji-vh --views val,val-heldout,test \\
        v1=starter-v1 v2=starter-v2 old=starter:/path/to/weights \\
        step2618=runs/starter-20261207-200146/checkpoints/step-00002618 \\
        --out docs/results/starter_v2_selection.json

A candidate is ``NAME=ENCODER`` (an encoder name such as ``starter-v2`` or ``starter:DIR``) or
``NAME=CHECKPOINT_DIR`` (a ``memesearch train`` checkpoint, exported to a temporary weights folder first).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("candidates", nargs="+", help="NAME=ENCODER or NAME=CHECKPOINT_DIR")
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "emoji")
    parser.add_argument("--views", default="val,test")
    parser.add_argument("--out", type=Path, help="also write the table as JSON here")
    args = parser.parse_args(argv)

    from memesearch.data.formats import read_dataset
    from memesearch.models import create_encoder
    from memesearch.models.starter.text_cache import TextEmbeddingCache
    from memesearch.train.starter_export import evaluate_starter, export_weights

    pairs = []
    for spec in args.candidates:
        name, sep, target = spec.partition("=")
        if not sep or not name or not target:
            parser.error(f"a candidate is NAME=ENCODER or NAME=CHECKPOINT_DIR, got {spec!r}")
        pairs.append((name, target))
    ds = read_dataset(args.dataset)
    views = [v.strip() for v in args.views.split(",") if v.strip()]
    missing = [v for v in views if v not in ds.split_names]
    if missing:
        parser.error(f"{args.dataset} has no view {', '.join(missing)} (views: {', '.join(ds.split_names)})")
    cache = TextEmbeddingCache("e5-small")
    rows: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="starter-compare-") as tmp:
        for name, target in pairs:
            if Path(target).is_dir() and (Path(target) / "model.safetensors").is_file():
                out = Path(tmp) / name
                export_weights(target, out)  # a checkpoint of a run -> a weights folder
                target = f"starter:{out}"
            encoder = create_encoder(target, device="cpu")
            rows[name] = {}
            for view in views:
                m = evaluate_starter(encoder, ds, view, by_lang=False, cache=cache)["all"]
                rows[name][view] = {k: round(float(m[k]), 4) for k in ("R@1", "R@10", "MdR")}
            cells = "  ".join(f"{v} R@10 {rows[name][v]['R@10']:.4f}" for v in views)
            print(f"{name:<24} {cells}", flush=True)
    if args.out:
        result = {
            "dataset": str(args.dataset),
            "views": views,
            "candidates": dict(pairs),
            "metric": "image branch (tower + emotion gate) vs e5-small queries",
            "rows": rows,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
