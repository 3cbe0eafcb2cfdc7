"""Benchmark: ingest images/s end to end vs the raw encoder forward (OCR off) and vs raw RapidOCR (OCR on).

Issue 5 asks for two ratios, each measured in this one run on the same images and the same cores:

* **OCR off** (goal ≥ 0.85): ``Index.create(..., ocr=False)`` + ``add_paths(idx, files, workers=W)`` (hashing,
  decoding in W worker processes, embedding in batches, SQLite + FAISS writes, the final flush) in
  images/s, divided by the encoder's forward alone on the same images decoded in memory beforehand:
  ``encoder.encode_image(images, batch_size=B)`` and, for the ``starter`` model, ``encode_items`` (the
  call ingest makes: image tower + emotion gate). Zero-shot emotion tagging adds a second image forward
  and text encodings, so the ratio is given with ``emotions=True`` (the default) and ``emotions=False``.
* **OCR on** (goal ≥ 0.9): ingest with ``ocr=True`` in images/s, divided by raw RapidOCR images/s with
  the same cores: a pool of W processes that only run ``OCRReader(threads=1).read`` on images already
  decoded in each worker's memory. The images are meme-like pictures with an English caption, rendered
  here (256-512 px), since emoji carry no text.

Images for the OCR-off part: the emoji benchmark's images (``data/emoji/images/<style>/``; built with
``memesearch datasets build emoji --out data/emoji`` when missing) or ``--images DIR``; exact duplicates are
dropped so every file is one item. Each timing is the best of ``--repeats`` rounds; within a round the
raw and the ingest measurements alternate, so a busy machine slows both alike. Run by hand::

    .venv/bin/python bench/bench_ingest.py --quick                            # a minute or two
    .venv/bin/python bench/bench_ingest.py --out build/bench_ingest_starter.json
    .venv/bin/python bench/bench_ingest.py --model clip-vit-b-32 --part encoder --n 160

``clip-vit-b-32`` is a randomly initialised OpenAI CLIP ViT-B/32 saved to a temporary directory and loaded
as ``clip:<dir>`` (the real model's compute; no pretrained weights can be downloaded here).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
SHARED_MERGES = ROOT / ".." / "shared" / "data" / "tokenizers" / "clip-bpe" / "bpe_simple_vocab_16e6.txt.gz"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)
CAPTION_WORDS = (
    "when the code finally compiles me on monday morning nobody cares my face when boss says overtime "
    "again this is fine cat sleeping all day long waiting for the weekend coffee first then talk "
    "deadline tomorrow still not started when you see the bill that moment happy friday everyone "
    "mom said no why are you like this just one more episode never again"
)
WORDS = CAPTION_WORDS.split()


# ---- images ----------------------------------------------------------------------------------------
def emoji_files(root: Path, n: int) -> list[Path]:
    """``n`` distinct (by content) image files under ``root``, spread evenly over its sorted listing."""
    from memesearch.enrich.hashing import sha256_file

    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    seen: set[str] = set()
    unique: list[Path] = []
    for p in files:
        h = sha256_file(p)
        if h not in seen:
            seen.add(h)
            unique.append(p)
    if len(unique) < n:
        print(f"# only {len(unique)} distinct images under {root}; using all of them", flush=True)
        return unique
    step = len(unique) / n
    return [unique[int(i * step)] for i in range(n)]


def ensure_emoji(images: Path) -> None:
    """Build the emoji benchmark into ``data/emoji`` when the default image folder is missing."""
    if images.is_dir():
        return
    out = images.parent
    print(f"# {images} missing: building the emoji benchmark into {out}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "memesearch.cli.main", "datasets", "build", "emoji", "--out", str(out)],
        check=True,
    )


def _font(size: int) -> Any:
    for path in FONTS:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def render_memes(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` meme-like images (a smooth picture with shapes + a caption band of 2-6 English words).

    Sizes 256-512 px per side; PNG and JPEG alternate.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        w, h = (int(v) for v in rng.integers(256, 513, 2))
        base = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        img = Image.fromarray(base).resize((w, h), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(img)
        for _ in range(3):
            x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
            x1, y1 = x0 + int(rng.integers(30, w // 2)), y0 + int(rng.integers(30, h // 2))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        words = [WORDS[j] for j in rng.integers(0, len(WORDS), int(rng.integers(2, 7)))]
        caption = " ".join(words).upper()
        size = max(14, w // 14)
        font = _font(size)
        while draw.textlength(caption, font=font) > w - 16 and size > 12:
            size -= 2
            font = _font(size)
        band = size + 16
        top = 0 if rng.random() < 0.5 else h - band
        draw.rectangle((0, top, w, top + band), fill=(255, 255, 255))
        draw.text((8, top + 6), caption, fill=(0, 0, 0), font=font)
        path = folder / (f"meme_{i:04d}.png" if i % 2 == 0 else f"meme_{i:04d}.jpg")
        img.save(path, quality=90) if path.suffix == ".jpg" else img.save(path)
        out.append(path)
    return out


def decode_all(files: list[Path], max_frames: int, side: int) -> list[Image.Image]:
    """The frames ingest would give the encoder (decoded like ingest does, longest side ≤ ``side``)."""
    from memesearch.enrich.media import decode_media

    frames: list[Image.Image] = []
    for f in files:
        for frame in decode_media(str(f), max_frames=max_frames).frames:
            if max(frame.size) > side:
                frame = frame.copy()
                frame.thumbnail((side, side), Image.Resampling.BICUBIC)
            frames.append(frame)
    return frames


# ---- timing helpers --------------------------------------------------------------------------------
def cpu_pressure() -> str:
    """Linux PSI 'some avg60': the share of the last minute in which runnable tasks waited for a CPU."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "n/a"
    fields = dict(part.split("=", 1) for part in first.split()[1:])
    return f"{fields.get('avg60', '?')}%"


