"""Benchmark: index build time and search latency at 1,000,000 items vs raw FAISS, with recall@10.

Issue 5 asks for two numbers at 1,000,000 items of the real dimension, each against raw FAISS with the
same parameters, measured in this one run:

* **build**: ``Index.insert_vectors`` (SQLite rows in the same transactions files go through, the FAISS
  add, the final atomic flush to disk) vs ``IndexIDMap2(IndexHNSWFlat(d, M, METRIC_INNER_PRODUCT))``
  ``.add_with_ids`` of the same vectors with the same M / efConstruction (goal ≤ 1.2×);
* **search latency** p50 / p99, server side, query encoding included: ``Searcher.search(text, k=10)`` on
  the index reopened from disk vs ``encoder.encode_text([text], kind="query")`` + ``raw.search(v, 10)``
  with the same efSearch (goal ≤ 1.3×). The two alternate query by query, in alternating order, so a
  busy machine slows both alike;
* **recall@10** of the ANN index vs exact inner-product search (``faiss.knn``), for memesearch's vector
  index and for the raw HNSW, on query vectors drawn from the item distribution.

Items are clustered synthetic unit vectors (``--clusters`` Gaussian centres on the sphere, item = centre +
noise of relative norm ``--noise``, renormalised); they do not relate to the text embeddings of the
queries, which does not matter for latency. Run by hand::

    .venv/bin/python bench/bench_index.py --quick                       # 50,000 items, a few minutes
    .venv/bin/python bench/bench_index.py --out build/bench_index.json  # 1,000,000 items (tens of minutes)

``--quick`` lowers ``exact_below`` to 10,000 so that the HNSW path is exercised; at the default
``exact_below`` (50,000) an index of ≤ 50,000 items is exact and the raw baseline is then ``IndexFlatIP``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

EN_SUBJECTS = [
    "cat", "dog", "my boss", "the intern", "grandma", "a frog", "the teacher", "my roommate", "a penguin",
    "the cook", "a panda", "the baby", "my code", "the printer", "a duck", "the team",
]  # fmt: skip
EN_STATES = [
    "so sleepy", "laughing so hard", "angry again", "crying tears of joy", "totally confused",
    "very proud", "scared of monday", "in love", "bored at work", "shocked", "facepalm", "thumbs up",
    "dancing", "eye roll", "cannot stop smiling", "waiting forever",
]  # fmt: skip
ZH_SUBJECTS = ["猫", "狗", "老板", "同事", "奶奶", "熊猫", "我", "老师", "宝宝", "室友"]
ZH_STATES = [
    "笑哭了", "好困啊", "生气了", "太难了", "开心到飞起", "不想上班", "吓死了", "无语", "害羞", "加油",
    "委屈", "点赞", "翻白眼", "尴尬",
]  # fmt: skip


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32)."""
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def clustered_vectors(
    n: int, dim: int, centres: np.ndarray, noise: float, seed: int, chunk: int = 100_000
) -> np.ndarray:
    """``(n, dim)`` unit float32 vectors: a random centre each + Gaussian noise of norm ≈ ``noise``."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    scale = np.float32(noise / np.sqrt(dim))
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        which = rng.integers(0, centres.shape[0], m)
        part = centres[which] + scale * rng.standard_normal((m, dim), dtype=np.float32)
        out[start : start + m] = unit(part)
    return out


def query_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct short chat-like queries, English and Chinese mixed."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        if rng.random() < 0.6:
            text = f"{EN_SUBJECTS[rng.integers(len(EN_SUBJECTS))]} {EN_STATES[rng.integers(len(EN_STATES))]}"
            if rng.random() < 0.3:
                text += " lol"
        else:
            text = f"{ZH_SUBJECTS[rng.integers(len(ZH_SUBJECTS))]}{ZH_STATES[rng.integers(len(ZH_STATES))]}"
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def cpu_pressure() -> str:
    """Linux PSI 'some avg60': the share of the last minute in which runnable tasks waited for a CPU."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "n/a"
    fields = dict(part.split("=", 1) for part in first.split()[1:])
    return f"{fields.get('avg60', '?')}%"


