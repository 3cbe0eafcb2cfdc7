"""Benchmark: the index stores side by side at 1,000,000 items (issue 11) — build, recall, latency, writes.

One run, the same clustered synthetic unit vectors (``bench_index.clustered_vectors``) for every engine:

* ``raw``    — raw FAISS ``IndexIDMap2(IndexHNSWFlat(d, M, IP))``, ``add_with_ids`` (the baseline);
* ``faiss``  — a memesearch index with the FAISS store (``Index.create(vector_store="faiss")``);
* ``milvus`` — a memesearch index with a milvus-lite store (``vector_store="milvus"``, HNSW, same M / efC).

For each: **build** (``Index.insert_vectors`` in chunks, one SQLite transaction each, final save, vs raw
``add_with_ids``; seconds and items/s; disk bytes per item of the closed folder), **reopen** seconds,
**recall@10** of the vector store vs exact inner-product search (``faiss.knn``) on ``--recall-queries``
vectors from the item distribution, **vector search latency** (one query vector at a time, k=10, p50/p99),
**search latency** through ``Searcher.search`` (query encoding included; the raw baseline is encode + raw
search) and **a write at 1M, then the first search**: ``--rounds`` times, add ``--write-n`` items to the
open index (what an upload through ``memesearch serve`` does: rows, vectors, a save only when due —
``Index.save_if_due``) and time the write
and the search that follows it, against the steady-state search latency. Ratios are against raw FAISS from
this same run. Run by hand (tens of minutes at 1M; milvus-lite inserts ~1k rows/s here)::

    .venv/bin/python bench/bench_scale.py --out build/bench_scale.json                 # 1,000,000 items
    .venv/bin/python bench/bench_scale.py --n 50000 --engines raw,faiss,milvus         # a few minutes
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_index import (
    clustered_vectors,
    cpu_pressure,
    percentiles,
    query_texts,
    raw_index,
    recall_at,
    unit,
)
from bench_index_disk import disk_bytes

ENGINES = ("raw", "faiss", "milvus")


def timed_queries(fn: Any, items: Any) -> dict[str, float]:
    ms: list[float] = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        ms.append((time.perf_counter() - t) * 1000)
    return percentiles(ms)


def bench_raw(
    args: argparse.Namespace, vecs: np.ndarray, extra: np.ndarray, ctx: dict[str, Any]
) -> dict[str, Any]:
    import faiss

    out: dict[str, Any] = {}
    n = vecs.shape[0]
    raw = raw_index("hnsw", vecs.shape[1], args.m, args.ef_construction, args.ef_search)
    t, c = time.perf_counter(), time.process_time()
    raw.add_with_ids(vecs, np.arange(1, n + 1, dtype=np.int64))
    out["build_s"] = time.perf_counter() - t
    out["build_cpu_s"] = time.process_time() - c
    path = ctx["work"] / "raw.faiss"
    t = time.perf_counter()
    faiss.write_index(raw, str(path))
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    out["write_s"] = time.perf_counter() - t
    out["disk_bytes_per_item"] = disk_bytes(path) / n
    t = time.perf_counter()
    raw = faiss.read_index(str(path))
    faiss.ParameterSpace().set_index_parameter(raw, "efSearch", args.ef_search)
    out["reopen_s"] = time.perf_counter() - t
    path.unlink()
    _, found = raw.search(ctx["qvecs"], args.k)
    out["recall"] = recall_at(found, ctx["truth"])
    out["vector_search"] = timed_queries(
        lambda v: raw.search(v[None, :], args.k), ctx["qvecs"][: args.latency_queries]
    )
    enc = ctx["encoder"]
    texts = ctx["texts"]
    for q in texts[:5]:
        raw.search(enc.encode_text([q], kind="query"), args.k)
    out["search"] = timed_queries(
        lambda q: raw.search(enc.encode_text([q], kind="query"), args.k), texts[5 : 5 + args.queries]
    )
    writes, firsts = [], []
    next_id = n + 1
    for r in range(args.rounds):
        part = extra[r * args.write_n : (r + 1) * args.write_n]
        t = time.perf_counter()
        raw.add_with_ids(part, np.arange(next_id, next_id + len(part), dtype=np.int64))
        writes.append((time.perf_counter() - t) * 1000)
        next_id += len(part)
        q = texts[-(r + 1)]
        t = time.perf_counter()
        raw.search(enc.encode_text([q], kind="query"), args.k)
        firsts.append((time.perf_counter() - t) * 1000)
    out["write_then_search"] = {"write_ms": percentiles(writes), "first_search_ms": percentiles(firsts)}
    return out


def bench_index(
    engine: str, args: argparse.Namespace, vecs: np.ndarray, extra: np.ndarray, ctx: dict[str, Any]
) -> dict[str, Any]:
    from memesearch.index import Index
    from memesearch.search import Searcher

    out: dict[str, Any] = {}
    n = vecs.shape[0]
    root = ctx["work"] / f"index-{engine}"
    vectors = {
        "exact_below": args.exact_below,
        "hnsw_m": args.m,
        "ef_construction": args.ef_construction,
        "ef_search": args.ef_search,
    }
    idx = Index.create(root, encoder=ctx["encoder"], ocr=False, vector_store=engine, vectors=vectors)
    t, c = time.perf_counter(), time.process_time()
    idx.insert_vectors(vecs, chunk=args.chunk, progress=True)
    out["build_s"] = time.perf_counter() - t
    out["build_cpu_s"] = time.process_time() - c  # this process's threads (not milvus-lite's server process)
    out["store_kind"] = idx.vector_store("image").kind
    idx.close()
    out["disk_bytes_per_item"] = disk_bytes(root) / n
    t = time.perf_counter()
    idx = Index.open(root, encoder=ctx["encoder"])
    out["reopen_s"] = time.perf_counter() - t
    vs = idx.vector_store("image")
    found = np.concatenate(
        [vs.search(ctx["qvecs"][i : i + 100], args.k)[1] for i in range(0, len(ctx["qvecs"]), 100)]
    )
    out["recall"] = recall_at(found, ctx["truth"])
    out["vector_search"] = timed_queries(
        lambda v: vs.search(v[None, :], args.k), ctx["qvecs"][: args.latency_queries]
    )
    searcher = Searcher(idx)
    texts = ctx["texts"]
    t = time.perf_counter()
    searcher.search(texts[0], k=args.k)
    out["first_search_after_open_ms"] = (time.perf_counter() - t) * 1000
    for q in texts[1:5]:
        searcher.search(q, k=args.k)
    out["search"] = timed_queries(lambda q: searcher.search(q, k=args.k), texts[5 : 5 + args.queries])
    writes, firsts, seconds = [], [], []
    for r in range(args.rounds):
        part = extra[r * args.write_n : (r + 1) * args.write_n]
        t = time.perf_counter()
        idx.insert_vectors(part, chunk=args.chunk, save_now=False)  # saved when due, as an upload
        writes.append((time.perf_counter() - t) * 1000)
        for bucket, q in ((firsts, texts[-(2 * r + 1)]), (seconds, texts[-(2 * r + 2)])):
            t = time.perf_counter()
            resp = searcher.search(q, k=args.k)
            bucket.append((time.perf_counter() - t) * 1000)
            assert len(resp.hits) == args.k
    out["write_then_search"] = {
        "write_ms": percentiles(writes),
        "first_search_ms": percentiles(firsts),
        "second_search_ms": percentiles(seconds),
    }
    idx.close()
    shutil.rmtree(root, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated: " + ", ".join(ENGINES))
    parser.add_argument("--model", default="starter", help="encoder of the indexes and the queries")
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--noise", type=float, default=0.75)
    parser.add_argument("--recall-queries", type=int, default=1000)
    parser.add_argument("--latency-queries", type=int, default=200, help="vectors timed one at a time")
    parser.add_argument("--queries", type=int, default=100, help="text queries timed through the searcher")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--ef-search", type=int, default=128)
    parser.add_argument("--exact-below", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5, help="write-then-search rounds")
    parser.add_argument("--write-n", type=int, default=10, help="items per write (an upload of a few images)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    bad = [e for e in engines if e not in ENGINES]
    if bad:
        parser.error(f"unknown engine(s) {bad}; choose from {', '.join(ENGINES)}")

    import faiss
    import torch

    from memesearch.models import create_encoder

    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, faiss {faiss.__version__}, "
        f"torch {torch.__version__}; "
        f"CPU pressure (PSI avg60): {cpu_pressure()}",
        flush=True,
    )
    encoder = create_encoder(args.model)
    dim = int(encoder.dim)
    rng = np.random.default_rng(args.seed)
    centres = unit(rng.standard_normal((args.clusters, dim), dtype=np.float32))
    vecs = clustered_vectors(args.n, dim, centres, args.noise, args.seed + 1)
    extra = clustered_vectors(args.rounds * args.write_n, dim, centres, args.noise, args.seed + 3)
    qvecs = clustered_vectors(args.recall_queries, dim, centres, args.noise, args.seed + 2)
    t = time.perf_counter()
    _, pos = faiss.knn(qvecs, vecs, args.k, metric=faiss.METRIC_INNER_PRODUCT)
    print(f"exact top-{args.k} of {len(qvecs)} queries in {time.perf_counter() - t:.1f} s", flush=True)
    own_tmp = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="bench-scale-")) if own_tmp else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    ctx = {
        "encoder": encoder,
        "qvecs": qvecs,
        "truth": pos + 1,  # ids / rowids are 1..n in insertion order
        "texts": query_texts(args.queries + 5 + 2 * args.rounds, args.seed),
        "work": work,
    }
    results: dict[str, Any] = {"n": args.n, "dim": dim, "args": {k: str(v) for k, v in vars(args).items()}}
    try:
        for engine in engines:
            print(f"== {engine}", flush=True)
            t = time.perf_counter()
            if engine == "raw":
                results[engine] = bench_raw(args, vecs, extra, ctx)
            else:
                results[engine] = bench_index(engine, args, vecs, extra, ctx)
            results[engine]["wall_s"] = time.perf_counter() - t
            print(json.dumps(results[engine], indent=1), flush=True)
            gc.collect()
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)
    results["cpu_pressure_after"] = cpu_pressure()
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report(results, engines)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


def report(r: dict[str, Any], engines: list[str]) -> None:
    base = r.get("raw")
    print(f"\n{r['n']:,} items x {r['dim']}; ratios vs raw FAISS HNSW of this run")
    print(
        "| engine | build s (×raw) | build CPU s (×raw) | bytes/item | reopen s | recall@10 "
        "| vector p50/p99 ms | search p50/p99 ms (×raw p50) | write ms p50 "
        "| first search after write p50/max ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for e in engines:
        x = r[e]
        bx = f" ({x['build_s'] / base['build_s']:.2f}×)" if base and e != "raw" else ""
        cpu = x.get("build_cpu_s", float("nan"))
        cx = f" ({cpu / base['build_cpu_s']:.2f}×)" if base and e != "raw" and "build_cpu_s" in base else ""
        sx = f" ({x['search']['p50_ms'] / base['search']['p50_ms']:.2f}×)" if base and e != "raw" else ""
        w = x["write_then_search"]
        print(
            f"| {e} | {x['build_s']:.0f}{bx} | {cpu:.0f}{cx} | "
            f"{x['disk_bytes_per_item']:,.0f} | {x['reopen_s']:.1f} | "
            f"{x['recall']:.4f} | {x['vector_search']['p50_ms']:.2f} / {x['vector_search']['p99_ms']:.2f} | "
            f"{x['search']['p50_ms']:.1f} / {x['search']['p99_ms']:.1f}{sx} | "
            f"{w['write_ms']['p50_ms']:.0f} | "
            f"{w['first_search_ms']['p50_ms']:.1f} / {max(w['first_search_ms']['p99_ms'], 0):.1f} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
