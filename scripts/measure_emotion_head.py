"""Per-emotion precision and recall of the shipped emotion head on the emoji benchmark.

    memesearch datasets build emoji --out data/emoji
    python scripts/measure_emotion_head.py [--dataset data/emoji] [--out docs/results]

Reads the shipped head (``memesearch/models/weights/starter-v3-emotion-head``: weights, and the thresholds
chosen on val by ``scripts/train_emotion_head.py``), tags every item of ``val`` (train styles, unseen
concepts), ``test`` (held-out style, unseen concepts) and ``test-seen`` (held-out style, seen concepts)
as the ingest enricher does (``top_k`` = 2), and counts per emotion: gold items, tags, correct tags,
precision, recall; plus micro precision / recall over all tags and the false-tag rate (share of items
without gold emotions that get a tag). Also reports, on val only, the feature comparison that chose the
head's input (pooled body features vs the 384-d output embedding). Writes ``<out>/emotion_head.json``
and prints the README table. Nothing here changes the head.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BAR = 0.6


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "emoji")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "emotion_head_features.npz")
    parser.add_argument(
        "--encoder", default="starter", help="the starter version whose tower the head reads (starter-v3)"
    )
    args = parser.parse_args(argv)

    from memesearch.models import create_encoder
    from memesearch.models.starter.emotion_head import EmotionHead, head_for_encoder
    from memesearch.train.emotion_head import embed_splits, evaluate, train_head

    if not (args.dataset / "dataset.json").exists():
        print(
            f"no dataset at {args.dataset}; build it with 'memesearch datasets build emoji'", file=sys.stderr
        )
        return 2
    encoder = create_encoder(args.encoder, device="cpu")
    head = head_for_encoder(encoder)
    if head is None:
        print(
            "the shipped emotion head does not fit the shipped starter weights: retrain it", file=sys.stderr
        )
        return 1
    data = embed_splits(args.dataset, encoder, args.cache)
    out: dict[str, Any] = {
        "command": "python scripts/measure_emotion_head.py"
        + ("" if args.encoder == "starter" else f" --encoder {args.encoder}"),
        "encoder": args.encoder,
        "head": {
            k: head.info.get(k) for k in ("features", "model", "threshold_rule", "command", "trained_on")
        },
        "thresholds": head.thresholds,
        "active": list(head.active),
        "top_k": 2,
        "bar": {"precision": BAR, "split": "test (held-out style)"},
    }
    for split in ("val", "test", "test-seen"):
        x, gold, _ = data[split]
        out[split] = evaluate(head, x, gold)

    # the feature choice, on val only: the same rule on the 384-d output embedding
    sha = str(encoder.config.extra["weights_sha256"])
    emb: dict[str, Any] = {}
    for split in ("train", "val"):
        x, gold, ids = data[split]
        from memesearch.data.formats import read_dataset

        ds = read_dataset(args.dataset)
        paths = [it.resolve_path(ds.root) for it in ds[split].items]
        emb[split] = (np.asarray(encoder.encode_image(paths), np.float32), gold, ids)
    comparison = {}
    for c in (1.0, 10.0):
        for name, d in (("body-meanmax", data), ("embedding-384", emb)):
            h: EmotionHead = train_head({"train": d["train"], "val": d["val"]}, sha, c=c)
            r = evaluate(h, d["val"][0], d["val"][1])
            comparison[f"{name} C={c:g}"] = {
                "active": list(h.active),
                "precision": r["precision"],
                "recall": r["recall"],
                "tags": r["tags"],
            }
    out["feature_choice_on_val"] = comparison

    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.encoder == "starter" else f"_{args.encoder}"
    path = args.out / f"emotion_head{suffix}.json"
    path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    print("| split | items (with emotions) | tags | correct | precision | recall | false-tag rate |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for split in ("val", "test", "test-seen"):
        r = out[split]
        print(
            f"| {split} | {r['n_items']} ({r['n_with_gold']}) | {r['tags']} | {r['correct']} | "
            f"{fmt(r['precision'])} | {fmt(r['recall'])} | {r['false_tag_rate']:.3f} |"
        )
    print()
    print("| emotion | threshold | val P / R (gold) | test P / R (gold) | test-seen P / R (gold) |")
    print("|---|---:|---|---|---|")
    for e in head.emotions:
        if head.thresholds[e] is None and all(out[s]["per_emotion"][e]["gold"] == 0 for s in ("test",)):
            continue
        cells = []
        for split in ("val", "test", "test-seen"):
            r = out[split]["per_emotion"][e]
            cells.append(f"{fmt(r['precision'])} / {fmt(r['recall'])} ({r['gold']})")
        t = head.thresholds[e]
        print(f"| {e} | {'off' if t is None else f'{t:.3f}'} | " + " | ".join(cells) + " |")
    print()
    for k, v in comparison.items():
        print(f"val, {k}: active {v['active']} P={fmt(v['precision'])} R={fmt(v['recall'])} tags={v['tags']}")
    test_p = out["test"]["precision"]
    met = test_p is not None and test_p >= BAR
    print(f"bar: test precision {fmt(test_p)} vs {BAR} -> {'met' if met else 'NOT met'}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
