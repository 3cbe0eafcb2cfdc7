"""UniCLIP ablation: two ``uniclip`` or ``uniclip-starter`` runs (e.g. uniclip-small and uniclip-small-itc)
on the CBVS protocol.

    python scripts/report_uniclip_ablation.py RUN_A RUN_B [--dataset data/covers] [--split test] \\
        [--out docs/results/uniclip_small.json] [--which best] [--floor starter]

Each run's chosen checkpoint (``--which``: best on validation, else last) is exported as the plain dual
encoder without its heads (:func:`memesearch.train.uniclip_export.export_uniclip`, into a temporary
folder) and evaluated as ``clip:<folder>`` exactly as ``memesearch evaluate --dataset DIR --split test
--model clip:<folder> --protocol cbvs --by-lang`` does: R@1/5/10 and MR over the split's whole gallery
(relevant = label 2), PNR, NDCG@1/5/10 and MAP over each query's judged candidates, pessimistic ties,
all queries and per language. For runs with a presence head, its accuracy on the split's covers
("carries text" vs the item's OCR) is measured too; the semantic head needs candidates and is not
scored here. Writes the JSON (and a Markdown table beside it, same name ``.md``) and prints the table;
``delta`` is RUN_A minus RUN_B.

A ``uniclip-starter`` run is exported as the starter network without its heads
(:func:`~memesearch.train.uniclip_export.export_uniclip_starter`) and evaluated as ``starter:<folder>``
(frozen e5-small queries). ``--floor MODEL`` adds rows for an untrained encoder on the same split (e.g.
``starter``, the towers uniclip-starter starts from).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("R@1", "R@5", "R@10", "MR", "PNR", "NDCG@1", "NDCG@5", "NDCG@10", "MAP")


def describe_run(run: Path, which: str) -> dict[str, Any]:
    """Heads, step and the validation metrics of the run's chosen checkpoint."""
    from memesearch.errors import ConfigError
    from memesearch.train.checkpoint import find_checkpoint, read_checkpoint_info

    try:
        ckpt = find_checkpoint(run, which)
    except ConfigError:
        ckpt = find_checkpoint(run, "last")
    info = read_checkpoint_info(ckpt)
    tc = info.get("train_config", {}).get("task_config", {})
    return {
        "run": str(run),
        "task": info.get("task"),
        "checkpoint": ckpt.name,
        "step": info.get("step"),
        "epoch": info.get("epoch"),
        "heads": {"presence": bool(tc.get("presence")), "semantic": bool(tc.get("semantic"))},
        "val_metrics": info.get("metrics"),
    }


def presence_accuracy_on(run: Path, dataset: Path, split: str, which: str) -> float | None:
    """The presence head's accuracy on ``split`` (None when the run has no presence head)."""
    import torch

    from memesearch.train.checkpoint import load_trained_model
    from memesearch.train.tasks.samples import load_dataset
    from memesearch.train.tasks.uniclip import UniClipTask, presence_accuracy

    task, model, _ = load_trained_model(run, which=which)
    assert isinstance(task, UniClipTask)
    if getattr(model, "presence", None) is None:
        return None
    ds = load_dataset(dataset)
    with torch.no_grad():
        _, _, p = task.encode_split(model, ds, split, device="cpu", batch_size=128)
    assert p is not None
    return presence_accuracy(p, [it.ocr for it in ds[split].items])


def cbvs_metrics(ds: Any, split: str, encoder: Any) -> dict[str, Any]:
    """The CBVS-protocol metrics of ``encoder``'s image branch on ``split``, all queries and per language."""
    from memesearch.eval.encoders import evaluate_encoder

    results = evaluate_encoder(ds, split, encoder, branch="image", by_lang=True, threshold=2, protocol="cbvs")
    return {
        group: {"n": ev.report.n_queries.get("total", 0), **{c: float(ev.report.metrics[c]) for c in COLUMNS}}
        for group, ev in results.items()
    }


def evaluate_floor(name: str, dataset: Path, split: str) -> dict[str, Any]:
    """An untrained reference encoder (e.g. ``starter``, the towers uniclip-starter starts from)."""
    from memesearch.data.formats import read_dataset
    from memesearch.models import create_encoder

    t0 = time.perf_counter()
    metrics = cbvs_metrics(read_dataset(dataset), split, create_encoder(name, device="cpu"))
    return {"model": name, "metrics": metrics, "seconds": round(time.perf_counter() - t0, 1)}


