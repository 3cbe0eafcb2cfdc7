"""Benchmark: time and peak memory of ``evaluate_embeddings`` on a large synthetic gallery.

Issue 2 asks that 10,000 queries x 1,000,000 items of dim 384 evaluate within 8 GiB. The dense
float32 score matrix alone would take 40 GB; the blocked evaluation keeps the embeddings plus about one
block. Run by hand (not a test)::

    .venv/bin/python bench/bench_eval_memory.py                 # 2,000 x 200,000 x 384
    .venv/bin/python bench/bench_eval_memory.py --full          # 10,000 x 1,000,000 x 384

Each query is a noisy copy of one of its 1-3 relevant items, so the metrics are not trivial. Peak RSS
is the process high-water mark, reset (Linux ``/proc/self/clear_refs``) after the data is built, so it
measures the evaluation with the embeddings resident.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from memesearch.eval.retrieval import evaluate_embeddings


def rss_mib(field: str = "VmRSS") -> float:
    """Current (VmRSS) or peak (VmHWM) resident memory of this process in MiB (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> bool:
    """Reset the VmHWM high-water mark so that the peak covers only what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def make_data(
    n_q: int, n_items: int, dim: int, seed: int
) -> tuple[np.ndarray, np.ndarray, dict[str, dict[str, int]]]:
    """(Q, D) and (N, D) float32 unit vectors and qrels with 1-3 relevant items per query."""
    rng = np.random.default_rng(seed)
    items = np.empty((n_items, dim), dtype=np.float32)
    step = 65536
    for a in range(0, n_items, step):  # in slices: no float64 temporary of the whole gallery
        block = rng.standard_normal((min(step, n_items - a), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        items[a : a + len(block)] = block
    n_rel = rng.integers(1, 4, size=n_q)
    rel = [rng.choice(n_items, size=int(k), replace=False) for k in n_rel]
    queries = items[[int(r[0]) for r in rel]] + 4.0 * rng.standard_normal(
        (n_q, dim), dtype=np.float32
    ) / np.sqrt(dim)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    qrels = {f"q{i}": {f"i{int(j)}": 1 for j in r} for i, r in enumerate(rel)}
    return queries.astype(np.float32), items, qrels


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--full", action="store_true", help="10,000 queries x 1,000,000 items x 384 dims")
    parser.add_argument("--queries", type=int, default=2000, help="number of queries (ignored with --full)")
    parser.add_argument("--items", type=int, default=200_000, help="gallery size (ignored with --full)")
    parser.add_argument("--dim", type=int, default=384, help="embedding dimension")
    parser.add_argument("--chunk-size", type=int, default=65536, help="items per block")
    parser.add_argument("--query-chunk-size", type=int, default=1024, help="queries per block")
    parser.add_argument("--ties", default="pessimistic", choices=["pessimistic", "optimistic", "input"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args()
    n_q, n_items, dim = (10_000, 1_000_000, 384) if args.full else (args.queries, args.items, args.dim)

    t0 = time.perf_counter()
    qe, ie, qrels = make_data(n_q, n_items, dim, args.seed)
    t_data = time.perf_counter() - t0
    query_ids = [f"q{i}" for i in range(n_q)]
    item_ids = [f"i{j}" for j in range(n_items)]
    base = rss_mib()
    reset = reset_peak()

    t0 = time.perf_counter()
    report = evaluate_embeddings(
        qe,
        ie,
        qrels,
        query_ids,
        item_ids,
        ties=args.ties,
        chunk_size=args.chunk_size,
        query_chunk_size=args.query_chunk_size,
        progress=not args.no_progress,
    )
    t_eval = time.perf_counter() - t0
    peak = rss_mib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    dense_gib = n_q * n_items * 4 / 2**30
    emb_gib = (qe.nbytes + ie.nbytes) / 2**30
    result = {
        "queries": n_q,
        "items": n_items,
        "dim": dim,
        "chunk_size": args.chunk_size,
        "query_chunk_size": args.query_chunk_size,
        "ties": args.ties,
        "data_build_s": round(t_data, 1),
        "evaluate_s": round(t_eval, 1),
        "embeddings_gib": round(emb_gib, 2),
        "rss_before_eval_mib": round(base),
        "peak_rss_mib": round(peak),
        "peak_is_eval_only": reset,
        "dense_matrix_avoided_gib": round(dense_gib, 1),
        "metrics": {k: round(v, 4) for k, v in report.metrics.items()},
    }
    print(json.dumps(result, indent=2))
    print(
        f"{n_q} x {n_items} x {dim}: evaluated in {t_eval:.1f} s, peak RSS {peak / 1024:.2f} GiB "
        f"(embeddings {emb_gib:.2f} GiB); the dense float32 score matrix would need {dense_gib:.1f} GiB"
    )


if __name__ == "__main__":
    main()
