"""Which input normalisation does the NanoDet tfjs graph expect? Run its detector on a photo both ways.

The converted graph has no normalisation ops, so the pixels it was trained on are not visible in it.
This runs the full detector (at its exported 416x416, NCHW) on one photo under several candidate
normalisations and prints, for each, the highest score of the COCO classes (0 = person, 27 = tie):
the right one gives the photo's objects confident scores.

    PYTHONPATH=src python bench/check_nanodet_input.py /path/to/nanodet.json /path/to/photo.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from memesearch.models.tfjs_graph import load_tfjs_graph

SCORES = ["Identity:0", "Identity_1:0", "Identity_2:0"]  # class scores at strides 8, 16, 32
BGR_MEAN = np.array([103.53, 116.28, 123.675], np.float32)  # NanoDet's configs, BGR order
BGR_STD = np.array([57.375, 57.12, 58.395], np.float32)
CANDIDATES = {
    "bgr-meanstd": lambda rgb: (rgb[..., ::-1] - BGR_MEAN) / BGR_STD,
    "rgb-meanstd": lambda rgb: (rgb - BGR_MEAN[::-1]) / BGR_STD[::-1],
    "rgb255": lambda rgb: rgb,
    "rgb01": lambda rgb: rgb / 255,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_json", type=Path)
    ap.add_argument("photo", type=Path)
    ap.add_argument("--top", type=int, default=3)
    args = ap.parse_args(argv)
    graph = load_tfjs_graph(args.model_json, outputs=SCORES).eval()
    rgb = np.asarray(Image.open(args.photo).convert("RGB").resize((416, 416)), dtype=np.float32)
    for name, normalise in CANDIDATES.items():
        x = torch.from_numpy(np.ascontiguousarray(normalise(rgb).transpose(2, 0, 1))[None])
        with torch.no_grad():
            out = graph(x)
        best = torch.cat([out[k][0] for k in SCORES]).amax(dim=0)  # (80,) best score per class
        top = torch.argsort(best, descending=True)[: args.top].tolist()
        listed = ", ".join(f"class {c} {best[c].item():.3f}" for c in top)
        print(f"{name:12s} person {best[0].item():.3f}; top: {listed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
