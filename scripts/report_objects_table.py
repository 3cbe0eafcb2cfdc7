"""Measure object-centric retrieval on the collages benchmark and write it into docs/results and README.md.

What it runs (starter model, ``auto`` regions: nothing known at query time; truth boxes only as oracle
rows beside them):

1. on ``val``: the objects branch's fusion weight ``w`` (item score = ``w * global + (1 - w) * best
   region``, masked-crop regions) for w in 0, 0.25, 0.5 — the one chosen (best R@10 on val) is used on
   test, never chosen on test;
2. on ``test`` (unseen concepts in the held-out style): every row of
   :func:`memesearch.eval.objects.evaluate_objects` (the same as ``memesearch evaluate --objects``);
3. what search serves: the test collages indexed with ``memesearch index --objects auto`` and the
   ``objects`` branch of :meth:`~memesearch.search.Searcher.score_matrix` evaluated with the same metrics
   (it must equal the masked-crop (auto) row).

Writes ``docs/results/objects.json`` and the table between ``<!-- objects-table:start/end -->`` in
README.md::

    python scripts/report_objects_table.py data/collages     # about 4 minutes on 2 shared cores
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from memesearch.utils.readme import write_block

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "objects.json"
README = ROOT / "README.md"
WEIGHTS = (0.0, 0.25, 0.5)


def served_row(dataset: Path, split: str, weight: float, model: str = "starter") -> dict[str, Any]:
    """R@K of the objects branch of a real index over ``split`` (memesearch index --objects auto)."""
    import numpy as np

    from memesearch.data.formats import read_dataset
    from memesearch.eval.retrieval import evaluate_scores
    from memesearch.index import Index
    from memesearch.ingest import add_paths
    from memesearch.search import Searcher
    from memesearch.utils.io import sha256_file

    ds = read_dataset(dataset)
    sp = ds[split]
    queries = [q for q in sp.queries if any(g > 0 for g in q.qrels.values())]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        settings = {"ocr": False, "emotions": False, "objects": "auto", "region_global_weight": weight}
        with Index.create(Path(tmp) / "idx", model=model, **settings) as idx:
            add_paths(idx, [dataset], splits=[split], workers=0)
            seconds = time.perf_counter() - t0
            rowids, scores = Searcher(idx).score_matrix([q.text for q in queries])
            by_sha = {sha256_file(str(it.resolve_path(ds.root)))[:16]: it.id for it in sp.items}
            items = idx.items(rowids.tolist())
            labels = [by_sha[items[int(r)].id] for r in rowids]
        report = {}
        for branch in ("image", "objects"):
            m = evaluate_scores(
                np.nan_to_num(scores[branch].astype(np.float64), nan=-1e9),
                {q.id: dict(q.qrels) for q in queries},
                [q.id for q in queries],
                labels,
                curve=False,
            )
            report[branch] = {k: m.metrics[k] for k in ("R@1", "R@5", "R@10", "MdR", "MnR")}
    return {"index_seconds": round(seconds, 1), "items": len(labels), "branches": report}


def table(data: dict[str, Any]) -> list[str]:
    from memesearch.eval.objects import objects_table, region_text_table

    test = data["test"]
    c = test["counts"]
    lines = [
        f"Collages test view ({c['items']} collages, {c['queries']} queries en+zh, "
        f"{c['truth_objects']} emoji; "
        f"`auto` found {c['regions_found']} regions), starter model, fusion weight w = "
        f"{data['selected_weight']} (chosen on val from {', '.join(map(str, WEIGHTS))} by R@10):",
        "",
        objects_table(test),
        "",
    ]
    s = data["served"]["branches"]
    lines.append(
        "Served: the same collages in an index (`memesearch index data/collages --splits test "
        f"--objects auto`, {data['served']['index_seconds']} s), `search` branches `image` R@10 "
        f"{s['image']['R@10']:.4f} and `objects` R@10 {s['objects']['R@10']:.4f} "
        f"(R@1 {s['objects']['R@1']:.4f}, MdR {s['objects']['MdR']:g})."
    )
    sweep = ", ".join(f"w={r['weight']}: {r['R@10']:.4f}" for r in data["val_sweep"])
    lines.append(f"Val R@10 of masked-crop (auto) by fusion weight: {sweep}.")
    n = next(iter(test["region_text"].values()))["regions"]
    lines += [
        "",
        f"Region <-> text retrieval over the test view's {n} truth regions (T2I: a query ranks every region; "
        "I2T: a region ranks every query; mean rank = (MnR I2T + MnR T2I) / 2, the seed's convention):",
        "",
        region_text_table(test),
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", type=Path, help="a collages build (memesearch datasets build collages)")
    parser.add_argument("--no-readme", action="store_true", help="write docs/results/objects.json only")
    parser.add_argument(
        "--model", default="starter", help="the starter version (starter-v1, starter-v2, starter-v3)"
    )
    args = parser.parse_args()

    from memesearch.data.formats import read_dataset
    from memesearch.eval.objects import ObjectsEvalConfig, evaluate_objects
    from memesearch.models import create_encoder

    ds = read_dataset(args.dataset)
    encoder = create_encoder(args.model)
    sweep = []
    for w in WEIGHTS:
        cfg = ObjectsEvalConfig(split="val", methods=("masked-crop",), global_weight=w, oracle=False)
        rep = evaluate_objects(ds, encoder, cfg)
        sweep.append({"weight": w, **rep["rows"][1]["metrics"]})
        print(f"val w={w}: R@10 {sweep[-1]['R@10']:.4f}", flush=True)
    best = max(sweep, key=lambda r: (r["R@10"], -r["weight"]))["weight"]
    test = evaluate_objects(ds, encoder, ObjectsEvalConfig(split="test", global_weight=best))
    served = served_row(args.dataset, "test", best, args.model)
    data = {
        "command": f"python scripts/report_objects_table.py {args.dataset}"
        + ("" if args.model == "starter" else f" --model {args.model}"),
        "also": f"memesearch evaluate --objects --dataset {args.dataset} --split test "
        f"--region-global-weight {best}",
        "dataset": {"name": ds.name, "card": ds.meta.get("card", {})},
        "val_sweep": sweep,
        "selected_weight": best,
        "test": test,
        "served": served,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print("\n".join(table(data)))
    body = "\n".join(table(data))
    if not args.no_readme and not write_block(README, "objects-table", body, missing_ok=True):
        raise SystemExit("README.md has no objects-table block")
    print(f"wrote {OUT}" + ("" if args.no_readme else " and README.md"))


if __name__ == "__main__":
    main()
