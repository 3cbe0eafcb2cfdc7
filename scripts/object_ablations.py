"""Train and compare the ablations of the ``object-guided`` Task in one command (issue 14 item 4).

Variants (each a ``memesearch train`` run of the same preset with ``--set`` overrides):

* ``untrained`` — no training: the starter tower as initialised (step 0; the alpha input starts at zero);
* ``full`` — region + global loss, alpha (mask) input on;
* ``no-alpha`` — region + global, no mask input;
* ``region-only`` — region loss only, alpha on;
* ``global-only`` — whole-collage loss only (no regions in training; collages scored as wholes).

Each row is the run's best validation (``select_metric`` on the val split, never test): ``R@K``/``MdR``
of collage retrieval (a query scores a collage by its best truth region, or the whole collage when the
region branch is off), region <-> text T2I ``region_R@1/10`` and whole-collage ``global_R@10``.

    python scripts/object_ablations.py --preset object-guided-small [--variants full,no-alpha]
        [--set epochs=2 ...] [--out docs/results/object_ablations.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

VARIANTS: dict[str, list[str]] = {
    "untrained": [],
    "full": ["task_config.branches=[region,global]", "task_config.alpha=true"],
    "no-alpha": ["task_config.branches=[region,global]", "task_config.alpha=false"],
    "region-only": ["task_config.branches=[region]", "task_config.alpha=true"],
    "global-only": ["task_config.branches=[global]", "task_config.alpha=false"],
}
COLUMNS = ("R@1", "R@5", "R@10", "MdR", "region_R@1", "region_R@10", "global_R@10")


def untrained_metrics(preset: str, overrides: list[str]) -> dict[str, float]:
    """Validation of the initial model (both branches scored), without any step."""
    import torch

    from memesearch.train.run import resolve_config
    from memesearch.train.task import create_task

    cfg = resolve_config(None, overrides, preset, None)
    task, _ = create_task(cfg.task, {**cfg.task_config, "branches": ["region", "global"]})
    model = task.build_model().eval()
    with torch.no_grad():
        return task.validate(model, torch.device("cpu"))


def best_metrics(run_dir: Path) -> dict[str, float]:
    """The metrics of the validation that chose the run's best checkpoint."""
    best = json.loads((run_dir / "checkpoints" / "best.json").read_text())
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("kind") == "val" and row.get("step") == best["step"]:
            return {k: float(v) for k, v in row["metrics"].items()}
    raise RuntimeError(f"{run_dir}: no validation at the best step {best['step']}")


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| variant | " + " | ".join(COLUMNS) + " | run |", "|---|" + "---|" * (len(COLUMNS) + 1)]
    for r in rows:
        m = r["metrics"]
        cells = ["-" if c not in m else (f"{m[c]:g}" if c == "MdR" else f"{m[c]:.4f}") for c in COLUMNS]
        lines.append(f"| {r['variant']} | " + " | ".join(cells) + f" | {r.get('run') or '-'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="object-guided-small")
    ap.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}"
    )
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="key=value for every run")
    ap.add_argument("--out", type=Path, help="write the rows as JSON (and a .md table beside it)")
    args = ap.parse_args(argv)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variants {unknown}; valid: {', '.join(VARIANTS)}")
    from memesearch.train.run import run_training

    rows: list[dict[str, Any]] = []
    for name in names:
        t0 = time.perf_counter()
        if name == "untrained":
            rows.append({"variant": name, "metrics": untrained_metrics(args.preset, args.overrides)})
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            sets = [*args.overrides, *VARIANTS[name], f"run_name=object-guided-{name}-{stamp}"]
            result = run_training(None, sets, args.preset)
            rows.append(
                {"variant": name, "metrics": best_metrics(result.run_dir), "run": str(result.run_dir)}
            )
        rows[-1]["seconds"] = round(time.perf_counter() - t0, 1)
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    text = table(rows)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"preset": args.preset, "overrides": args.overrides, "rows": rows}, indent=2)
        )
        args.out.with_suffix(".md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