def cpu_seconds() -> float:
    """CPU seconds of this process and of its reaped children (worker pools count once shut down)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process and its children, result)."""
    t0, c0 = time.perf_counter(), cpu_seconds()
    out = fn()
    return time.perf_counter() - t0, cpu_seconds() - c0, out


class EncoderClock:
    """Adds up the wall time spent inside the encoder's public calls while active (instance patching).

    It splits an ingest run into time in the model and time around it (decoding, hashing, the
    database, FAISS, waiting for workers).
    """

    METHODS = ("encode_image", "encode_items", "encode_text")

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.seconds: dict[str, float] = {}

    def __enter__(self) -> EncoderClock:
        for name in self.METHODS:
            if hasattr(self.encoder, name):
                setattr(self.encoder, name, self._wrap(name, getattr(self.encoder, name)))
        return self

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

        return timed_call

    def __exit__(self, *exc: object) -> None:
        for name in self.METHODS:
            self.encoder.__dict__.pop(name, None)


def ingest_once(
    files: list[Path], encoder: Any, workers: int, tmp: Path, **settings: Any
) -> tuple[float, dict[str, Any]]:
    """Seconds for create + add_paths + close into a fresh index, and what the summary said (plus CPU
    seconds of this process and the workers, and the seconds spent inside encoder calls)."""
    from memesearch.index import Index
    from memesearch.ingest import add_paths

    folder = Path(tempfile.mkdtemp(prefix="idx-", dir=tmp))
    try:
        with EncoderClock(encoder) as clock:
            t0, c0 = time.perf_counter(), cpu_seconds()
            idx = Index.create(folder / "index", encoder=encoder, **settings)
            summary = add_paths(idx, files, workers=workers)
            stats = idx.stats()
            idx.close()
            seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if summary.failed or len(summary.indexed) != len(files):
        raise SystemExit(
            f"ingest indexed {len(summary.indexed)} of {len(files)} files; failures: "
            + "; ".join(f.message for f in summary.failed[:5])
        )
    info = {
        "indexed": len(summary.indexed),
        "items_with_ocr_text": stats.get("items_with_ocr_text", 0),
        "cpu_s": cpu,
        "encoder_s": dict(clock.seconds),
    }
    return seconds, info


