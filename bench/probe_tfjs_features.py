"""Probe: are a tfjs backbone's feature maps useful image features? Cross-style emoji retrieval.

Each emoji is drawn in two styles (e.g. data/emoji/images/google and .../twitter, same file names).
For every backbone tap, global-average-pool the map, L2-normalise (also after subtracting the mean
feature), and retrieve each style-A image among all style-B images: recall@1 / @5 of its own emoji.
Raw pixels (32x32, minus 127.5) are the floor.

    PYTHONPATH=src python bench/probe_tfjs_features.py /path/to/models/centernet.json \\
        --images data/emoji/images --sizes 128 224 --out docs/results/tfjs_probe_emoji.json

No training is involved: this measures the pretrained features as they are.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from check_tfjs_graph import CENTERNET_TAPS  # the script's folder is on sys.path
from memesearch.models.tfjs_graph import load_tfjs_graph


def load_rgb(path: Path, size: int) -> np.ndarray:
    """An emoji PNG composited on white, resized: (size, size, 3) float32 in 0..255."""
    img = Image.open(path).convert("RGBA")
    canvas = Image.new("RGBA", img.size, (255, 255, 255, 255))
    canvas.alpha_composite(img)
    rgb = canvas.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.float32)


def recall(a: np.ndarray, b: np.ndarray, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Row i of `a` should retrieve row i of `b` (cosine)."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True).clip(1e-12)
    b = b / np.linalg.norm(b, axis=1, keepdims=True).clip(1e-12)
    sims = a @ b.T  # (N, N)
    rank = (sims > np.diag(sims)[:, None]).sum(1)  # how many beat the true match
    return {f"R@{k}": float((rank < k).mean()) for k in ks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="model.json of the tfjs graph model")
    parser.add_argument("--images", default="data/emoji/images", help="folder with one folder per style")
    parser.add_argument("--styles", nargs=2, default=["google", "twitter"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    parser.add_argument("--limit", type=int, default=0, help="use only the first N shared names")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = Path(args.images)
    a_dir, b_dir = root / args.styles[0], root / args.styles[1]
    names = sorted({p.name for p in a_dir.glob("*.png")} & {p.name for p in b_dir.glob("*.png")})
    names = names[: args.limit] if args.limit else names
    print(f"{len(names)} emoji in both {args.styles}")
    rows = []
    pix = [np.stack([load_rgb(d / n, 32).reshape(-1) for n in names]) for d in (a_dir, b_dir)]
    rows.append({"size": 32, "features": "raw pixels", **recall(pix[0] - 127.5, pix[1] - 127.5)})
    print(rows[-1])
    graph = load_tfjs_graph(args.model, outputs=CENTERNET_TAPS).eval()
    for size in args.sizes:
        feats: dict[str, list[np.ndarray]] = {t: [] for t in CENTERNET_TAPS}
        t0 = time.perf_counter()
        for d in (a_dir, b_dir):
            per_tap: dict[str, list[np.ndarray]] = {t: [] for t in CENTERNET_TAPS}
            for start in range(0, len(names), 32):
                batch = np.stack([load_rgb(d / n, size) for n in names[start : start + 32]])
                with torch.no_grad():
                    out = graph(torch.from_numpy(batch))
                for tap, y in out.items():
                    per_tap[tap].append(y.mean(dim=(1, 2)).numpy())  # GAP: (B, C)
            for tap in CENTERNET_TAPS:
                feats[tap].append(np.concatenate(per_tap[tap]))
        seconds = time.perf_counter() - t0
        for tap in CENTERNET_TAPS:
            a, b = feats[tap]
            mu = np.concatenate([a, b]).mean(0)  # centring: cosine on raw post-activation maps
            row = {"size": size, "features": tap, "dim": a.shape[1], **recall(a, b)}
            rows.append({**row, **{f"centred {k}": v for k, v in recall(a - mu, b - mu).items()}})
            print(rows[-1])
        print(f"{size}: {2 * len(names)} images, all taps in one pass, {seconds:.1f}s")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"args": vars(args), "n": len(names), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
