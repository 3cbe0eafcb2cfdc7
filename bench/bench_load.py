"""Benchmark: a real ``memesearch serve`` under concurrent load from a second process.

Builds a seed index (``--seed-items`` generated pictures, encoder ``--model``), starts ``memesearch serve``
on 127.0.0.1 in a child process, and runs ``--clients`` concurrent clients for ``--seconds`` from this
process (:mod:`memesearch.serve.load`): text searches, image searches, uploads of new pictures and
deletes of a client's own uploads, mixed 45/25/20/10. Reports, per operation: requests, errors, p50 and
p99 latency; then checks that every upload kept answers with its item and file and every deleted one is
gone, stops the server (SIGTERM) and checks the index at rest (item count, every item's vector and file,
no unreferenced media file). Writes ``--out`` (JSON). Run by hand::

    nice -n 10 .venv/bin/python bench/bench_load.py --clients 20 --seconds 60

Exits 1 when any request failed or the index is not consistent afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from memesearch.index import Index
from memesearch.index.recovery import orphan_media
from memesearch.ingest import add_paths
from memesearch.serve.load import DEFAULT_MIX, check_after, run_load, start_server
from memesearch.utils.synthetic import shapes_image

TOKEN = "bench-load-token-0123456789"


def seed_index(root: Path, folder: Path, n: int, model: str) -> float:
    folder.mkdir(parents=True)
    for i in range(n):
        shapes_image(i, (64, 64)).save(folder / f"{i:04d}.png")
    t0 = time.perf_counter()
    with Index.create(root, model=model, ocr=False) as idx:
        add_paths(idx, [folder], workers=0)
    return time.perf_counter() - t0


def at_rest(root: Path) -> dict[str, Any]:
    with Index.open(root, readonly=True) as idx:
        ids, _ = idx.all_vectors("image")
        items = idx.items(ids.tolist())
        missing_files = [i.id for i in items.values() if idx.media_path(i.id) is None]
        uploads = sorted(i.id for i in items.values() if i.source == "upload")
        return {
            "items": len(idx),
            "image_vectors": int(ids.size),
            "items_without_file": len(missing_files),
            "unreferenced_media_files": len(orphan_media(root, idx.store)),
            "uploads": uploads,
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed-items", type=int, default=200)
    ap.add_argument("--model", default="tiny-clip:0", help="encoder of the seed index (default tiny-clip:0)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("docs/results/load.json"))
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        root = Path(tmp) / "idx"
        build_s = seed_index(root, Path(tmp) / "seed", args.seed_items, args.model)
        print(f"seed index: {args.seed_items} items ({args.model}) in {build_s:.1f} s", flush=True)
        server = start_server(root, token=TOKEN)
        try:
            print(f"server at {server.url}; {args.clients} clients for {args.seconds:g} s", flush=True)
            report = run_load(
                server.url, token=TOKEN, clients=args.clients, seconds=args.seconds, seed=args.seed
            )
            problems = check_after(server.url, report)
        finally:
            code = server.stop()
        rest = at_rest(root)

    kept, deleted = set(report.kept), set(report.deleted)
    consistent = (
        not problems
        and code == 0
        and rest["items"] == args.seed_items + len(kept)
        and rest["image_vectors"] == rest["items"]
        and rest["items_without_file"] == 0
        and rest["unreferenced_media_files"] == 0
        and set(rest["uploads"]) == kept
        and not (kept & deleted)
    )
    result = {
        "command": " ".join(["python", *sys.argv]),
        "model": args.model,
        "seed_items": args.seed_items,
        "mix": DEFAULT_MIX,
        **report.to_dict(),
        "after": {
            "server_exit_code": code,
            "problems": problems[:20],
            "items": rest["items"],
            "expected_items": args.seed_items + len(kept),
            "items_without_file": rest["items_without_file"],
            "unreferenced_media_files": rest["unreferenced_media_files"],
            "consistent": consistent,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"{'operation':<14}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for op, s in result["ops"].items():
        print(f"{op:<14}{s['count']:>9}{s['errors']:>8}{s['p50_ms']!s:>9}{s['p99_ms']!s:>9}")
    print(
        f"{result['requests']} requests ({result['requests_per_s']}/s), {result['errors']} errors; "
        f"consistent afterwards: {consistent}; wrote {args.out}"
    )
    for sample in report.error_samples[:5]:
        print("  error:", sample)
    return 0 if result["errors"] == 0 and consistent else 1


if __name__ == "__main__":
    sys.exit(main())
