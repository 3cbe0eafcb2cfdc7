"""Benchmark: search latency of calibrated fusion with the emotion branch vs the old weighted sum.

Both searchers run on the same index in this one run, server side, query encoding included
(``Searcher.search(text, k=10)``):

* **before** — the old fusion: ``Searcher(index, weights={"image": 0.2, "text": 0.5, "lexical": 0.3})``
  (explicit weights turn calibration off; the emotion branch has no weight, so it neither proposes
  candidates nor scores them);
* **after** — ``Searcher(index)`` on the index with a calibration recorded: every calibrated branch
  (``emotion`` included when the fit kept it) proposes candidates, every candidate gets every branch's
  score, each score becomes a probability and they are fused in log-odds space.

Goal (the calibration issue): p50 after / before ≤ 1.1. The two alternate query by query, in alternating
order, so a busy machine slows both alike; the query encoder alone (``encode_text``) is timed in the same
rotation, to show how much of each search is encoding. Both searchers are warmed before timing. The one-time
costs of a freshly opened index are reported apart: the first encoder call, the first query of each
searcher cold, and for the calibrated one its parts (the lexical index, the emotion tagger's prompt
embedding, the emotion tag table, the item-feature table).

The index: the emoji benchmark's ``train`` and ``val`` splits (google + twitter drawings, 3,014 items) built
with ``--model`` (``starter``), OCR off, oracle captions kept and emotion tagging on (the manifest gives the
Smileys' emotions; the zero-shot tagger tags the rest), so every branch has something to score; with
``--n`` above that, vector-only items (a real item's vector + noise, no text, no emotions) are added with
``Index.insert_vectors``. The calibration is fitted on the ``val`` split's labelled queries
(``collect_pairs`` + ``fit_calibration``, as ``memesearch tune`` does) and recorded in the index
(``eval.tune.record``); the timed queries are drawn from the ``train`` split's queries (English and Chinese
keywords and names). Run by hand::

    .venv/bin/python bench/bench_search_calibration.py --data /work/data/emoji      # ~2 minutes
    .venv/bin/python bench/bench_search_calibration.py --n 20000 --queries 300 --profile \\
        --out build/bench_search_calibration.json

Without ``--data`` the benchmark is read from ``data/emoji`` and built there first when missing
(``memesearch datasets build emoji``, ~20 s, offline from npm packages). ``--workdir DIR --reuse`` searches
an index an earlier run left in ``DIR/index`` (with its calibration) instead of building one.

``--threads`` (default 1) caps torch, FAISS and BLAS threads. On a shared 2-core machine whose other core is
busy, torch's default of 2 intra-op threads made one ``encode_text`` call take ~1.7 s instead of ~17 ms
(a thread waiting for a core another process holds), which buries the fusion cost under noise.
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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OLD_WEIGHTS = {"image": 0.2, "text": 0.5, "lexical": 0.3}
INDEX_SPLITS = ("train", "val")
FIT_SPLIT = "val"
QUERY_SPLIT = "train"


def cpu_pressure() -> str:
    """Linux PSI 'some avg60': the share of the last minute in which runnable tasks waited for a CPU."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return "n/a"
    fields = dict(part.split("=", 1) for part in first.split()[1:])
    return f"{fields.get('avg60', '?')}%"


def percentiles(ms: list[float]) -> dict[str, float]:
    arr = np.asarray(ms)
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "mean_ms": float(arr.mean()),
    }


def timed_ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def profile_top(prof: cProfile.Profile, n: int = 25) -> str:
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(n)
    return buf.getvalue()