# ---- raw OCR pool ------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _ocr_init(paths: list[str], min_score: float, ready: Any) -> None:
    from memesearch.enrich.media import decode_media
    from memesearch.enrich.ocr import OCRReader

    _WORKER["reader"] = OCRReader(min_score=min_score, threads=1)
    # the cover frame prepare() gives OCR, decoded here so that only OCR is timed
    _WORKER["images"] = [decode_media(p, max_frames=1).frames[0] for p in paths]
    _WORKER["reader"].read(_WORKER["images"][0])  # warm-up (first run allocates)
    ready.wait()  # no task runs before every worker is ready, so the timing starts with all of them


def _ocr_ready(_: int) -> int:
    return os.getpid()


def _ocr_one(i: int) -> tuple[int, float]:
    """(OCR lines of image ``i``, CPU seconds of the read)."""
    c0 = time.process_time()
    lines = len(_WORKER["reader"].read(_WORKER["images"][i]))
    return lines, time.process_time() - c0


def raw_ocr_pool(files: list[Path], workers: int, min_score: float) -> ProcessPoolExecutor:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_ocr_init,
        initargs=([str(f) for f in files], min_score, ctx.Barrier(workers)),
    )
    # one task per worker: each submit starts a process (none is idle yet); the barrier in the initializer
    # holds every worker until all are ready, so the timed map starts with all of them
    list(pool.map(_ocr_ready, range(workers)))
    return pool


# ---- the two parts -----------------------------------------------------------------------------------
def load_encoder(name: str, tmp: Path) -> Any:
    from memesearch.models import create_encoder, save_random_clip

    if name == "clip-vit-b-32":
        merges = SHARED_MERGES if SHARED_MERGES.is_file() else None
        directory = save_random_clip(tmp / "vit-b-32", "clip-vit-b-32", bpe_merges=merges)
        return create_encoder(f"clip:{directory}")
    return create_encoder(name)


class Runs:
    """The runs of each measurement; the fastest (wall) run of each is the one reported."""

    def __init__(self, n_images: int) -> None:
        self.n = n_images
        self.runs: dict[str, list[dict[str, Any]]] = {}

    def add(self, name: str, wall: float, cpu: float, **extra: Any) -> None:
        self.runs.setdefault(name, []).append({"wall_s": wall, "cpu_s": cpu, **extra})
        inside = extra.get("encoder_s")
        note = f", {sum(inside.values()):.1f} s in encoder calls" if inside else ""
        print(
            f"  {name:<28} {self.n / wall:8.2f} images/s ({wall:.1f} s wall, {cpu:.1f} s CPU{note})",
            flush=True,
        )

    def best(self, name: str) -> dict[str, Any]:
        return min(self.runs[name], key=lambda r: r["wall_s"])

    def ips(self, name: str) -> float:
        return self.n / self.best(name)["wall_s"]

    def ratio(self, ingest: str, raw: str) -> dict[str, float]:
        """Throughput ratio (best walls) and CPU-efficiency ratio (raw CPU s ÷ ingest CPU s, best runs)."""
        return {
            "throughput": self.ips(ingest) / self.ips(raw),
            "cpu": self.best(raw)["cpu_s"] / self.best(ingest)["cpu_s"],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            name: {"images_per_s": self.ips(name), **self.best(name), "runs": runs}
            for name, runs in self.runs.items()
        }


