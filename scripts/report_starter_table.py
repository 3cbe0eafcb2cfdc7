"""The starter model's table in README.md: the image, text and lexical branches and their fusion on emoji,
and the committed starter versions side by side (image branch alone).

    python scripts/report_starter_table.py [--dataset data/emoji] [--versions NAMES]

For the ``test`` view (unseen concepts × held-out style) and the ``test-seen`` view (seen concepts ×
held-out style): image = the committed ``starter`` image tower + emotion gate against ``e5-small``
queries; text = ``e5-small`` on the items' passage (context texts joined, as the index embeds it);
lexical = BM25 on the same text; fused = weighted sum with weights chosen on the ``val`` split (R@10),
never on test. Emoji carry no OCR text, so the only context text is the oracle caption (the emoji's
en + zh name): the text, lexical and fused rows use it; without it the image row is the whole system.
English and Chinese queries are reported separately.

``--versions``: the image branch (tower + emotion gate, as trained and exported) of each committed
starter version on the same views, and on the realistic plain-folder condition of the calibrated-fusion
report ((a) emoji test as a plain list of image paths: no captions, no manifest emotions, OCR on, default
settings; an index per version under ``--work``, image branch of the index, gallery = the split). Writes
``docs/results/starter_emoji.{md,json}`` and the README block between the ``starter-table`` markers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from memesearch.utils.readme import write_block

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("R@1", "R@5", "R@10", "MdR", "MR")
LABELS = {
    "image": "image (starter)",
    "text": "text (oracle captions)",
    "lexical": "lexical (oracle captions)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "emoji")
    parser.add_argument("--views", default="test,test-seen")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    parser.add_argument("--no-readme", action="store_true", help="Do not update README.md.")
    parser.add_argument(
        "--versions",
        default="starter-v1,starter-v2,starter-v3",
        help="Starter versions compared (image branch); '' = none.",
    )
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "starter-versions")
    parser.add_argument(
        "--only-versions", action="store_true", help="Only the versions table (the main table is left as is)."
    )
    args = parser.parse_args(argv)

    from memesearch.cli.main import main as cli
    from memesearch.data.formats import read_dataset
    from memesearch.eval import compare as cmp
    from memesearch.models import create_encoder

    if not (args.dataset / "dataset.json").exists():
        code = cli(["datasets", "build", "emoji", "--out", str(args.dataset)])
        if code:
            return code
    ds = read_dataset(args.dataset)
    if args.versions:
        report_versions(args, ds)
    if args.only_versions:
        return 0
    starter = create_encoder("starter")
    e5 = create_encoder("e5-small")
    branches = cmp.default_branches(
        image=cmp.image_encoder_scorer(starter),
        text=cmp.text_encoder_scorer(e5, captions=True),
        captions=True,
    )
    rows: list[dict[str, object]] = []
    selections: dict[str, object] = {}
    for view in args.views.split(","):
        res = cmp.compare_branches(ds, view, branches, val_split="val", by_lang=True, metric="R@10")
        sel = res.selection
        best_single = max(v for w, v in sel.sweep if max(w.values()) == 1.0)
        selections[view] = {
            "weights": dict(sel.weights),
            "val_R@10_fused": sel.metric_value,
            "val_R@10_best_single_branch": best_single,
        }
        for r in res.rows():
            rows.append({"view": view, **r})
            print(view, r["queries"], r["branch"], {c: round(float(r[c]), 4) for c in COLUMNS}, flush=True)

    lines = [
        "Emoji benchmark, held-out style (facebook); `test` = unseen concepts, `test-seen` = concepts "
        "seen in training drawn in the unseen style. Gallery = the whole view; pessimistic ties; "
        "relevant = grade ≥ 1. "
        "text, lexical and fused use the oracle captions (the emoji's en + zh name — emoji have no OCR "
        "text), so they are a ceiling; the image row is what the starter model does from pixels and "
        "emotions alone.",
        "",
        "| view | queries | branch | n | " + " | ".join(COLUMNS) + " |",
        "|---|---|---|---:|" + "---:|" * len(COLUMNS),
    ]
    for r in rows:
        vals = " | ".join(f"{r[c]:.1f}" if c == "MdR" else f"{r[c]:.4f}" for c in COLUMNS)  # type: ignore[str-format]
        label = LABELS.get(str(r["branch"]), "fused (weights from val)")
        lines.append(f"| {r['view']} | {r['queries']} | {label} | {r['n']} | {vals} |")
    lines.append("")
    for view, s in selections.items():
        w = ", ".join(f"{k} {v:.1f}" for k, v in s["weights"].items())  # type: ignore[index]
        lines.append(
            f"Fusion for `{view}`: weights {w} chosen on `val` (R@10 fused {s['val_R@10_fused']:.4f} vs best "  # type: ignore[index]
            f"single branch {s['val_R@10_best_single_branch']:.4f})."  # type: ignore[index]
        )
    lines += ["", "Reproduce: `python scripts/report_starter_table.py` (after `make install`)."]
    table = "\n".join(lines)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "starter_emoji.md").write_text(table + "\n", encoding="utf-8")
    payload = {"rows": rows, "fusion": selections}
    (args.out / "starter_emoji.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if not args.no_readme:
        write_block(ROOT / "README.md", "starter-table", table, missing_ok=True)
    print(table)
    return 0


def report_versions(args: Any, ds: Any) -> None:
    """The versions table: ``docs/results/starter_versions.{md,json}`` and the README block between the
    ``starter-versions`` markers."""
    from memesearch.eval import compare as cmp
    from memesearch.models import create_encoder

    versions = [v for v in args.versions.split(",") if v]
    version_rows: list[dict[str, object]] = []
    for version in versions:
        scorer = {"image": cmp.image_encoder_scorer(create_encoder(version))}
        for view in args.views.split(","):
            res = cmp.compare_branches(ds, view, scorer, val_split="val", by_lang=True, metric="R@10")
            for r in res.rows():
                if r["branch"] == "image":
                    version_rows.append({"version": version, "condition": view, **r})
                    print(
                        version, view, r["queries"], {c: round(float(r[c]), 4) for c in COLUMNS}, flush=True
                    )
        for r in plain_folder_image(version, ds, "test", args.work):
            version_rows.append({"version": version, **r})
            print(
                version, r["condition"], r["queries"], {c: round(float(r[c]), 4) for c in COLUMNS}, flush=True
            )

    table = "\n".join(version_table(versions, version_rows))
    table += "\n\nReproduce: `python scripts/report_starter_table.py --only-versions`."
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "starter_versions.md").write_text(table + "\n", encoding="utf-8")
    payload = {"versions": versions, "rows": version_rows, "dataset": str(args.dataset)}
    (args.out / "starter_versions.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if not args.no_readme:
        write_block(ROOT / "README.md", "starter-versions", table, missing_ok=True)
    print(table)


def plain_folder_image(version: str, ds: Any, split: str, work: Path) -> list[dict[str, Any]]:
    """Image-branch rows of ``split`` indexed as a plain folder (paths only; OCR on, default settings)
    with the encoder ``version`` (an index under ``work``, reused when there)."""
    import csv

    from memesearch.eval.index_eval import evaluate_index, queries_from_dataset
    from memesearch.index import Index
    from memesearch.ingest import add_paths
    from memesearch.search import Searcher

    out = work / f"emoji-{split}-{version}"
    if not (out / "index.json").exists():
        listing = work / f"emoji-{split}.csv"
        listing.parent.mkdir(parents=True, exist_ok=True)
        with listing.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["path"])
            for it in ds[split].items:
                w.writerow([str(it.resolve_path(ds.root))])
        with Index.create(out, model=version) as idx:
            add_paths(idx, [listing], workers=0, progress=False)
    with Index.open(out, readonly=True) as idx:
        result = evaluate_index(Searcher(idx), queries_from_dataset(ds, split, idx, gallery="split"))
    rows = []
    for group, branches in result.reports.items():
        m = branches["image"].metrics
        n = branches["image"].n_queries.get("with_relevant", 0)
        rows.append({"condition": f"(a) {split}, plain folder", "queries": group, "n": n,
                     **{c: float(m[c]) for c in COLUMNS if c in m}})  # fmt: skip
    return rows


def version_table(versions: list[str], rows: list[dict[str, Any]]) -> list[str]:
    """Markdown: one row per (condition, queries), R@1 / R@10 / MdR of each version side by side."""
    shown = ("R@1", "R@10", "MdR")
    head = "| condition | queries | n | " + " | ".join(f"{m} {v}" for m in shown for v in versions) + " |"
    out = [
        "The committed starter versions side by side, image branch alone (tower + emotion gate; no "
        "captions, no text): the views above, and the realistic (a) emoji plain folder of the "
        "calibrated-fusion report (test images as a plain list of paths, OCR on, default settings; the "
        "index's image branch).",
        "",
        head,
        "|---|---|---:|" + "---:|" * (len(shown) * len(versions)),
    ]
    keys: list[tuple[str, str]] = []
    for r in rows:
        key = (str(r["condition"]), str(r["queries"]))
        if key not in keys:
            keys.append(key)
    for cond, group in keys:
        by_version = {str(r["version"]): r for r in rows if (r["condition"], r["queries"]) == (cond, group)}
        n = next(iter(by_version.values()))["n"]
        cells = []
        for m in shown:
            for v in versions:
                val = by_version.get(v, {}).get(m)
                cells.append("—" if val is None else (f"{val:.1f}" if m == "MdR" else f"{val:.4f}"))
        out.append(f"| {cond} | {group} | {n} | " + " | ".join(cells) + " |")
    return out


if __name__ == "__main__":
    sys.exit(main())