def evaluate_run(run: Path, dataset: Path, split: str, which: str) -> dict[str, Any]:
    from memesearch.data.formats import read_dataset
    from memesearch.models import create_encoder
    from memesearch.train.uniclip_export import export_uniclip, export_uniclip_starter

    out = describe_run(run, which)
    ds = read_dataset(dataset)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="uniclip-export-") as tmp:
        if out["task"] == "uniclip-starter":  # the starter network without the heads, served as starter:DIR
            folder = export_uniclip_starter(run, Path(tmp) / "model", which=which)
            encoder = create_encoder(f"starter:{folder}", device="cpu")
        else:
            folder = export_uniclip(run, Path(tmp) / "model", which=which)
            encoder = create_encoder(f"clip:{folder}", device="cpu")
        out["metrics"] = cbvs_metrics(ds, split, encoder)
    out["presence_acc"] = presence_accuracy_on(run, dataset, split, which)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def label(entry: dict[str, Any]) -> str:
    heads = [k for k, v in entry["heads"].items() if v]
    return (
        "ITC + " + " + ".join(h.replace("presence", "IC").replace("semantic", "ITM") for h in heads)
        if heads
        else "ITC only"
    )


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"UniCLIP ablation on `{report['dataset']}` split `{report['split']}`, CBVS protocol (R@K and MR "
        "over the whole split, relevant = label 2; PNR / NDCG / MAP over each query's judged candidates; "
        "pessimistic ties); image branch of the exported dual encoder (no OCR at search time).",
        "",
        "| run | heads | step | queries | n | " + " | ".join(COLUMNS) + " | presence acc |",
        "|---|---|---:|---|---:|" + "---:|" * (len(COLUMNS) + 1),
    ]
    for entry in report["runs"]:
        acc = entry["presence_acc"]
        for group, m in entry["metrics"].items():
            vals = " | ".join(f"{m[c]:.3f}" if c == "PNR" else f"{m[c]:.4f}" for c in COLUMNS)
            shown = f"{acc:.4f}" if acc is not None and group == "all" else ""
            lines.append(
                f"| {Path(entry['run']).name} | {label(entry)} | {entry['step']} | {group} | {m['n']} "
                f"| {vals} | {shown} |"
            )
    for floor in report.get("floors", []):
        for group, m in floor["metrics"].items():
            vals = " | ".join(f"{m[c]:.3f}" if c == "PNR" else f"{m[c]:.4f}" for c in COLUMNS)
            lines.append(f"| `{floor['model']}` (untrained) | none | 0 | {group} | {m['n']} | {vals} | |")
    delta = report["delta"]
    lines += ["", "RUN_A - RUN_B (all queries): " + ", ".join(f"{k} {v:+.4f}" for k, v in delta.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_a", type=Path, help="A uniclip run directory (e.g. the uniclip-small run).")
    parser.add_argument("run_b", type=Path, help="The run to compare with (e.g. the uniclip-small-itc run).")
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "covers")
    parser.add_argument("--split", default="test")
    parser.add_argument("--which", default="best", choices=("best", "last"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "uniclip_small.json")
    parser.add_argument(
        "--floor",
        action="append",
        default=[],
        metavar="MODEL",
        help="Also evaluate this untrained encoder (e.g. starter: what uniclip-starter starts from).",
    )
    args = parser.parse_args(argv)

    runs = [evaluate_run(run, args.dataset, args.split, args.which) for run in (args.run_a, args.run_b)]
    a, b = (r["metrics"]["all"] for r in runs)
    report = {
        "dataset": str(args.dataset),
        "split": args.split,
        "protocol": "cbvs",
        "command": "python scripts/report_uniclip_ablation.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "runs": runs,
        "floors": [evaluate_floor(name, args.dataset, args.split) for name in args.floor],
        "delta": {
            k: a[k] - b[k] for k in ("R@1", "R@5", "R@10", "NDCG@1", "NDCG@5", "NDCG@10", "MAP", "PNR")
        },
    }
    table = markdown(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
