"""Benchmark: ``memesearch search`` in a terminal, cold (process start to printed results), before/after
the fast query path of issue 15; and ingest images/s with the starter tower on ONNX vs torch.

What one run measures, on the same index and cores:

* **CLI cold search** — ``python -m memesearch search QUERY --index IDX`` as a new process each time,
  wall seconds from ``Popen`` to exit (the table printed to a pipe), median of ``--runs`` (10) and the
  CPU seconds the process used (user + sys, robust when other jobs share the cores). Three variants:
  ``before`` — the source tree of ``--before-ref`` (default: the commit this work started from), exported
  with ``git archive`` and run with the same Python: torch imported, the emotion prompts embedded in every
  process; ``after`` — this tree (no torch for a text query; images through ONNX); ``server`` — this tree
  with ``--server URL`` against a ``memesearch serve`` on 127.0.0.1 started once (the index and model
  loaded there). For text queries and for an image query (``--image``).
* **Ingest** — ``memesearch index MANIFEST --index NEW --no-ocr`` in a new process with
  ``MEMESEARCH_IMAGE_RUNTIME=onnx`` and ``=torch``: images/s of the whole run and of its ``embed`` stage
  (from ``--json``), and the encoder alone (``encode_items`` on decoded images, best of 3) for both.

The index: ``--n`` (3,000) emoji of the google and twitter styles from the emoji benchmark
(``data/emoji``, built offline with ``memesearch datasets build emoji --out data/emoji``), every other one
with its captions and emotion words (a sticker folder where some stickers carry text), built once with the
default (ONNX) runtime. A private cache folder (``MEMESEARCH_CACHE_DIR``) holds the ONNX file, the prompt
vectors, the passage tokens and jieba's dictionary copy; two first ``after`` runs (an English and a Chinese
query) write them and are reported apart from the medians.

Run by hand (a few minutes on 2 cores)::

    .venv/bin/python bench/bench_cli_search.py
    .venv/bin/python bench/bench_cli_search.py --runs 5 --n 2000 --out build/bench_cli_search.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: the commit the fast query path started from (torch on every search, prompts embedded per process)
BEFORE_REF = "62df729"
QUERIES = [
    "so sleepy",
    "开心",
    "pizza party",
    "生气了",
    "thank you",
    "love you",
    "monday",
    "哭了",
    "cat",
    "ok",
]


def build_manifest(dataset: Path, n: int, out: Path) -> Path:
    """A JSONL list of ``n`` emoji (google, twitter; train and val): every other one with its captions."""
    rows: list[dict[str, Any]] = []
    for split in ("train", "val"):
        for line in (dataset / split / "items.jsonl").read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            if item.get("source") in ("google", "twitter"):
                rows.append(item)
    rows = rows[:n]
    with out.open("w", encoding="utf-8") as fh:
        for i, item in enumerate(rows):
            row: dict[str, Any] = {"path": str((dataset / item["path"]).resolve())}
            if i % 2 == 0:
                row["captions"] = item.get("captions", [])
                row["emotions"] = item.get("emotions") or []
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return out


def env_for(src: Path, cache: Path, runtime: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src)
    env["MEMESEARCH_CACHE_DIR"] = str(cache)
    env.pop("MEMESEARCH_TOKEN", None)
    env.pop("MEMESEARCH_IMAGE_RUNTIME", None)
    if runtime:
        env["MEMESEARCH_IMAGE_RUNTIME"] = runtime
    return env


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """``(wall s, CPU s, stdout)`` of one process run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def searches(args: list[str], env: dict[str, str], runs: int, label: str) -> dict[str, Any]:
    """``runs`` cold searches (a different query each run for text; ``{q}`` in ``args`` is replaced)."""
    walls, cpus = [], []
    for i in range(runs):
        query = QUERIES[i % len(QUERIES)]
        command = [sys.executable, "-m", "memesearch", "search", *[a.replace("{q}", query) for a in args]]
        wall, cpu, out = timed(command, env)
        assert out.strip(), f"{label}: nothing printed"
        walls.append(wall)
        cpus.append(cpu)
    result = {
        "runs": runs,
        "median_s": round(statistics.median(walls), 3),
        "min_s": round(min(walls), 3),
        "median_cpu_s": round(statistics.median(cpus), 3),
        "walls_s": [round(w, 3) for w in walls],
    }
    print(f"  {label:<28} median {result['median_s']:.3f} s  (min {result['min_s']:.3f} s, CPU "
          f"{result['median_cpu_s']:.3f} s)", flush=True)  # fmt: skip
    return result


