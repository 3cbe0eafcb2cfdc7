"""Benchmark: RAM-bound vector indexes for 10M-100M items — quantised FAISS indexes with exact re-ranking.

At 384 float32 dimensions a vector is 1,536 bytes; HNSW adds ~M·2·4 bytes of graph. At 100M items that is
~160 GB of RAM for HNSW-Flat, more than one machine. The quantised alternatives keep a compressed code per
vector in RAM and re-rank a short list exactly from full vectors kept on disk (SQLite or the store file):

* ``hnsw``        — IndexHNSWFlat (what memesearch uses above ``exact_below``; the reference);
* ``hnsw_sq8``    — IndexHNSWSQ (8-bit scalar quantiser, 384 B/vector) + exact re-rank of the top R;
* ``ivf_pq``      — IndexIVFPQ (nlist = 4·√N, m = 48 sub-quantisers × 8 bits = 48 B/vector, nprobe) + exact
  re-rank of the top R;

Measured in this one run on the same clustered unit vectors (``bench_index.clustered_vectors``: centres on
the sphere + noise, the distribution the 1M latency bench uses): recall@10 against exact inner-product
search (``faiss.knn``), with and without re-ranking; search p50 per query (single thread); code bytes per
vector in RAM (``faiss.serialize_index`` size / N). Run by hand::

    .venv/bin/python bench/bench_quantized.py --n 200000          # a few minutes on 2 cores
    .venv/bin/python bench/bench_quantized.py --n 1000000 --out build/bench_quantized.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits)) / k


def rerank(vectors: np.ndarray, queries: np.ndarray, short: np.ndarray, k: int) -> np.ndarray:
    """Exact inner products of each query with its short list; the top ``k`` ids."""
    out = np.empty((queries.shape[0], k), dtype=np.int64)
    for i, (q, ids) in enumerate(zip(queries, short, strict=True)):
        ids = ids[ids >= 0]
        scores = vectors[ids] @ q
        out[i] = ids[np.argsort(-scores, kind="stable")[:k]]
    return out


def timed_search(index: Any, queries: np.ndarray, depth: int) -> tuple[np.ndarray, float]:
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = index.search(q[None, :], depth)
        times.append(time.perf_counter() - t)
        found.append(ids[0])
    return np.stack(found), statistics.median(times) * 1000


def main() -> None:
    import faiss

    from bench_index import clustered_vectors

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--noise", type=float, default=0.75)
    ap.add_argument("--rerank", type=int, default=100, help="short-list length re-ranked exactly")
    ap.add_argument("--nprobe", type=int, default=32)
    ap.add_argument("--ef", type=int, default=128)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    faiss.omp_set_num_threads(1)

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.clusters, args.dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vecs = clustered_vectors(args.n, args.dim, centres, args.noise, 1)
    queries = clustered_vectors(args.queries, args.dim, centres, args.noise, 2)
    _, truth = faiss.knn(queries, vecs, 10, metric=faiss.METRIC_INNER_PRODUCT)

    rows: list[dict[str, Any]] = []
    nlist = int(4 * np.sqrt(args.n))
    builds = {
        "hnsw": lambda: faiss.IndexHNSWFlat(args.dim, 32, faiss.METRIC_INNER_PRODUCT),
        "hnsw_sq8": lambda: faiss.IndexHNSWSQ(
            args.dim, faiss.ScalarQuantizer.QT_8bit, 32, faiss.METRIC_INNER_PRODUCT
        ),
        "ivf_pq": lambda: faiss.IndexIVFPQ(
            faiss.IndexFlatIP(args.dim), args.dim, nlist, 48, 8, faiss.METRIC_INNER_PRODUCT
        ),
    }
    for name, make in builds.items():
        index = make()
        t = time.perf_counter()
        if not index.is_trained:
            index.train(vecs[: min(args.n, 100 * nlist)])
        index.add(vecs)
        build_s = time.perf_counter() - t
        if hasattr(index, "hnsw"):
            index.hnsw.efSearch = args.ef
        if hasattr(index, "nprobe"):
            index.nprobe = args.nprobe
        bytes_per = len(faiss.serialize_index(index)) / args.n
        found, p50 = timed_search(index, queries, 10)
        row = {
            "index": name,
            "build_s": round(build_s, 1),
            "ram_bytes_per_vector": round(bytes_per, 1),
            "recall@10": round(recall_at(found, truth), 4),
            "search_p50_ms": round(p50, 3),
        }
        if name != "hnsw":
            short, p50_short = timed_search(index, queries, args.rerank)
            t = time.perf_counter()
            reranked = rerank(vecs, queries, short, 10)
            rerank_ms = (time.perf_counter() - t) / len(queries) * 1000
            row[f"recall@10_rerank{args.rerank}"] = round(recall_at(reranked, truth), 4)
            row["search_p50_ms_with_rerank"] = round(p50_short + rerank_ms, 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
        del index
    result = {"n": args.n, "dim": args.dim, "queries": args.queries, "nlist": nlist, "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