def part_encoder(args: argparse.Namespace, encoder: Any, tmp: Path) -> dict[str, Any]:
    from memesearch.index import IndexConfig

    cfg = IndexConfig()
    images_root = args.images or ROOT / "data" / "emoji" / "images"
    if args.images is None:
        ensure_emoji(images_root)
    files = emoji_files(images_root, args.n)
    side = max(4 * int(encoder.config.image_size or 64), 256)  # what ingest keeps per frame
    frames = decode_all(files, cfg.max_frames, side)
    batch = args.batch or cfg.batch_size
    sizes = sorted({im.size for im in frames})
    print(
        f"## OCR off: {len(files)} images from {images_root} ({len(frames)} frames, sizes {sizes[:3]}"
        f"{'...' if len(sizes) > 3 else ''}), encoder batch {batch}, {args.workers} ingest workers",
        flush=True,
    )
    # a one-off cost, shown apart: the emotion tagger embeds its prompts once per index session
    from memesearch.enrich.emotion import EmotionTagger

    tagger_s, _, _ = timed(lambda: EmotionTagger(encoder, top_k=cfg.emotion_top_k))
    encoder.encode_image(frames[:batch], batch_size=batch)  # warm-up
    has_items = hasattr(encoder, "encode_items")
    if has_items:
        encoder.encode_items(frames[:batch], None, batch_size=batch)
    runs = Runs(len(files))
    for _ in range(args.repeats):
        wall, cpu, _ = timed(lambda: encoder.encode_image(frames, batch_size=batch))
        runs.add("raw encode_image", wall, cpu)
        if has_items:
            wall, cpu, _ = timed(lambda: encoder.encode_items(frames, None, batch_size=batch))
            runs.add("raw encode_items", wall, cpu)
        for emotions in args.emotions:
            wall, got = ingest_once(files, encoder, args.workers, tmp, ocr=False, emotions=emotions)
            runs.add(f"ingest emotions={emotions}", wall, got.pop("cpu_s"), **got)
    ratios = {}
    for emotions in args.emotions:
        ratios[f"emotions={emotions} / encode_image"] = runs.ratio(
            f"ingest emotions={emotions}", "raw encode_image"
        )
        if has_items:
            ratios[f"emotions={emotions} / encode_items"] = runs.ratio(
                f"ingest emotions={emotions}", "raw encode_items"
            )
    return {
        "images": len(files),
        "frames": len(frames),
        "source": str(images_root),
        "batch": batch,
        "workers": args.workers,
        "measurements": runs.to_dict(),
        "ratios": ratios,
        "tagger_setup_s": tagger_s,
    }