def raw_index(kind: str, dim: int, m: int, ef_construction: int, ef_search: int) -> Any:
    """The raw FAISS baseline: the same structure memesearch builds (IDMap2 over HNSW or flat IP)."""
    import faiss

    if kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = ef_construction
        inner.hnsw.efSearch = ef_search
    else:
        inner = faiss.IndexFlatIP(dim)
    return faiss.IndexIDMap2(inner)


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the true top-k ids found in the returned top-k (per query, then averaged)."""
    hits = [
        len(set(f.tolist()) & set(t.tolist())) / truth.shape[1] for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(hits))


def percentiles(ms: list[float]) -> dict[str, float]:
    arr = np.asarray(ms)
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "mean_ms": float(arr.mean()),
    }


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def profile_top(prof: cProfile.Profile, n: int = 18) -> str:
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(n)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=None, help="items (default 1,000,000; 50,000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="50,000 items, exact_below 10,000, 100 queries")
    parser.add_argument("--model", default="starter", help="encoder of the index and of the queries")
    parser.add_argument("--clusters", type=int, default=1000, help="Gaussian cluster centres")
    parser.add_argument("--noise", type=float, default=0.75, help="noise norm relative to the unit centre")
    parser.add_argument(
        "--queries", type=int, default=None, help="text queries timed (default 300; 100 quick)"
    )
    parser.add_argument("--recall-queries", type=int, default=1000, help="query vectors for recall@k")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--m", type=int, default=32, help="HNSW M")
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--ef-search", type=int, default=128)
    parser.add_argument(
        "--exact-below", type=int, default=None, help="default: VectorConfig's (10,000 quick)"
    )
    parser.add_argument(
        "--chunk", type=int, default=10_000, help="insert_vectors chunk (one transaction each)"
    )
    parser.add_argument(
        "--order", choices=("raw-first", "index-first"), default="raw-first", help="which build runs first"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile insert_vectors and one search")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the index is built (default: a temp dir)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    import faiss
    import torch

    from memesearch.index import Index
    from memesearch.index.vector_store import VectorConfig
    from memesearch.models import create_encoder
    from memesearch.search import Searcher

    n = args.n or (50_000 if args.quick else 1_000_000)
    n_queries = args.queries or (100 if args.quick else 300)
    exact_below = args.exact_below
    if exact_below is None:
        exact_below = 10_000 if args.quick else VectorConfig().exact_below
    vcfg = VectorConfig(
        exact_below=exact_below, hnsw_m=args.m, ef_construction=args.ef_construction, ef_search=args.ef_search
    )
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, faiss {faiss.__version__} "
        f"({faiss.omp_get_max_threads()} OpenMP threads), torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); CPU pressure before (PSI some avg60): {cpu_pressure()}",
        flush=True,
    )
    results: dict[str, Any] = {
        "n": n,
        "model": args.model,
        "vectors": vcfg.to_dict(),
        "clusters": args.clusters,
        "noise": args.noise,
        "k": args.k,
        "cpus": os.cpu_count(),
        "cpu_pressure_before": cpu_pressure(),
    }

    t = time.perf_counter()
    encoder = create_encoder(args.model)
    dim = int(encoder.dim)
    results["dim"] = dim
    print(f"encoder {args.model} (dim {dim}) loaded in {time.perf_counter() - t:.1f} s", flush=True)
    rng = np.random.default_rng(args.seed)
    centres = unit(rng.standard_normal((args.clusters, dim), dtype=np.float32))
    t = time.perf_counter()
    vecs = clustered_vectors(n, dim, centres, args.noise, args.seed + 1)
    qvecs = clustered_vectors(args.recall_queries, dim, centres, args.noise, args.seed + 2)
    texts = query_texts(n_queries + 10, args.seed)
    print(f"{n:,} vectors of dim {dim} generated in {time.perf_counter() - t:.1f} s", flush=True)

    own_tmp = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="bench-index-")) if own_tmp else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    index_dir = work / "index"
    if index_dir.exists():
        shutil.rmtree(index_dir)
    try:
        # ---- build -------------------------------------------------------------------------------
        kind = "hnsw" if 0 < exact_below < n else "exact"
        ids = np.arange(1, n + 1, dtype=np.int64)  # SQLite rowids of a fresh index: 1..n in order
        raw: Any = None
        build: dict[str, Any] = {}

        def build_raw() -> None:
            nonlocal raw
            raw = raw_index(kind, dim, args.m, args.ef_construction, args.ef_search)
            t0, c0 = time.perf_counter(), time.process_time()
            raw.add_with_ids(vecs, ids)
            build["raw_add_s"] = time.perf_counter() - t0
            build["raw_add_cpu_s"] = time.process_time() - c0
            path = work / "raw.faiss"
            t0 = time.perf_counter()
            faiss.write_index(raw, str(path))
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
            build["raw_write_s"] = time.perf_counter() - t0
            path.unlink()
            print(
                f"raw FAISS {kind}: add {build['raw_add_s']:.1f} s, write+fsync {build['raw_write_s']:.1f} s",
                flush=True,
            )

        def build_index() -> None:
            idx = Index.create(index_dir, encoder=encoder, vectors=vcfg)
            prof = cProfile.Profile() if args.profile else None
            t0, c0 = time.perf_counter(), time.process_time()
            if prof is not None:
                prof.enable()
            got = idx.insert_vectors(vecs, chunk=args.chunk)
            if prof is not None:
                prof.disable()
            build["index_s"] = time.perf_counter() - t0
            build["index_cpu_s"] = time.process_time() - c0
            if prof is not None:
                build["index_profile"] = profile_top(prof)
                print(build["index_profile"], flush=True)
            assert len(got) == n, (len(got), n)
            row = idx.store.conn.execute("SELECT MIN(rowid), MAX(rowid), COUNT(*) FROM items").fetchone()
            if tuple(row) != (1, n, n):
                raise SystemExit(f"unexpected rowids in the fresh index: {row}; expected (1, {n}, {n})")
            build["index_kind"] = idx.vector_store("image").kind
            idx.close()
            build["index_disk_mib"] = dir_size(index_dir) / 2**20
            print(
                f"memesearch insert_vectors ({build['index_kind']}): {build['index_s']:.1f} s, "
                f"{build['index_disk_mib']:.0f} MiB on disk",
                flush=True,
            )

        steps = [build_raw, build_index] if args.order == "raw-first" else [build_index, build_raw]
        for step in steps:
            step()
            gc.collect()
        build["ratio"] = build["index_s"] / build["raw_add_s"]
        build["ratio_cpu"] = build["index_cpu_s"] / build["raw_add_cpu_s"]
        build["ratio_vs_add_and_write"] = build["index_s"] / (build["raw_add_s"] + build["raw_write_s"])
        results["build"] = build

        # ---- reopen (what a server does at startup) ------------------------------------------------
        t0 = time.perf_counter()
        idx = Index.open(index_dir, encoder=encoder, readonly=True)
        results["open_s"] = time.perf_counter() - t0
        print(
            f"Index.open (read-only, {len(idx.vector_store('image')):,} vectors): {results['open_s']:.1f} s",
            flush=True,
        )

        # ---- recall@k --------------------------------------------------------------------------------
        t0 = time.perf_counter()
        _, exact_pos = faiss.knn(qvecs, vecs, args.k, metric=faiss.METRIC_INNER_PRODUCT)
        truth = ids[exact_pos]
        exact_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, found_index = idx.vector_store("image").search(qvecs, args.k)
        index_batch_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, found_raw = raw.search(qvecs, args.k)
        raw_batch_s = time.perf_counter() - t0
        results["recall"] = {
            "queries": int(qvecs.shape[0]),
            "index": recall_at(found_index, truth),
            "raw": recall_at(found_raw, truth),
            "exact_batch_s": exact_s,
            "index_batch_s": index_batch_s,
            "raw_batch_s": raw_batch_s,
        }
        print(
            f"recall@{args.k}: memesearch {results['recall']['index']:.4f}, "
            f"raw {results['recall']['raw']:.4f} "
            f"({qvecs.shape[0]} queries; exact search took {exact_s:.1f} s)",
            flush=True,
        )

        # ---- latency -------------------------------------------------------------------------------
        searcher = Searcher(idx)
        t0 = time.perf_counter()
        searcher.search(texts[0], k=args.k)
        results["first_search_ms"] = (time.perf_counter() - t0) * 1000
        for q in texts[1:10]:  # warm-up of both paths
            searcher.search(q, k=args.k)
            raw.search(encoder.encode_text([q], kind="query"), args.k)
        ours: list[float] = []
        base: list[float] = []
        base_encode: list[float] = []
        base_faiss: list[float] = []
        took: list[float] = []

        def run_ours(q: str) -> None:
            t1 = time.perf_counter()
            resp = searcher.search(q, k=args.k)
            ours.append((time.perf_counter() - t1) * 1000)
            took.append(resp.took_ms)
            assert len(resp.hits) == args.k

        def run_base(q: str) -> None:
            t1 = time.perf_counter()
            v = encoder.encode_text([q], kind="query")
            t2 = time.perf_counter()
            _, found = raw.search(v, args.k)
            t3 = time.perf_counter()
            base.append((t3 - t1) * 1000)
            base_encode.append((t2 - t1) * 1000)
            base_faiss.append((t3 - t2) * 1000)
            assert found.shape == (1, args.k)

        for i, q in enumerate(texts[10 : 10 + n_queries]):
            for fn in (run_ours, run_base) if i % 2 == 0 else (run_base, run_ours):
                fn(q)
        lat = {
            "queries": n_queries,
            "memesearch": percentiles(ours),
            "baseline": percentiles(base),
            "baseline_encode": percentiles(base_encode),
            "baseline_faiss": percentiles(base_faiss),
            "memesearch_took_ms": percentiles(took),
        }
        lat["ratio_p50"] = lat["memesearch"]["p50_ms"] / lat["baseline"]["p50_ms"]
        lat["ratio_p99"] = lat["memesearch"]["p99_ms"] / lat["baseline"]["p99_ms"]

        # what is left once the query vector is known: raw HNSW (k) vs the memesearch vector index (k and
        # the searcher's candidate count) vs the whole Searcher path after encoding
        qv = encoder.encode_text(texts[10 : 10 + min(n_queries, 100)], kind="query")
        post: dict[str, list[float]] = {
            "raw_faiss_k": [],
            "index_vectors_k": [],
            "index_vectors_candidates": [],
        }
        for v in qv:
            for name, fn2 in (
                ("raw_faiss_k", lambda v=v: raw.search(v[None, :], args.k)),
                ("index_vectors_k", lambda v=v: idx.vector_store("image").search(v[None, :], args.k)),
                (
                    "index_vectors_candidates",
                    lambda v=v: idx.vector_store("image").search(
                        v[None, :], max(searcher.candidates, args.k)
                    ),
                ),
            ):
                t1 = time.perf_counter()
                fn2()
                post[name].append((time.perf_counter() - t1) * 1000)
        lat["after_encoding"] = {name: percentiles(ms) for name, ms in post.items()}
        results["latency"] = lat
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            for q in texts[10:60]:
                searcher.search(q, k=args.k)
            prof.disable()
            results["search_profile"] = profile_top(prof)
            print(results["search_profile"], flush=True)
        idx.close()
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)

    results["cpu_pressure_after"] = cpu_pressure()
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report(results)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


def report(r: dict[str, Any]) -> None:
    b, lat, rec = r["build"], r["latency"], r["recall"]
    v = r["vectors"]
    print(
        f"# CPU pressure after (PSI some avg60): {r['cpu_pressure_after']}; "
        f"peak RSS {r['peak_rss_mib']:,.0f} MiB"
    )
    print()
    print(
        f"{r['n']:,} items, dim {r['dim']}, kind {b['index_kind']} "
        f"(M={v['hnsw_m']}, efConstruction={v['ef_construction']}, efSearch={v['ef_search']}, "
        f"exact_below={v['exact_below']}); {r['clusters']} clusters, noise {r['noise']}"
    )
    print()
    print("| build | wall s | CPU s (all threads) | ratio (wall) |\n|---|---:|---:|---:|")
    print(f"| raw FAISS add_with_ids | {b['raw_add_s']:.1f} | {b['raw_add_cpu_s']:.1f} | 1.00 |")
    print(f"| raw FAISS add + write_index + fsync | {b['raw_add_s'] + b['raw_write_s']:.1f} | | — |")
    print(
        f"| memesearch insert_vectors (SQLite + FAISS + flush) | {b['index_s']:.1f} | "
        f"{b['index_cpu_s']:.1f} | "
        f"**{b['ratio']:.2f}** (goal ≤ 1.2) |"
    )
    print(
        f"ratio vs raw add + write: {b['ratio_vs_add_and_write']:.2f}; "
        f"ratio of CPU seconds: {b['ratio_cpu']:.2f}"
    )
    print()
    print(f"| search k={r['k']} ({lat['queries']} text queries) | p50 ms | p99 ms | mean ms |")
    print("|---|---:|---:|---:|")
    rows = [
        ("memesearch Searcher.search (encode + search)", lat["memesearch"]),
        ("baseline: encode_text + raw FAISS", lat["baseline"]),
        ("  of which encode_text", lat["baseline_encode"]),
        ("  of which raw FAISS search", lat["baseline_faiss"]),
        ("memesearch took_ms (self-reported)", lat["memesearch_took_ms"]),
    ]
    rows += [(f"after encoding: {name}", p) for name, p in lat["after_encoding"].items()]
    for name, p in rows:
        print(f"| {name} | {p['p50_ms']:.2f} | {p['p99_ms']:.2f} | {p['mean_ms']:.2f} |")
    print(
        f"| **ratio memesearch / baseline** | **{lat['ratio_p50']:.2f}** | **{lat['ratio_p99']:.2f}** "
        "| (goal ≤ 1.3) |"
    )
    print()
    print(
        f"recall@{r['k']} vs exact ({rec['queries']} queries): memesearch {rec['index']:.4f}, "
        f"raw HNSW {rec['raw']:.4f}"
    )
    print(
        f"first search after open (builds the lexical branch): {r['first_search_ms']:.0f} ms; "
        f"open {r['open_s']:.1f} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
