"""Probe: does the emotion head tag the held-out style better from starter v3's backbone features?

The shipped head reads the starter CNN's pooled body features (512 numbers). Starter v3 also computes the
frozen NanoDet-g backbone's pooled features (1536, standardised); this probe fits the head's recipe
(:func:`memesearch.train.emotion_head.fit_head`, thresholds by :func:`choose_thresholds` on the in-style
``val`` of the training build) on either input, trained on the seven-style build's train split, and
reports tags, precision and recall on ``val``, ``val-heldout`` (apple; the view the choice is made on),
``test`` and ``test-seen`` (facebook). Nothing is shipped by it.

    PYTHONPATH=src python bench/probe_emotion_head_features.py \\
        --out docs/results/emotion_head_backbone_probe.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memesearch.data.emotions import EMOTION_WORDS
from memesearch.data.formats import read_dataset
from memesearch.models import create_encoder, load_image
from memesearch.models.starter.emotion_head import EmotionHead, image_features
from memesearch.models.starter.model import normalize_pixels, to_pixels
from memesearch.train.emotion_head import choose_thresholds, evaluate, fit_head


def backbone_features(model: Any, paths: list[Path], size: int) -> np.ndarray:
    out = []
    for start in range(0, len(paths), 128):
        pixels = normalize_pixels(to_pixels([load_image(p) for p in paths[start : start + 128]], size))
        with torch.no_grad():
            out.append(model.tower.backbone_features(pixels).numpy())
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, default=Path("data/emoji-v2"), help="build with train/val/test")
    ap.add_argument("--heldout", type=Path, default=Path("data/emoji-vh"), help="build with val-heldout")
    ap.add_argument("--encoder", default="starter-v3")
    ap.add_argument("--c", type=float, default=10.0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    encoder: Any = create_encoder(args.encoder, device="cpu")
    model, size = encoder.model, encoder.starter_config.image_size
    train, heldout = read_dataset(args.train), read_dataset(args.heldout)
    views = {
        "train": (train, "train"),
        "val": (train, "val"),
        "val-heldout": (heldout, "val-heldout"),
        "test": (train, "test"),
        "test-seen": (train, "test-seen"),
    }
    feats: dict[str, dict[str, np.ndarray]] = {}
    gold: dict[str, list[list[str]]] = {}
    for name, (ds, split) in views.items():
        items = ds[split].items
        paths = [p for p in (it.resolve_path(ds.root) for it in items) if p is not None]
        gold[name] = [list(it.emotions) for it in items]
        feats[name] = {
            "body": image_features(encoder, paths),
            "backbone": backbone_features(model, paths, size),
        }
        print(f"{name}: {len(items)} images, {sum(bool(g) for g in gold[name])} with emotions", flush=True)
    result: dict[str, Any] = {"command": "PYTHONPATH=src python bench/probe_emotion_head_features.py "
                              + " ".join(sys.argv[1:] if argv is None else argv), "rows": {}}  # fmt: skip
    for feature in ("body", "backbone"):
        weight, bias = fit_head(feats["train"][feature], gold["train"], EMOTION_WORDS, c=args.c)
        untuned = EmotionHead(EMOTION_WORDS, weight, bias, dict.fromkeys(EMOTION_WORDS, 0.0), "")
        thresholds = choose_thresholds(
            untuned.probabilities(feats["val"][feature]), gold["val"], EMOTION_WORDS
        )
        head = EmotionHead(EMOTION_WORDS, weight, bias, thresholds, "")
        row: dict[str, Any] = {"active": list(head.active)}
        for name in ("val", "val-heldout", "test", "test-seen"):
            r = evaluate(head, feats[name][feature], gold[name])
            row[name] = {k: r[k] for k in ("tags", "correct", "precision", "recall", "false_tag_rate")}
        result["rows"][f"{feature}, C={args.c}, thresholds on val"] = row
        print(feature, json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
