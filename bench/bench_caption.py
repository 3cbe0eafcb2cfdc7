"""Benchmark: captions/s of the shipped starter captioner and of a ClipCap of the seed's small size (random
CLIP ViT-B/32 + random GPT-2 base: real compute, no pretrained weights here), at batch 1 and 16.

Run by hand (not a test)::

    .venv/bin/python bench/bench_caption.py --json build/bench_caption.json
    .venv/bin/python bench/bench_caption.py --captioners starter-caption --batches 1,16,64

Images are 64-px emoji-like drawings decoded in memory beforehand. Each row times ``captioner.caption``
(image encoder + mapping network + decoding) on ``--images`` images, the best of ``--repeats`` runs after
one warm-up, and reports captions/s and the generated tokens/s. A random decoder rarely emits its end
token, so the ViT-B/32 + GPT-2 rows decode the full ``--max-tokens`` (a worst case); the starter
captioner stops at its end token (~5 tokens). The header prints the Linux CPU pressure: numbers taken while
other jobs share the cores are lower.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from memesearch.caption import DecodeConfig, load_captioner, new_captioner
from memesearch.caption.captioner import Captioner
from memesearch.caption.config import CaptionerConfig, DecoderConfig, MapperConfig
from memesearch.caption.decoder import train_tokenizer
from memesearch.models import save_random_clip


def drawings(n: int, seed: int = 0) -> list[Image.Image]:
    """Yellow faces with random eyes and mouths, on white (64 px)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = Image.new("RGB", (64, 64), "white")
        d = ImageDraw.Draw(img)
        d.ellipse((4, 4, 60, 60), fill=tuple(int(v) for v in rng.integers(150, 256, 3)))
        for x in (20, 40):
            d.ellipse((x - 4, 22, x + 4, 30 + int(rng.integers(0, 6))), fill="black")
        d.arc((16, 30, 48, 52 - int(rng.integers(0, 10))), 0, 180, fill="black", width=3)
        out.append(img)
    return out


def random_vitb32_gpt2(workdir: Path) -> Captioner:
    """The seed's small size with random weights: CLIP ViT-B/32 (512-d projection) -> transformer mapper
    (6 layers, 16 heads, prefix 4) -> GPT-2 base (124M, vocabulary 50257)."""
    clip_dir = workdir / "clip-vit-b-32"
    save_random_clip(clip_dir, "clip-vit-b-32")
    tok = train_tokenizer(["grinning face", "red heart", "笑哭了"] * 20, vocab_size=400)
    tok.add_tokens([f"<unused{i}>" for i in range(50257 - len(tok))])  # GPT-2's vocabulary size
    cfg = CaptionerConfig(
        encoder=f"clip:{clip_dir}",
        feature_dim=512,
        mapper=MapperConfig(
            kind="transformer", prefix_length=4, clip_length=1, layers=6, heads=16, mlp_ratio=4.0
        ),
        decoder=DecoderConfig(n_embd=768, n_layer=12, n_head=12, n_positions=1024, dropout=0.0),
        max_caption_tokens=40,
    )
    captioner = new_captioner(cfg, tok)
    captioner.model.eval()
    return captioner


def time_captions(
    captioner: Captioner, images: list[Image.Image], batch: int, decode: DecodeConfig, repeats: int
) -> dict[str, Any]:
    captioner.caption(images[:batch], decode, batch_size=batch)  # warm-up
    best = float("inf")
    tokens = 0
    for _ in range(repeats):
        start = time.perf_counter()
        out = captioner.caption(images, decode, batch_size=batch)
        best = min(best, time.perf_counter() - start)
        tokens = sum(len(c[0].tokens) + int(c[0].finished) for c in out)
    return {
        "batch": batch,
        "images": len(images),
        "captions_per_s": round(len(images) / best, 2),
        "tokens_per_s": round(tokens / best, 1),
        "mean_tokens": round(tokens / len(images), 1),
        "seconds": round(best, 3),
    }


def cpu_pressure() -> str:
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captioners", default="starter-caption,vit-b-32+gpt2")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=20)
    parser.add_argument("--beams", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    import torch

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}, cpu pressure: {cpu_pressure()}")  # fmt: skip
    images = drawings(args.images)
    decode = DecodeConfig(num_beams=args.beams, max_tokens=args.max_tokens)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.captioners.split(","):
            captioner = (
                random_vitb32_gpt2(Path(tmp))
                if name == "vit-b-32+gpt2"
                else load_captioner(name, device="cpu")
            )
            params = sum(p.numel() for p in captioner.model.parameters())
            for batch in (int(b) for b in args.batches.split(",")):
                row = {"captioner": name, "decode": decode.method, "parameters": params,
                       **time_captions(captioner, images, batch, decode, args.repeats)}  # fmt: skip
                rows.append(row)
                print(json.dumps(row))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpu_pressure": cpu_pressure(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
