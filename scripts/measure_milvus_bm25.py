"""Milvus's BM25 full-text search vs memesearch's own lexical branch, on the same passages and queries.

Issue 11 asks whether an index on Milvus should use Milvus's BM25 full-text field instead of memesearch's
jieba-tokenised BM25 (:class:`memesearch.models.lexical.LexicalIndex`, what the lexical branch serves).
Both get identical passages (each item's captions + OCR text, :func:`memesearch.models.lexical.lexical_text`)
and identical queries; only tokenisation and scoring differ:

* ``memesearch`` — LexicalIndex, raw BM25 (jieba for Chinese, lower-casing, its own stop-word rules);
* ``milvus-jieba`` — milvus-lite, a VARCHAR field with ``analyzer_params={"tokenizer": "jieba",
  "filter": ["lowercase"]}``, a BM25 function into a sparse field, ``SPARSE_INVERTED_INDEX`` / BM25;
* ``milvus-standard`` — the same with Milvus's ``standard`` analyzer (its default; splits on Unicode word
  boundaries, so a Chinese run of characters becomes single characters or one token).

Items without text get no score (rank last) in every engine; an item with text that Milvus does not
return for a query scores 0 (as it does in LexicalIndex). Metrics: the dataset's own protocol — the
covers benchmark by CBVS's (R@K/MR over the gallery with label 2 relevant; NDCG/MAP/PNR over judged
pairs), others by SPEC §5 over the whole gallery; pessimistic ties. Run by hand (a few minutes)::

    memesearch datasets build covers --out data/covers
    python scripts/measure_milvus_bm25.py --dataset data/covers --splits val,test \
        --out docs/results/milvus_bm25.json

The passages of the covers benchmark are its cover text as drawn (a perfect OCR): this compares the two
engines on the same text, it is not a product number.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ENGINES = ("memesearch", "milvus-jieba", "milvus-standard")
ANALYZERS = {
    "milvus-jieba": {"tokenizer": "jieba", "filter": ["lowercase"]},
    "milvus-standard": {"type": "standard"},
}
COLUMNS = ("R@1", "R@5", "R@10", "MR", "NDCG@10", "MAP")


def milvus_scores(
    engine: str, ids: list[str], texts: list[str | None], queries: list[str], work: Path
) -> np.ndarray:
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    client = MilvusClient(str(work / f"{engine}.db"))
    name = f"passages_{engine.replace('-', '_')}"
    if client.has_collection(name):
        client.drop_collection(name)
    schema = client.create_schema(auto_id=False)
    schema.add_field("pos", DataType.INT64, is_primary=True)
    schema.add_field(
        "text", DataType.VARCHAR, max_length=8192, enable_analyzer=True, analyzer_params=ANALYZERS[engine]
    )
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["text"],
            output_field_names=["sparse"],
        )
    )
    params = client.prepare_index_params()
    params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=schema, index_params=params)
    rows = [{"pos": i, "text": t} for i, t in enumerate(texts) if t]
    for start in range(0, len(rows), 1000):
        client.insert(name, rows[start : start + 1000])
    client.flush(name)
    has_text = np.array([bool(t) for t in texts])
    out = np.full((len(queries), len(ids)), np.nan)
    out[:, has_text] = 0.0
    limit = min(int(has_text.sum()), 16_384)
    for qi, q in enumerate(queries):
        found = client.search(name, data=[q], anns_field="sparse", limit=limit, output_fields=["pos"])
        for hit in found[0]:
            out[qi, int(hit["entity"]["pos"])] = abs(float(hit["distance"]))  # milvus-lite negates BM25
    client.close()
    return out


def measure(ds: Any, split: str, work: Path) -> list[dict[str, Any]]:
    from memesearch.eval.compare import floor_missing
    from memesearch.eval.encoders import cbvs_report
    from memesearch.eval.retrieval import evaluate_scores
    from memesearch.models.lexical import BM25Config, LexicalIndex, lexical_text

    part = ds[split]
    ids = [it.id for it in part.items]
    texts = [lexical_text(it) for it in part.items]
    qids = [q.id for q in part.queries]
    queries = [q.text for q in part.queries]
    qrels = {q.id: dict(q.qrels) for q in part.queries}
    cbvs = ds.meta.get("protocol") == "cbvs"
    rows = []
    for engine in ENGINES:
        t0 = time.perf_counter()
        if engine == "memesearch":
            lex = LexicalIndex(BM25Config()).build(ids, texts)
            scores = lex.score(queries, calibrated=False).astype(np.float64)
        else:
            scores = milvus_scores(engine, ids, texts, queries, work)
        secs = time.perf_counter() - t0
        s = floor_missing(scores)
        metrics = cbvs_report if cbvs else evaluate_scores
        rep = metrics(s, qrels, qids, ids, threshold=2 if cbvs else 1)
        row = {"split": split, "engine": engine, "seconds": round(secs, 1)}
        row.update({c: float(rep.metrics[c]) for c in COLUMNS if c in rep.metrics})
        rows.append(row)
        print(row, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=Path("data/covers"))
    parser.add_argument("--splits", default="val,test")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    from memesearch.data.formats import read_dataset

    ds = read_dataset(args.dataset)
    work = Path(tempfile.mkdtemp(prefix="milvus-bm25-"))
    try:
        rows = [r for split in args.splits.split(",") for r in measure(ds, split.strip(), work)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| split | engine | " + " | ".join(COLUMNS) + " | seconds |")
    print("|---|---|" + "---:|" * (len(COLUMNS) + 1))
    for r in rows:
        vals = " | ".join(f"{r[c]:.4f}" if c in r else "—" for c in COLUMNS)
        print(f"| {r['split']} | {r['engine']} | {vals} | {r['seconds']} |")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"dataset": str(args.dataset), "command": ds.meta.get("command"), "rows": rows}
        args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