def part_ocr(args: argparse.Namespace, encoder: Any, tmp: Path) -> dict[str, Any]:
    from memesearch.index import IndexConfig

    try:
        import memesearch.enrich.ocr  # noqa: F401
    except ImportError as exc:
        print(f"## OCR on: skipped ({exc})", flush=True)
        return {"skipped": str(exc)}
    cfg = IndexConfig()
    files = render_memes(tmp / "memes", args.ocr_images, seed=args.seed)
    print(
        f"## OCR on: {len(files)} rendered meme images (256-512 px, English captions), "
        f"{args.workers} workers for both ingest and raw OCR",
        flush=True,
    )
    runs = Runs(len(files))
    info: dict[str, Any] = {}
    for _ in range(args.repeats):
        pool = raw_ocr_pool(files, args.workers, cfg.ocr_min_score)
        try:
            t0 = time.perf_counter()
            got = list(pool.map(_ocr_one, range(len(files)), chunksize=1))
            wall = time.perf_counter() - t0
        finally:
            pool.shutdown()
        lines = [n for n, _ in got]
        info["raw_lines_per_image"] = float(np.mean(lines))
        info["raw_images_with_text"] = int(sum(1 for n in lines if n))
        runs.add("raw RapidOCR pool", wall, sum(c for _, c in got))
        for emotions in args.emotions:
            wall, out = ingest_once(files, encoder, args.workers, tmp, ocr=True, emotions=emotions)
            runs.add(f"ingest ocr emotions={emotions}", wall, out.pop("cpu_s"), **out)
    ratios = {
        f"emotions={e} / raw OCR": runs.ratio(f"ingest ocr emotions={e}", "raw RapidOCR pool")
        for e in args.emotions
    }
    return {
        "images": len(files),
        "workers": args.workers,
        "measurements": runs.to_dict(),
        "ratios": ratios,
        **info,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="starter", help="'starter', 'clip-vit-b-32' (random) or a registry name"
    )
    parser.add_argument("--images", type=Path, default=None, help="image folder (default: data/emoji/images)")
    parser.add_argument(
        "--n", type=int, default=None, help="images for the OCR-off part (default 1000; 128 quick)"
    )
    parser.add_argument(
        "--ocr-images", type=int, default=None, help="rendered images for OCR (200; 24 quick)"
    )
    parser.add_argument("--part", default="encoder,ocr", help="comma-separated: encoder, ocr")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="ingest / raw OCR processes")
    parser.add_argument("--batch", type=int, default=None, help="raw encoder batch (default: IndexConfig's)")
    parser.add_argument("--emotions", default="true,false", help="emotions settings to ingest with")
    parser.add_argument("--repeats", type=int, default=None, help="rounds; the best time of each is kept (3)")
    parser.add_argument("--quick", action="store_true", help="few images, one round")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    args.n = args.n or (128 if args.quick else 1000)
    args.ocr_images = args.ocr_images or (24 if args.quick else 200)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.emotions = [
        e.strip().lower() in ("true", "1", "on", "yes") for e in args.emotions.split(",") if e.strip()
    ]
    parts = {p.strip() for p in args.part.split(",") if p.strip()}
    if parts - {"encoder", "ocr"}:
        parser.error(f"unknown parts {sorted(parts - {'encoder', 'ocr'})}; choose from encoder, ocr")

    import torch

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); model {args.model}; "
        f"CPU pressure before (PSI some avg60): {cpu_pressure()}",
        flush=True,
    )
    results: dict[str, Any] = {
        "model": args.model,
        "cpus": os.cpu_count(),
        "cpu_pressure_before": cpu_pressure(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp_name:
        tmp = Path(tmp_name)
        encoder = load_encoder(args.model, tmp)
        if "encoder" in parts:
            results["ocr_off"] = part_encoder(args, encoder, tmp)
        if "ocr" in parts:
            results["ocr_on"] = part_ocr(args, encoder, tmp)
    results["cpu_pressure_after"] = cpu_pressure()
    report(results)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


def report(r: dict[str, Any]) -> None:
    print(f"\n# CPU pressure after (PSI some avg60): {r['cpu_pressure_after']}")
    for key, title, goal in (("ocr_off", "OCR off", "0.85"), ("ocr_on", "OCR on", "0.9")):
        part = r.get(key)
        if not part or "skipped" in part:
            continue
        extra = (
            f", emotion tagger setup {part['tagger_setup_s']:.1f} s once per run" if key == "ocr_off" else ""
        )
        print(f"\n{title} — {r['model']}, {part['images']} images, {part['workers']} workers{extra}")
        print("| measurement (best run) | images/s | wall s | CPU s | s in encoder calls |")
        print("|---|---:|---:|---:|---:|")
        for name, m in part["measurements"].items():
            inside = m.get("encoder_s")
            enc = " + ".join(f"{k} {v:.1f}" for k, v in inside.items()) if inside else "—"
            print(f"| {name} | {m['images_per_s']:.2f} | {m['wall_s']:.1f} | {m['cpu_s']:.1f} | {enc} |")
        print(f"\n| ratio | throughput (goal ≥ {goal}) | CPU efficiency |\n|---|---:|---:|")
        for name, ratio in part["ratios"].items():
            print(f"| ingest {name} | **{ratio['throughput']:.2f}** | {ratio['cpu']:.2f} |")
        if key == "ocr_on":
            print(
                f"raw OCR found text in {part['raw_images_with_text']}/{part['images']} images "
                f"({part['raw_lines_per_image']:.1f} lines each on average)"
            )


if __name__ == "__main__":
    raise SystemExit(main())