def ensure_emoji(root: Path) -> None:
    """Build the emoji benchmark into ``root`` when it is missing."""
    if (root / "dataset.json").is_file():
        return
    print(f"# {root} missing: building the emoji benchmark there", flush=True)
    subprocess.run(
        [sys.executable, "-m", "memesearch.cli.main", "datasets", "build", "emoji", "--out", str(root)],
        check=True,
    )


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32)."""
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def build_index(args: argparse.Namespace, dataset: Any, encoder: Any, folder: Path) -> dict[str, Any]:
    """Index the dataset's splits (OCR off, captions and emotions kept), grow it to ``--n`` items with
    vector-only items, fit and record a calibration on the ``val`` queries; the index is closed."""
    from memesearch.data.splits import is_test_split
    from memesearch.eval.calibrate import calibration_metrics, collect_pairs, fit_calibration
    from memesearch.eval.index_eval import queries_from_dataset
    from memesearch.eval.tune import record
    from memesearch.index import Index
    from memesearch.ingest import add_paths
    from memesearch.search import Searcher

    assert not is_test_split(FIT_SPLIT), "never fit on a test split"
    info: dict[str, Any] = {}
    idx = Index.create(folder, encoder=encoder, ocr=False, oracle_captions=True, emotions=True)
    t0 = time.perf_counter()
    summary = add_paths(idx, [str(dataset.root)], splits=list(INDEX_SPLITS), workers=args.workers)
    info["ingest_s"] = time.perf_counter() - t0
    if summary.failed:
        raise SystemExit(
            f"ingest failed for {len(summary.failed)} files: "
            + "; ".join(f.message for f in summary.failed[:5])
        )
    info["dataset_items"] = len(idx)
    print(
        f"indexed {len(idx):,} items of {dataset.root} ({'+'.join(INDEX_SPLITS)}) "
        f"in {info['ingest_s']:.1f} s (OCR off, oracle captions, emotions on)",
        flush=True,
    )
    extra = max(0, args.n - len(idx))
    if extra:
        rowids, vecs = idx.all_vectors("image")  # (N,), (N, dim)
        rng = np.random.default_rng(args.seed)
        base = vecs[rng.integers(0, len(rowids), extra)]
        noise = rng.standard_normal(base.shape, dtype=np.float32) * np.float32(args.noise / np.sqrt(idx.dim))
        t0 = time.perf_counter()
        idx.insert_vectors(unit(base + noise))
        info["insert_vectors_s"] = time.perf_counter() - t0
        print(f"added {extra:,} vector-only items in {info['insert_vectors_s']:.1f} s", flush=True)

    t0 = time.perf_counter()
    fit_q = queries_from_dataset(dataset, FIT_SPLIT, idx)
    current = Searcher(idx)
    pairs = collect_pairs(current, fit_q, depth=current.candidates // 4)  # what `memesearch tune` uses
    cal = fit_calibration(
        pairs,
        fitted_on={
            "queries": f"{dataset.name}/{FIT_SPLIT}",
            "fit_queries": len(fit_q.queries),
            "command": "bench/bench_search_calibration.py",
        },
    )
    metrics = calibration_metrics(cal, pairs)
    metrics.pop("reliability", None)
    cal.metrics = {"fit": metrics}
    record(idx, cal.to_dict())
    info["calibration_fit_s"] = time.perf_counter() - t0
    info["calibration_pairs"] = len(pairs)
    print(
        f"calibration fitted on {len(fit_q.queries):,} {FIT_SPLIT} queries ({len(pairs):,} pairs) in "
        f"{info['calibration_fit_s']:.1f} s: branches {list(cal.branches)}, fusion weights "
        + ", ".join(f"{k} {v:.2f}" for k, v in cal.fusion_weights.items()),
        flush=True,
    )
    if "emotion" not in cal.branches:
        print("# note: the fit left the emotion branch out (too few scored pairs)", flush=True)
    idx.close()
    return info


def describe_index(index_dir: Path, encoder: Any) -> dict[str, Any]:
    """Item counts and the recorded calibration of the index in ``index_dir``."""
    from memesearch.index import Index
    from memesearch.search.calibration import Calibration

    idx = Index.open(index_dir, encoder=encoder, readonly=True)
    try:
        recorded = idx.config.calibration
        if recorded is None:
            raise SystemExit(f"{index_dir} has no calibration; build the index without --reuse")
        cal = Calibration.from_dict(recorded)
        fit = cal.metrics.get("fit", {})
        return {
            "items": len(idx),
            "vector_only_items": int(idx.rowids_where(source="synthetic").size),  # insert_vectors' source
            "items_with_text": len(idx.text_rows()),
            "items_with_emotions": len({r for r, _, _ in idx.emotion_rows()}),
            "calibration": {
                "branches": list(cal.branches),
                "fusion_weights": dict(cal.fusion_weights),
                "fit_queries": cal.fitted_on.get("fit_queries"),
                "ece_on_fit": fit.get("ece"),
            },
        }
    finally:
        idx.close()


def one_time_costs(index_dir: Path, encoder: Any, query: str, k: int) -> dict[str, float]:
    """What a freshly opened index pays once: first encoder call, each searcher's first query (cold),
    and the calibrated searcher's one-time parts, each timed on its own fresh searcher."""
    from memesearch.enrich.emotion import EmotionTagger
    from memesearch.index import Index
    from memesearch.search import Searcher
    from memesearch.search.branches import SearchQuery

    out: dict[str, float] = {}
    out["open_ms"], idx = timed_ms(lambda: Index.open(index_dir, encoder=encoder, readonly=True))
    try:
        out["first_encode_ms"], _ = timed_ms(lambda: encoder.encode_text(["warm up"], kind="query"))
        out["first_query_before_ms"], _ = timed_ms(
            lambda: Searcher(idx, weights=OLD_WEIGHTS).search(query, k=k)
        )
        out["first_query_after_ms"], _ = timed_ms(lambda: Searcher(idx).search(query, k=k))
        # the parts, on a fresh calibrated searcher (each part is built lazily on first use)
        fresh = Searcher(idx)
        vec = encoder.encode_text([query], kind="query")[0]
        q = SearchQuery(query, vec)
        out["lexical_index_ms"], _ = timed_ms(lambda: fresh.branches["lexical"].candidates(q, 1))
        out["emotion_tagger_prompts_ms"], _ = timed_ms(lambda: EmotionTagger(encoder))
        out["emotion_branch_first_ms"], _ = timed_ms(lambda: fresh.branches["emotion"].candidates(q, 1))
        out["item_feature_table_ms"], _ = timed_ms(lambda: fresh.item_features(np.array([1], np.int64)))
        out["first_query_after_parts_built_ms"], _ = timed_ms(lambda: fresh.search(query, k=k))
        out["warm_ms"], _ = timed_ms(lambda: Searcher(idx).warm())
        warmed = Searcher(idx).warm()
        out["first_query_after_warm_ms"], _ = timed_ms(lambda: warmed.search(query, k=k))
    finally:
        idx.close()
    return out