def export_tree(ref: str, out: Path) -> Path:
    """The ``src`` folder of ``ref`` (git archive into ``out``)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], capture_output=True, check=True)
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out / "src"


def start_server(index: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "memesearch", "serve", "--index", str(index), "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("memesearch serve exited") from None
            time.sleep(0.3)
    # one search loads the server's caches (as a running server has them)
    with urllib.request.urlopen(f"{url}/api/search?q=warm&k=1", timeout=120):
        pass
    return proc, url


def ingest(manifest: Path, workdir: Path, env: dict[str, str], name: str) -> dict[str, Any]:
    index = workdir / f"ingest-{name}.idx"
    command = [sys.executable, "-m", "memesearch", "index", str(manifest), "--index", str(index), "--no-ocr",
               "--json", "--no-progress"]  # fmt: skip
    wall, cpu, out = timed(command, env)
    summary = json.loads(out)
    indexed = int(summary.get("indexed", 0))
    embed = summary.get("stages", {}).get("embed", {})
    shutil.rmtree(index, ignore_errors=True)
    return {
        "images": indexed,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "images_per_s": round(indexed / wall, 1),
        "embed_images_per_s": round(float(embed.get("items_per_s", 0.0)), 1),
    }


def encoder_rate(manifest: Path, cache: Path, runtime: str, n: int = 1024) -> float:
    """``encode_items`` images/s on decoded images (best of 3), in a fresh process for the runtime."""
    code = f"""
import json, time
from memesearch.models import create_encoder
from memesearch.models.encoders.images import load_image
rows = [json.loads(l) for l in open({str(manifest)!r}, encoding="utf-8")][:{n}]
images = [load_image(r["path"]) for r in rows]
emotions = [r.get("emotions") or [] for r in rows]
enc = create_encoder("starter")
enc.encode_items(images[:64], emotions[:64])
best = 0.0
for _ in range(3):
    t = time.perf_counter()
    enc.encode_items(images, emotions)
    best = max(best, len(images) / (time.perf_counter() - t))
