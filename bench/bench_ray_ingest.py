"""Benchmark: the Ray engine of ingest vs the local engine on the same images and the same cores.

Issue 11 asks for one ratio from one run: ``memesearch index`` with ``--engine ray`` vs ``--engine local``
on 2,000 images, here on this machine's cores, with Ray's fixed overhead stated. Each measurement is one
``memesearch index LIST --index NEW --engine E --json`` in a fresh process, timed from here: what a user
waits for, imports, model loading and (for Ray) starting Ray's processes included. One process per
measurement also keeps a Ray instance that is still shutting down from slowing the next measurement (in
one process, local ingest of 2,000 images took 13.5 s right after a Ray run, 7.8 s before it):

* ``local`` and ``ray`` on ``--n`` images (default 2,000): images/s and their ratio;
* the same on ``--small`` images (default 32): Ray's fixed overhead is estimated as
  ``ray(small) - local(small)``, and each engine's marginal images/s as
  ``(n - small) / (seconds(n) - seconds(small))`` — what an extra image costs once Ray runs.

Ray starts a local instance (``--engine ray``) with all cores (1 encoder actor + decoding tasks). It listens
on every interface by default, so the whole benchmark re-runs itself inside a fresh network namespace that
has only ``lo`` (``unshare -n``; root or user namespaces), where nothing can reach or be reached from
outside; ``--no-netns`` runs it as it is (only where that is allowed).

Images: distinct files from ``--images DIR`` (e.g. the emoji benchmark's ``data/emoji/images``), else
generated 96-px pictures. Run by hand::

    nice -n 10 .venv/bin/python bench/bench_ray_ingest.py --images data/emoji/images --out build/ray.json
    nice -n 10 .venv/bin/python bench/bench_ray_ingest.py --quick              # 200 images
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}


# ---- a loopback-only network namespace ---------------------------------------------------------------
def only_loopback() -> bool:
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return [line.split(":", 1)[0].strip() for line in lines] == ["lo"]


def loopback_up() -> None:
    """``ip link set lo up`` (SIOCGIFFLAGS / SIOCSIFFLAGS), for a namespace made by ``unshare -n``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        got = fcntl.ioctl(s, 0x8913, struct.pack("16sh", b"lo", 0))
        flags = struct.unpack("16sh", got[:18])[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sh", b"lo", flags | 0x1))


def reexec_in_namespace(argv: list[str]) -> int:
    """Run this script again under ``unshare -n`` (Ray's auth token and temp files in a temp folder)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise SystemExit("no `unshare` (util-linux) to make a loopback-only namespace; see --no-netns")
    tmp = tempfile.mkdtemp(prefix="msray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    env = {**os.environ, "HOME": tmp, "RAY_TMPDIR": tmp, "MEMESEARCH_BENCH_NETNS": "1"}
    try:
        return subprocess.call([unshare, "-n", sys.executable, __file__, *argv], env=env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cpu_pressure() -> str:
    """Linux PSI 'some avg60': the share of the last minute in which runnable tasks waited for a CPU (other
    jobs on a shared machine slow multi-threaded torch most)."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "n/a"
    fields = dict(part.split("=", 1) for part in first.split()[1:])
    return f"{fields.get('avg60', '?')}%"


# ---- images ------------------------------------------------------------------------------------------
def image_files(folder: Path | None, n: int, tmp: Path) -> list[Path]:
    """``n`` files of distinct content from ``folder`` (spread over its sorted listing), else generated."""
    if folder is None:
        from memesearch.utils.synthetic import shapes_image

        out = tmp / "images"
        out.mkdir()
        for i in range(n):
            shapes_image(10_000 + i, (96, 96)).save(out / f"img_{i:05d}.png")
        return sorted(out.iterdir())
    from memesearch.utils.io import sha256_file

    seen: set[str] = set()
    unique: list[Path] = []
    for p in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        h = sha256_file(p)
        if h not in seen:
            seen.add(h)
            unique.append(p)
    if len(unique) < n:
        raise SystemExit(f"only {len(unique)} distinct images under {folder}; asked for {n}")
    step = len(unique) / n
    return [unique[int(i * step)] for i in range(n)]


# ---- one measurement ---------------------------------------------------------------------------------
def ingest(files: list[Path], engine_spec: str, model: str, ocr: bool, tmp: Path) -> dict[str, Any]:
    """``memesearch index`` of ``files`` into a new index with the engine, in a fresh process; seconds
    (wall, from here) and what its summary said."""
    folder = Path(tempfile.mkdtemp(prefix="idx-", dir=tmp))
    listing = folder / "files.jsonl"
    listing.write_text("".join(json.dumps({"path": str(f)}) + "\n" for f in files), encoding="utf-8")
    command = [sys.executable, "-m", "memesearch.cli.main", "index", str(listing), "--index"]
    command += [str(folder / "index"), "--model", model, "--ocr" if ocr else "--no-ocr"]
    command += ["--engine", engine_spec, "--json", "--no-progress"]
    try:
        time.sleep(5)  # what ran before has exited
        t0 = time.perf_counter()
        got = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if got.returncode != 0:
        raise SystemExit(f"{engine_spec}: exit {got.returncode}: {got.stderr[-2000:]}")
    summary = json.loads(got.stdout)
    if summary["failed"] or summary["indexed"] != len(files):
        failed = summary["failed"][:3]
        raise SystemExit(f"{engine_spec}: indexed {summary['indexed']} of {len(files)}: {failed}")
    engine = dict(summary["engine"])
    for key in ("decoders", "actors"):
        if key in engine:
            engine[key] = len(engine[key])
    return {
        "seconds": seconds,
        "images_per_s": len(files) / seconds,
        "stages": summary["stages"],
        "engine": engine,
    }


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=None, help="images (default 2,000; 200 with --quick)")
    parser.add_argument("--small", type=int, default=32, help="images of the small run (fixed overhead)")
    parser.add_argument("--images", type=Path, default=None, help="image folder (default: generated)")
    parser.add_argument("--model", default="starter", help="encoder of the index (default: starter)")
    parser.add_argument("--ocr", action="store_true", help="read text in images too (slow: RapidOCR)")
    parser.add_argument("--quick", action="store_true", help="200 images")
    parser.add_argument("--no-netns", action="store_true", help="do not enter a loopback-only namespace")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(args_list)
    if not args.no_netns and os.environ.get("MEMESEARCH_BENCH_NETNS") != "1":
        return reexec_in_namespace(args_list)
    if not args.no_netns:
        loopback_up()
        if not only_loopback():
            raise SystemExit("expected a namespace with only lo")
    n = args.n or (200 if args.quick else 2000)

    import torch

    cpus = os.cpu_count()
    print(
        f"# {platform.machine()}, {cpus} CPUs, torch {torch.__version__}; model {args.model}, "
        f"OCR {args.ocr}; {n} images (+ a {args.small}-image run); network namespace: {not args.no_netns}",
        flush=True,
    )
    pressure_before = cpu_pressure()
    results: dict[str, Any] = {"n": n, "small": args.small, "model": args.model, "ocr": args.ocr}
    results["cpus"] = cpus
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as name:
        tmp = Path(name)
        files = image_files(args.images, n, tmp)
        results["images"] = str(args.images or "generated 96-px PNG")
        runs: dict[str, dict[str, Any]] = {}
        for label, count in (("small", args.small), ("big", n)):
            for engine in ("local", "ray"):
                got = ingest(files[:count], engine, args.model, args.ocr, tmp)
                runs[f"{engine} {label}"] = got
                start = got["engine"].get("startup_s")
                print(
                    f"  {engine:<5} {count:>5} images: {got['seconds']:7.1f} s, "
                    f"{got['images_per_s']:7.1f} images/s"
                    + (f" (Ray start {start:.1f} s)" if start is not None else ""),
                    flush=True,
                )
    results["runs"] = runs
    results["cpu_pressure"] = {"before": pressure_before, "after": cpu_pressure()}
    lb, rb, ls, rs = (runs[k]["seconds"] for k in ("local big", "ray big", "local small", "ray small"))
    extra = n - args.small
    results["summary"] = {
        "ratio_ray_over_local_images_per_s": (n / rb) / (n / lb),
        "ray_fixed_overhead_s": rs - ls,
        "ray_start_s": runs["ray small"]["engine"].get("startup_s"),
        "local_marginal_images_per_s": extra / (lb - ls),
        "ray_marginal_images_per_s": extra / (rb - rs),
    }
    report(results)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


def report(r: dict[str, Any]) -> None:
    s, runs = r["summary"], r["runs"]
    print(f"\nRay vs local engine — {r['model']}, OCR {r['ocr']}, {r['images']}, {r['cpus']} CPUs")
    pressure = r["cpu_pressure"]
    print(f"CPU pressure (PSI some avg60) before / after: {pressure['before']} / {pressure['after']}")
    print("| run | images | seconds | images/s |\n|---|---:|---:|---:|")
    for name, run in runs.items():
        count = r["n"] if name.endswith("big") else r["small"]
        print(f"| {name} | {count} | {run['seconds']:.1f} | {run['images_per_s']:.1f} |")
    print(
        f"\nray / local images/s on {r['n']} images: **{s['ratio_ray_over_local_images_per_s']:.2f}**; "
        f"Ray's fixed overhead ≈ {s['ray_fixed_overhead_s']:.1f} s (of which starting Ray "
        f"{s['ray_start_s']:.1f} s); marginal images/s: local {s['local_marginal_images_per_s']:.1f}, "
        f"ray {s['ray_marginal_images_per_s']:.1f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
