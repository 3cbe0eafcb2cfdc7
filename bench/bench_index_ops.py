"""Benchmark: ``memesearch index check`` and ``memesearch index backup`` on an index of ``--n`` items, idle
and while another process writes (issue 16 item 5).

Builds an index of ``--n`` synthetic unit vectors of the encoder's dimension through ``Index.insert_vectors``
(FAISS, HNSW above ``--exact-below``), then measures:

* ``check_index`` (read-only) and ``backup_index`` on the idle index, seconds each;
* ``--writes-s`` seconds during which a second process adds batches of 50 vectors (saving after every
  other batch) and removes the oldest batch after every third, while this one takes backups back to back:
  backups taken, attempts they needed, seconds each, and whether each passed ``check_index`` and held whole
  batches only.

Run by hand::

    .venv/bin/python bench/bench_index_ops.py --n 100000 --out build/bench_index_ops.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

WRITER = """
import sys
from pathlib import Path
import numpy as np
from memesearch.index import Index

root, stop = sys.argv[1], Path(sys.argv[2])
idx = Index.open(root)
batches, s = {}, 0
while not stop.exists():
    v = np.random.default_rng(10_000 + s).normal(size=(50, idx.dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    batches[s] = idx.insert_vectors(v, source=f"w{s}", save_now=s % 2 == 0)
    if s % 3 == 2:
        idx.remove(batches.pop(min(batches)))
    s += 1
idx.close()
print(s)
"""


def build(root: Path, n: int, model: str, exact_below: int) -> float:
    from memesearch.index import Index
    from memesearch.index.vector_store import VectorConfig

    t0 = time.perf_counter()
    from memesearch.index.config import IndexConfig

    config = IndexConfig(model=model, vectors=VectorConfig(exact_below=exact_below))
    with Index.create(root, config=config) as idx:
        rng = np.random.default_rng(0)
        for start in range(0, n, 20_000):
            v = rng.normal(size=(min(20_000, n - start), idx.dim)).astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            idx.insert_vectors(v, source="base")
    return time.perf_counter() - t0


def whole_batches(out: Path) -> bool:
    import sqlite3

    with sqlite3.connect(out / "meta.sqlite") as conn:
        rows = conn.execute("SELECT source, COUNT(*) FROM items WHERE source LIKE 'w%' GROUP BY source")
        return all(int(c) == 50 for _, c in rows)


def main() -> None:
    from memesearch.index.backup import backup_index
    from memesearch.index.check import check_index

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--model", default="starter")
    ap.add_argument("--exact-below", type=int, default=10_000)
    ap.add_argument("--writes-s", type=float, default=60.0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-index-ops-"))
    result: dict[str, Any] = {"n": args.n, "model": args.model}
    try:
        src = tmp / "idx"
        result["build_s"] = round(build(src, args.n, args.model, args.exact_below), 2)
        t0 = time.perf_counter()
        report = check_index(src)
        result["check_s"] = round(time.perf_counter() - t0, 3)
        result["check_ok"] = report.ok
        t0 = time.perf_counter()
        backup_index(src, tmp / "idle-backup")
        result["backup_idle_s"] = round(time.perf_counter() - t0, 3)
        shutil.rmtree(tmp / "idle-backup")

        stop = tmp / "stop"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(src), str(stop)], env=env, stdout=subprocess.PIPE, text=True
        )
        time.sleep(5.0)  # the writer opens the index and starts writing
        seconds, attempts, passed = [], Counter[int](), 0
        deadline = time.monotonic() + args.writes_s
        k = 0
        while time.monotonic() < deadline:
            out = tmp / f"b{k}"
            t0 = time.perf_counter()
            rep = backup_index(src, out)
            seconds.append(time.perf_counter() - t0)
            attempts[rep.attempts] += 1
            passed += int(check_index(out).ok and whole_batches(out))
            shutil.rmtree(out)
            k += 1
        stop.touch()
        steps = int((writer.communicate(timeout=600)[0] or "0").strip() or 0)
        result["under_writes"] = {
            "seconds": args.writes_s,
            "writer_batches": steps,
            "backups": k,
            "passed_check_and_whole_batches": passed,
            "attempts_histogram": dict(sorted(attempts.items())),
            "backup_s_p50": round(float(np.percentile(seconds, 50)), 3) if seconds else None,
            "backup_s_max": round(max(seconds), 3) if seconds else None,
        }
        result["check_after_writes_ok"] = check_index(src).ok
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
