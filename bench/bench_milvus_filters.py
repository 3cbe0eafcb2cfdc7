"""Benchmark: filtered vector search on milvus-lite — the scalar fields memesearch uses vs ARRAY fields.

Issue 11 asks that the filters (media, source, emotion) pushed down to Milvus be scalar fields that filter
fast, not ARRAY/JSON row scans, and that this be measured. This run builds two collections of the same
``--n`` unit vectors (dimension ``--dim``) in one milvus-lite file, with the same vector index:

* ``scalar``: :class:`memesearch.index.milvus_store.MilvusVectorStore` itself (VARCHAR ``media`` and
  ``source``, one BOOL ``emotion_<word>`` per emotion), searched with ``RowFilter`` pushed down;
* ``array``: the same rows in a raw pymilvus collection whose emotions are an ``ARRAY<VARCHAR>`` field,
  filtered with ``array_contains_any`` (an ARRAY field takes no scalar index).

and reports, per filter, the median and p90 latency of ``--queries`` single-query top-10 searches, plus the
insert rate. Emotions are drawn so that a filter on one emotion keeps about 1/15 of the rows. Run::

    .venv/bin/python bench/bench_milvus_filters.py --quick                        # 20,000 rows, ~1 min
    .venv/bin/python bench/bench_milvus_filters.py --out build/bench_milvus.json  # 100,000 rows
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

EMOTIONS = ("happy", "sad", "angry", "love", "tired", "confused", "cool", "shy")
MEDIA = ("image", "gif", "video")
SOURCES = ("chat", "forum", "upload", "dataset")


def _rows(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    from memesearch.index.vector_store import RowFields

    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(1, n + 1, dtype=np.int64)
    fields = [
        RowFields(
            media=MEDIA[int(rng.integers(3))],
            source=SOURCES[int(rng.integers(4))],
            emotions=tuple(rng.choice(EMOTIONS, size=int(rng.integers(0, 3)), replace=False).tolist()),
        )
        for _ in range(n)
    ]
    return ids, vecs, fields


def _array_collection(client: Any, name: str, dim: int, kind: str, cfg: Any) -> None:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("media", DataType.VARCHAR, max_length=16)
    schema.add_field("source", DataType.VARCHAR, max_length=512)
    schema.add_field(
        "emotions", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=16, max_length=32
    )
    params = client.prepare_index_params()
    if kind == "hnsw":
        params.add_index(
            field_name="vec",
            index_type="HNSW",
            metric_type="IP",
            params={"M": cfg.hnsw_m, "efConstruction": cfg.ef_construction},
        )
    else:
        params.add_index(field_name="vec", index_type="FLAT", metric_type="IP")
    client.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")


def _latency(fn: Any, queries: np.ndarray) -> dict[str, float]:
    fn(queries[0])  # warm
    times = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": float(np.percentile(times, 50)), "p90_ms": float(np.percentile(times, 90))}


def run(n: int, dim: int, n_queries: int, seed: int) -> dict[str, Any]:
    from memesearch.index.milvus_store import MilvusVectorStore, filter_expression
    from memesearch.index.vector_store import RowFilter, VectorConfig

    cfg = VectorConfig()
    ids, vecs, fields = _rows(n, dim, seed)
    queries = np.random.default_rng(seed + 1).standard_normal((n_queries, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    out: dict[str, Any] = {"n": n, "dim": dim, "queries": n_queries, "machine": platform.platform()}
    with tempfile.TemporaryDirectory() as tmp:
        side = Path(tmp) / "image.milvus"
        store = MilvusVectorStore(dim, cfg, path=side)
        t0 = time.perf_counter()
        for start in range(0, n, 10_000):
            sl = slice(start, start + 10_000)
            store.add(ids[sl], vecs[sl], fields[sl])
        store.save(side, 0)  # flushes milvus-lite's pending rows, as an index does when it saves
        out["scalar_insert_rows_per_s"] = n / (time.perf_counter() - t0)
        out["index_type"] = store.describe()["index_type"]
        client, topk = store._client, 10
        _array_collection(client, "arrays", dim, store.kind, cfg)
        t0 = time.perf_counter()
        for start in range(0, n, 2_000):
            rows = [
                {
                    "id": int(ids[i]),
                    "vec": vecs[i].tolist(),
                    "media": fields[i].media,
                    "source": fields[i].source,
                    "emotions": list(fields[i].emotions),
                }
                for i in range(start, min(start + 2_000, n))
            ]
            client.insert("arrays", rows)
        client.flush("arrays")
        out["array_insert_rows_per_s"] = n / (time.perf_counter() - t0)
        search_params: dict[str, Any] = {"metric_type": "IP"}
        if store.kind == "hnsw":
            search_params["params"] = {"ef": cfg.ef_search}

        def array_search(expr: str) -> Any:
            return lambda q: client.search(
                "arrays", data=[q.tolist()], limit=topk, filter=expr, search_params=search_params
            )

        cases = {
            "none": (RowFilter(), ""),
            "media": (RowFilter(media=("gif",)), 'media in ["gif"]'),
            "source": (RowFilter(source="forum"), 'source == "forum"'),
            "emotion": (RowFilter(emotions=("happy",)), 'array_contains_any(emotions, ["happy"])'),
            "emotion_any_of_2": (
                RowFilter(emotions=("happy", "sad")),
                'array_contains_any(emotions, ["happy", "sad"])',
            ),
            "emotion+media": (
                RowFilter(emotions=("angry",), media=("image",)),
                'array_contains_any(emotions, ["angry"]) and media in ["image"]',
            ),
        }
        results = {}
        for name, (where, array_expr) in cases.items():
            results[name] = {
                "scalar_expression": filter_expression(where) if where else "",
                "scalar": _latency(lambda q, w=where: store.search(q[None, :], topk, w or None), queries),
                "array_expression": array_expr,
                "array": _latency(array_search(array_expr), queries),
            }
            print(
                f"{name:18s} scalar p50 {results[name]['scalar']['p50_ms']:8.1f} ms   "
                f"array p50 {results[name]['array']['p50_ms']:8.1f} ms",
                flush=True,
            )
        out["filters"] = results
        store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="rows")
    ap.add_argument("--dim", type=int, default=384, help="vector dimension")
    ap.add_argument("--queries", type=int, default=30, help="timed queries per filter")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="20,000 rows")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    n = 20_000 if args.quick else args.n
    result = run(n, args.dim, args.queries, args.seed)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
