"""Benchmark: bytes on disk per item of an index, for each vector store (issue 11 item 4).

Builds an index of ``--n`` synthetic unit vectors of the encoder's dimension (384 for ``starter``) through
``Index.insert_vectors`` — the same SQLite transactions and vector-store path files go through — closes it,
and measures the bytes the index folder really takes on disk (``st_blocks``, every file: ``meta.sqlite``
and any WAL, ``vectors/``), per store:

* ``faiss-flat`` — FAISS ``IndexFlatIP`` (``exact_below`` above ``--n``);
* ``faiss-hnsw`` — FAISS HNSW, M 32 (``exact_below`` 1,000);
* ``milvus-lite`` — ``vectors/milvus.db`` (``exact_below`` 1,000: HNSW); skipped with ``--no-milvus``.

Reported per store: MiB in SQLite, MiB in the vector store, bytes per item, and the ratio of the total to
the raw vector bytes (``n × dim × 4``). It only uses ``Index.create``/``insert_vectors``/``close``, so the
same script measures another checkout (``PYTHONPATH=/path/to/src``) for a before/after. Run by hand::

    .venv/bin/python bench/bench_index_disk.py --n 100000 --out build/bench_index_disk.json
    PYTHONPATH=../main/src .venv/bin/python bench/bench_index_disk.py --n 100000   # the layout before
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

STORES: dict[str, tuple[str, int | None]] = {  # name -> (vector_store spec, exact_below; None = above n)
    "faiss-flat": ("faiss", None),
    "faiss-hnsw": ("faiss", 1_000),
    "milvus-lite": ("milvus", 1_000),
}


def disk_bytes(path: Path) -> int:
    """Bytes the files under ``path`` take on disk (allocated blocks, not apparent sizes)."""
    if path.is_file():
        return os.stat(path).st_blocks * 512
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            total += os.stat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def measure(store: str, n: int, model: str, seed: int, chunk: int) -> dict[str, Any]:
    from memesearch.index import Index

    spec, exact_below = STORES[store]
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-disk-{store}-"))
    try:
        root = tmp / "idx"
        vectors = {"exact_below": exact_below if exact_below is not None else n + 1}
        idx = Index.create(root, model=model, ocr=False, vector_store=spec, vectors=vectors)
        v = np.random.default_rng(seed).standard_normal((n, idx.dim), dtype=np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        t0 = time.perf_counter()
        idx.insert_vectors(v, chunk=chunk)  # one save at the end, as in bench_index.py
        dim = idx.dim
        del v
        idx.close()
        seconds = time.perf_counter() - t0
        sqlite = sum(disk_bytes(p) for p in root.glob("meta.sqlite*"))
        vec = disk_bytes(root / "vectors")
        total = disk_bytes(root)
        raw = n * dim * 4
        return {
            "store": store,
            "n": n,
            "dim": dim,
            "sqlite_bytes": sqlite,
            "vector_store_bytes": vec,
            "total_bytes": total,
            "bytes_per_item": total / n,
            "raw_vector_bytes": raw,
            "ratio_to_raw": total / raw,
            "build_s": round(seconds, 1),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=100_000, help="items (default 100,000)")
    parser.add_argument("--milvus-n", type=int, default=None, help="items for milvus-lite (default --n)")
    parser.add_argument("--model", default="starter", help="encoder of the index (its dimension is used)")
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated: " + ", ".join(STORES))
    parser.add_argument("--chunk", type=int, default=10_000, help="vectors per insert_vectors call")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", default="", help="a name for this run in the table (e.g. before/after)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    rows = []
    for store in [s.strip() for s in args.stores.split(",") if s.strip()]:
        n = args.milvus_n if store == "milvus-lite" and args.milvus_n else args.n
        rows.append(measure(store, n, args.model, args.seed, args.chunk))
        print(json.dumps(rows[-1]), flush=True)
    print()
    print(
        f"| store {args.label} | items × dim | SQLite MiB | vector store MiB | bytes / item | × raw vectors |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['store']} | {r['n']:,} × {r['dim']} | {r['sqlite_bytes'] / 2**20:,.1f} | "
            f"{r['vector_store_bytes'] / 2**20:,.1f} | {r['bytes_per_item']:,.0f} | {r['ratio_to_raw']:.2f} |"
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"label": args.label, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