assert enc.image_runtime == {runtime!r}, enc.image_runtime
print(best)
"""
    out = subprocess.run([sys.executable, "-c", code], env=env_for(ROOT / "src", cache, runtime),
                         capture_output=True, text=True, check=True, timeout=600)  # fmt: skip
    return round(float(out.stdout.strip().splitlines()[-1]), 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "emoji", help="the emoji benchmark")
    parser.add_argument("--n", type=int, default=3000, help="items in the index")
    parser.add_argument("--runs", type=int, default=10, help="cold searches per variant")
    parser.add_argument("--before-ref", default=BEFORE_REF, help="git ref of the 'before' source tree")
    parser.add_argument("--skip-ingest", action="store_true", help="only the CLI timings")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    if not (args.dataset / "dataset.json").is_file():
        sys.exit(
            f"no emoji benchmark at {args.dataset}: memesearch datasets build emoji --out {args.dataset}"
        )

    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        "before_ref": args.before_ref,
    }
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        work = Path(tmp)
        cache = work / "cache"
        manifest = build_manifest(args.dataset, args.n, work / "stickers.jsonl")
        index = work / "stickers.idx"
        env_after = env_for(ROOT / "src", cache)
        print(f"# building the index of {args.n} emoji (half with captions)", flush=True)
        build = [sys.executable, "-m", "memesearch", "index", str(manifest), "--index", str(index),
                 "--no-ocr", "--json", "--no-progress"]  # fmt: skip
        wall, _, out = timed(build, env_after)
        results["index"] = {"items": json.loads(out)["indexed"], "build_s": round(wall, 1)}
        before_src = export_tree(args.before_ref, work / "before")
        env_before = env_for(before_src, cache)
        # the before tree gets its own copy of the index, built by itself: settings added since (e.g. the
        # frame pooling of animated items) are unknown to it and it refuses an index that records them
        index_before = work / "stickers-before.idx"
        build_before = [a if a != str(index) else str(index_before) for a in build]
        wall_before, _, _ = timed(build_before, env_before)
        results["index"]["build_before_s"] = round(wall_before, 1)
        query_image = json.loads(manifest.read_text(encoding="utf-8").splitlines()[1])["path"]

        print(f"# CLI cold search, {args.runs} runs each (process start to printed results)", flush=True)
        text_args, image_args = (
            ["{q}", "--index", str(index)],
            ["--image", query_image, "--index", str(index)],
        )
        text_args_before = ["{q}", "--index", str(index_before)]
        image_args_before = ["--image", query_image, "--index", str(index_before)]
        # the first runs write the caches: emotion prompt vectors, passage tokens (English query), jieba's
        # dictionary copy (Chinese query); reported apart
        firsts = []
        for query in ("first", "第一"):
            first = [sys.executable, "-m", "memesearch", "search", query, "--index", str(index)]
            firsts.append(round(timed(first, env_after)[0], 3))
        results["after_first_runs_s"] = firsts
        print(f"  after, first runs (write the caches; en, zh): {firsts} s", flush=True)
        cli = {
            "text_before": searches(text_args_before, env_before, args.runs, "text, before (torch)"),
            "text_after": searches(text_args, env_after, args.runs, "text, after"),
            "image_before": searches(image_args_before, env_before, args.runs, "image, before (torch)"),
            "image_after": searches(image_args, env_after, args.runs, "image, after (onnx)"),
        }
        server, url = start_server(index, env_after)
        try:
            cli["text_server"] = searches(["{q}", "--server", url], env_after, args.runs, "text, --server")
            cli["image_server"] = searches(["--image", query_image, "--server", url], env_after, args.runs,
                                           "image, --server")  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=30)
        for kind in ("text", "image"):
            cli[f"{kind}_ratio_after_over_before"] = round(
                cli[f"{kind}_after"]["median_s"] / cli[f"{kind}_before"]["median_s"], 3
            )
            print(f"  {kind}: after / before = {cli[f'{kind}_ratio_after_over_before']:.3f}", flush=True)
        results["cli"] = cli

        if not args.skip_ingest:
            print("# ingest, OCR off, ONNX vs torch tower (new index each)", flush=True)
            ing = {
                "onnx": ingest(manifest, work, env_for(ROOT / "src", cache, "onnx"), "onnx"),
                "torch": ingest(manifest, work, env_for(ROOT / "src", cache, "torch"), "torch"),
                "encoder_onnx_images_per_s": encoder_rate(manifest, cache, "onnx"),
                "encoder_torch_images_per_s": encoder_rate(manifest, cache, "torch"),
            }
            ing["ratio_ingest_onnx_over_torch"] = round(
                ing["onnx"]["images_per_s"] / ing["torch"]["images_per_s"], 3
            )
            ing["ratio_encoder_onnx_over_torch"] = round(
                ing["encoder_onnx_images_per_s"] / ing["encoder_torch_images_per_s"], 3
            )
            for name in ("onnx", "torch"):
                r = ing[name]
                print(f"  ingest {name:<5} {r['images_per_s']:7.1f} images/s ({r['images']} in {r['wall_s']} "
                      f"s; embed stage {r['embed_images_per_s']} images/s)", flush=True)  # fmt: skip
            print(f"  encode_items onnx {ing['encoder_onnx_images_per_s']} vs torch "
                  f"{ing['encoder_torch_images_per_s']} images/s", flush=True)  # fmt: skip
            print(f"  ratios onnx / torch: ingest {ing['ratio_ingest_onnx_over_torch']}, encoder "
                  f"{ing['ratio_encoder_onnx_over_torch']}", flush=True)  # fmt: skip
            results["ingest"] = ing
    results["machine"]["load_after"] = os.getloadavg()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