def candidate_counts(searcher: Any, texts: list[str], k: int) -> dict[str, float]:
    """Mean candidates per query (union of the active branches' top ``max(candidates, k)``), via the
    branches' public ``candidates``; computed outside the timing."""
    from memesearch.search.branches import SearchQuery

    cal = searcher.calibration
    names = list(cal.branches) if cal is not None else [b for b, w in searcher.weights.items() if w > 0]
    names = ["image", *[b for b in names if b != "image"]]
    n = max(searcher.candidates, k)
    vecs = searcher.index.encoder.encode_text(texts, kind="query")
    sizes = []
    for t, v in zip(texts, vecs, strict=True):
        q = SearchQuery(t, v)
        sizes.append(np.unique(np.concatenate([searcher.branches[b].candidates(q, n) for b in names])).size)
    return {"branches": names, "mean": float(np.mean(sizes)), "max": float(np.max(sizes))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=None, help="emoji benchmark (default: data/emoji, built if missing)"
    )
    parser.add_argument(
        "--n", type=int, default=5000, help="items in the index (dataset items + vector-only items)"
    )
    parser.add_argument("--queries", type=int, default=200, help="distinct text queries timed")
    parser.add_argument("--repeats", type=int, default=2, help="passes over the queries (all samples kept)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--model", default="starter", help="encoder of the index and of the queries")
    parser.add_argument("--noise", type=float, default=0.5, help="noise norm of the vector-only items")
    parser.add_argument("--workers", type=int, default=0, help="ingest worker processes (0: in process)")
    parser.add_argument("--threads", type=int, default=1, help="torch / FAISS / BLAS threads (see above)")
    parser.add_argument("--profile", action="store_true", help="cProfile 50 searches of each searcher")
    parser.add_argument(
        "--reuse", action="store_true", help="search the index an earlier run left in --workdir"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the index is built (default: a temp dir)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    import faiss
    import torch
    from threadpoolctl import threadpool_limits

    from memesearch.data.formats import read_dataset
    from memesearch.index import Index
    from memesearch.models import create_encoder
    from memesearch.search import Searcher

    if args.reuse and args.workdir is None:
        parser.error("--reuse needs --workdir (the folder of an earlier run's index)")
    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    threadpool_limits(args.threads)  # BLAS (numpy, scipy) and any other OpenMP runtime
    data = args.data or ROOT / "data" / "emoji"
    if args.data is None:
        ensure_emoji(data)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), faiss {faiss.__version__} "
        f"({faiss.omp_get_max_threads()} threads); model {args.model}; "
        f"CPU pressure before (PSI some avg60): {cpu_pressure()}",
        flush=True,
    )
    results: dict[str, Any] = {
        "argv": sys.argv[1:] if argv is None else list(argv),
        "model": args.model,
        "data": str(data),
        "k": args.k,
        "old_weights": OLD_WEIGHTS,
        "cpus": os.cpu_count(),
        "threads": args.threads,
        "cpu_pressure_before": cpu_pressure(),
    }
    dataset = read_dataset(data)
    rng = np.random.default_rng(args.seed)
    pool = list(dict.fromkeys(q.text for q in dataset[QUERY_SPLIT].queries))
    picked = rng.choice(len(pool), size=min(len(pool), args.queries + 11), replace=False)
    texts = [pool[int(i)] for i in picked]
    cold_query, warmup, timed_texts = texts[0], texts[1:11], texts[11:]

    encoder = create_encoder(args.model)
    own_tmp = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="bench-search-cal-")) if own_tmp else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    index_dir = work / "index"
    if index_dir.exists() and not args.reuse:
        shutil.rmtree(index_dir)
    try:
        results["build"] = {} if args.reuse else build_index(args, dataset, encoder, index_dir)
        results["index"] = describe_index(index_dir, encoder)
        gc.collect()
        results["one_time"] = one_time_costs(index_dir, encoder, cold_query, args.k)

        # ---- latency: both searchers on one index opened like a server opens it --------------------------
        idx = Index.open(index_dir, encoder=encoder, readonly=True)
        before = Searcher(idx, weights=OLD_WEIGHTS)
        after = Searcher(idx)
        assert before.calibration is None and after.calibration is not None
        for s in (before, after):
            s.warm()
            for q in warmup:
                s.search(q, k=args.k)
        samples: dict[str, list[float]] = {"before": [], "after": [], "encode": []}

        def run_before(q: str) -> None:
            t0 = time.perf_counter()
            resp = before.search(q, k=args.k)
            samples["before"].append((time.perf_counter() - t0) * 1000)
            assert not resp.calibrated

        def run_after(q: str) -> None:
            t0 = time.perf_counter()
            resp = after.search(q, k=args.k)
            samples["after"].append((time.perf_counter() - t0) * 1000)
            assert resp.calibrated

        def run_encode(q: str) -> None:
            t0 = time.perf_counter()
            encoder.encode_text([q], kind="query")
            samples["encode"].append((time.perf_counter() - t0) * 1000)

        fns = [run_before, run_after, run_encode]
        i = 0
        for _ in range(args.repeats):
            for q in timed_texts:
                order = fns[i % 3 :] + fns[: i % 3]  # rotate who goes first
                if (i // 3) % 2:
                    order.reverse()
                for fn in order:
                    fn(q)
                i += 1
        lat: dict[str, Any] = {
            "queries": len(timed_texts),
            "samples": len(samples["before"]),
            **{name: percentiles(ms) for name, ms in samples.items()},
        }
        lat["ratio_p50"] = lat["after"]["p50_ms"] / lat["before"]["p50_ms"]
        lat["ratio_p99"] = lat["after"]["p99_ms"] / lat["before"]["p99_ms"]
        lat["ratio_p50_after_encoding"] = (lat["after"]["p50_ms"] - lat["encode"]["p50_ms"]) / max(
            1e-9, lat["before"]["p50_ms"] - lat["encode"]["p50_ms"]
        )
        results["latency"] = lat
        results["candidates"] = {
            "before": candidate_counts(before, timed_texts[:100], args.k),
            "after": candidate_counts(after, timed_texts[:100], args.k),
        }
        if args.profile:
            for name, s in (("before", before), ("after", after)):
                prof = cProfile.Profile()
                prof.enable()
                for q in timed_texts[:50]:
                    s.search(q, k=args.k)
                prof.disable()
                results[f"profile_{name}"] = profile_top(prof)
                print(f"## cProfile, 50 searches, {name}\n{results[f'profile_{name}']}", flush=True)
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
    ix, lat, one, cand = r["index"], r["latency"], r["one_time"], r["candidates"]
    cal = ix["calibration"]
    print(
        f"\n# CPU pressure after (PSI some avg60): {r['cpu_pressure_after']}; "
        f"peak RSS {r['peak_rss_mib']:,.0f} MiB"
    )
    print(
        f"\n{ix['items']:,} items ({ix['items'] - ix['vector_only_items']:,} from the dataset, "
        f"{ix['items_with_text']:,} with text, {ix['items_with_emotions']:,} with emotion tags; "
        f"{ix['vector_only_items']:,} vector-only), model {r['model']}, {r['threads']} thread(s); "
        f"calibration on {cal['fit_queries']:,} {FIT_SPLIT} queries, branches {', '.join(cal['branches'])}; "
        f"candidates per query: before {cand['before']['mean']:.0f} "
        f"({'+'.join(cand['before']['branches'])}), "
        f"after {cand['after']['mean']:.0f} ({'+'.join(cand['after']['branches'])})"
    )
    print()
    print(
        f"| search k={r['k']} ({lat['queries']} queries × {lat['samples'] // lat['queries']}) "
        "| p50 ms | p99 ms | mean ms |"
    )
    print("|---|---:|---:|---:|")
    weights = ", ".join(f"{k}={v}" for k, v in r["old_weights"].items())
    rows = [
        (f"before: weighted sum ({weights})", lat["before"]),
        (f"after: calibrated ({'+'.join(cal['branches'])})", lat["after"]),
        ("  encode_text alone (in both)", lat["encode"]),
    ]
    for name, p in rows:
        print(f"| {name} | {p['p50_ms']:.2f} | {p['p99_ms']:.2f} | {p['mean_ms']:.2f} |")
    print(
        f"| **ratio after / before** | **{lat['ratio_p50']:.2f}** | **{lat['ratio_p99']:.2f}** "
        "| (goal p50 ≤ 1.1) |"
    )
    print(
        "ratio of p50 less encoding (after − encode) / (before − encode): "
        f"{lat['ratio_p50_after_encoding']:.2f}"
    )
    print()
    print("| one-time cost (fresh index / searcher) | ms |\n|---|---:|")
    labels = [
        ("open_ms", "Index.open (read-only)"),
        ("first_encode_ms", "first encoder call"),
        ("first_query_before_ms", "first query, before (cold searcher)"),
        ("first_query_after_ms", "first query, after (cold searcher)"),
        ("lexical_index_ms", "  part: lexical index (BM25 build)"),
        ("emotion_tagger_prompts_ms", "  part: emotion tagger prompt embedding (EmotionTagger())"),
        ("emotion_branch_first_ms", "  part: emotion branch first use (tagger + tag table)"),
        ("item_feature_table_ms", "  part: item-feature table"),
        ("first_query_after_parts_built_ms", "  first query, after, once the parts are built"),
        ("warm_ms", "Searcher.warm()"),
        ("first_query_after_warm_ms", "first query, after, following warm()"),
    ]
    for key, label in labels:
        print(f"| {label} | {one[key]:.1f} |")


if __name__ == "__main__":
    raise SystemExit(main())
