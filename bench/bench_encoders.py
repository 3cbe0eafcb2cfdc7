"""Benchmark: images/s and texts/s of each registry encoder at batch 32 and batch 1.

Issue 3 asks for the encode throughput of every encoder on the development machine. Run by hand (not a
test)::

    .venv/bin/python bench/bench_encoders.py                          # all encoders, batch 32 and 1
    .venv/bin/python bench/bench_encoders.py --encoders e5-small,minilm --json build/bench_encoders.json

``clip-vit-b-32`` is a randomly initialised OpenAI CLIP ViT-B/32 saved to a temporary directory and
loaded through ``create_encoder("clip:<dir>")``: the same compute as the real model (no pretrained
weights can be downloaded here). Images are decoded in memory beforehand (256x256 RGB), so images/s
covers preprocessing + the image tower; texts are short bilingual meme/emoji phrases, as queries.
Each timing is the best of ``--repeats`` runs after one warm-up batch; the header prints the Linux CPU
pressure, since numbers taken while other jobs share the cores are much lower. The device is the
registry default (CUDA when present).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from memesearch.models import create_encoder, save_random_clip

SHARED_MERGES = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "tokenizers"
    / "clip-bpe"
    / "bpe_simple_vocab_16e6.txt.gz"
)
ALL = ("tiny-clip", "e5-small", "minilm", "clip-vit-b-32")

PHRASES = [
    "face with tears of joy",
    "笑哭了",
    "when the code finally compiles",
    "我太难了",
    "sleepy cat on a keyboard",
    "生气",
    "thumbs up",
    "今天也要加油鸭",
    "grinning face with big eyes",
    "不想上班",
    "that awkward moment when you wave back at someone who was not waving at you",
    "开心到飞起",
]


def make_images(n: int, size: int = 256, seed: int = 0) -> list[Image.Image]:
    """``n`` random RGB images (smooth colour fields plus noise, like small photos)."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        base = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        field = np.asarray(
            Image.fromarray(base).resize((size, size), Image.Resampling.BILINEAR), dtype=np.int16
        )
        noisy = np.clip(field + rng.integers(-20, 21, field.shape), 0, 255).astype(np.uint8)
        images.append(Image.fromarray(noisy))
    return images


def make_texts(n: int) -> list[str]:
    return [f"{PHRASES[i % len(PHRASES)]} {i}" for i in range(n)]


def throughput(
    run: Callable[[list[Any], int], Any], items: list[Any], batch_size: int, repeats: int
) -> tuple[float, float]:
    """(items per second, milliseconds per batch): the best of ``repeats`` timed runs after a warm-up batch.

    The best run is the one least disturbed by other processes on a shared machine (as ``timeit`` reports).
    """
    run(items[:batch_size], batch_size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run(items, batch_size)
        best = min(best, time.perf_counter() - start)
    batches = -(-len(items) // batch_size)
    return len(items) / best, 1000 * best / batches


def cpu_pressure() -> str:
    """Linux PSI 'some avg60': the share of the last minute in which runnable tasks waited for a CPU."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "n/a"
    fields = dict(part.split("=", 1) for part in first.split()[1:])
    return f"{fields.get('avg60', '?')}%"


def measure(
    encoder: Any, images: list[Image.Image], texts: list[str], batch_sizes: list[int], repeats: int
) -> list[dict[str, Any]]:
    """One row per batch size: throughput of ``encode_image`` (if supported) and ``encode_text``."""
    rows = []
    for batch_size in batch_sizes:
        share = 1 if batch_size > 1 else 4  # batch 1 is slow: a quarter of the items
        row: dict[str, Any] = {"batch": batch_size, "dim": encoder.dim}
        if encoder.supports_images:
            subset = images[: max(batch_size, len(images) // share)]
            row["images_per_s"], row["ms_per_image_batch"] = throughput(
                lambda xs, b: encoder.encode_image(xs, batch_size=b, progress=False),
                subset,
                batch_size,
                repeats,
            )
        subset_texts = texts[: max(batch_size, len(texts) // share)]
        row["texts_per_s"], row["ms_per_text_batch"] = throughput(
            lambda xs, b: encoder.encode_text(xs, batch_size=b, progress=False),
            subset_texts,
            batch_size,
            repeats,
        )
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--encoders", default=",".join(ALL), help=f"comma-separated subset of {', '.join(ALL)}"
    )
    parser.add_argument(
        "--images", type=int, default=64, help="images per batch-32 run (a quarter at batch 1)"
    )
    parser.add_argument(
        "--texts", type=int, default=512, help="texts per batch-32 run (a quarter at batch 1)"
    )
    parser.add_argument("--batch-sizes", default="32,1", help="comma-separated batch sizes")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement; the best is kept")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when present, else CPU)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)

    import torch

    names = [name.strip() for name in args.encoders.split(",") if name.strip()]
    unknown = sorted(set(names) - set(ALL))
    if unknown:
        parser.error(f"unknown encoders {unknown}; choose from {', '.join(ALL)}")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    images, texts = make_images(args.images), make_texts(args.texts)

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), cuda={torch.cuda.is_available()}; "
        f"CPU pressure before (PSI some avg60): {cpu_pressure()}"
    )
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-encoders-") as tmp:
        for name in names:
            start = time.perf_counter()
            if name == "clip-vit-b-32":
                merges = SHARED_MERGES if SHARED_MERGES.is_file() else None
                directory = save_random_clip(Path(tmp) / "vit-b-32", "clip-vit-b-32", bpe_merges=merges)
                encoder = create_encoder(f"clip:{directory}", device=args.device)
            elif name == "e5-small":
                encoder = create_encoder(name)
            else:
                encoder = create_encoder(name, device=args.device)
            setup_s = time.perf_counter() - start
            for row in measure(encoder, images, texts, batch_sizes, args.repeats):
                rows.append({"encoder": name, "setup_s": round(setup_s, 2), **row})
                print(_format(rows[-1]), flush=True)

    print(f"# CPU pressure after (PSI some avg60): {cpu_pressure()}")
    print()
    print("| encoder | batch | dim | images/s | ms/batch (images) | texts/s | ms/batch (texts) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        cells = [row["encoder"], row["batch"], row["dim"], _num(row.get("images_per_s"))]
        cells += [
            _num(row.get("ms_per_image_batch")),
            _num(row["texts_per_s"]),
            _num(row["ms_per_text_batch"]),
        ]
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _format(row: dict[str, Any]) -> str:
    parts = [f"{row['encoder']:>14} b={row['batch']:<3}"]
    if "images_per_s" in row:
        parts.append(f"{row['images_per_s']:9.1f} images/s")
    parts.append(f"{row['texts_per_s']:9.1f} texts/s")
    return "  ".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
