"""Fit the default calibrated fusion of the ``starter`` model under realistic conditions, and report it.

Realistic = what a person's own folder gives: every index below is built from a plain list of image paths
(no captions, no emotion tags from a manifest), with OCR on and the default settings, and is searched with
the benchmark's chat-like queries in English and Chinese:

* (a) the emoji benchmark as a plain folder — ``val`` (train styles) to fit, ``test`` (unseen concepts in
  the held-out style) to report;
* (b) the text-meme benchmark (``memesearch datasets build memes``) — ``val`` to fit, ``test`` to report;
* (c) the two test galleries mixed in one index, each benchmark's queries judged on their own items.

Given captions are fitted on too, realistic ones: (e) the text-meme val split with each meme's own text as
its caption (what a person who captions a sticker writes; OCR off), never the benchmark's answers.

Generated captions are their own kind of evidence: (a) val and (b) val are indexed a second time with
``--captioner starter-caption`` (what a plain folder gives with generated captions), and those pairs join
the fit: in two stages (:mod:`memesearch.eval.calibrate_generated`: everything as before on the pairs without
generated text, then ``<branch>:generated`` calibrators and weights on the pairs whose text is generated),
each stage with its own cross-validated regularisation. Which branches get one is chosen by the same
query-wise cross-validation on val (:data:`SPLIT_VARIANTS`; none = one joint fit over all pairs). The report
shows every
val condition — no captions, generated captions, and (d) emoji val with its given captions — under the
calibration shipped before and the new one ("before / after"), so that no old condition gets worse.

The calibration is fitted on the pairs of (a) val + (b) val only (nothing is chosen on test): the per-branch
regularisation is chosen by query-wise cross-validation on those pairs, so that neither condition's fused
R@1, R@10 or NDCG@10 falls measurably below its best single branch, then for the largest mean gain
(:func:`memesearch.eval.calibrate.select_branch_c`). For each condition the report gives every branch
alone, the uncalibrated weighted sum the index records by default (image 0.2, text 0.5, lexical 0.3) and
the calibrated fusion, per language, and how the fusion compares with the best single branch; the
calibration's expected calibration error, reliability plot and the precision / recall of the cut at
relevance 0.5. Each condition's queries are encoded once. With
``--write-default`` the calibration becomes the one new ``starter`` indexes record
(``src/memesearch/index/defaults/calibration-starter.json``), and the same fit, signed for the name of the
version ``starter`` is today (``calibration-starter-v3.json``: the signature includes the encoder's name),
the one new ``--model starter-v3`` indexes record. ``--model starter-v1`` does all of this with another
committed version: its indexes, ``defaults/calibration-starter-v1.json`` (what new ``--model starter-v1``
indexes record), ``docs/results/calibration_starter-v1.{md,json}``, and in the README (between the
``calibration-table-starter-v1`` markers) a summary beside the default model's report;
``--summary-only`` rewrites that summary from the saved report.

    memesearch datasets build emoji --out data/emoji
    memesearch datasets build memes --out data/memes
    python scripts/fit_default_calibration.py --emoji data/emoji --memes data/memes --write-default
    python scripts/fit_default_calibration.py --write-default --model starter-v1
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS_DIR = ROOT / "src" / "memesearch" / "index" / "defaults"
DEFAULT_FILE = DEFAULTS_DIR / "calibration-starter.json"
#: the model every index below is built with (``--model``): ``starter`` (the default) or a committed
#: version by name (``starter-v1``), whose shipped calibration is ``defaults/calibration-<model>.json``
MODEL = "starter"
SHOWN = ("R@1", "R@5", "R@10", "MdR", "NDCG@10", "MAP")
CAPTIONER = "starter-caption"
#: the branches that may get a calibrator for generated-caption evidence, tried in turn on val
SPLIT_VARIANTS: tuple[tuple[str, ...], ...] = (
    (),
    ("text", "lexical"),
    ("text", "lexical", "emotion"),
    ("image", "text", "lexical", "emotion"),
)
#: the metrics of the before / after table
COMPARED = ("R@1", "R@10", "NDCG@10", "MAP")


def plain_list(dataset: Any, splits: list[str], path: Path) -> Path:
    """A CSV list holding only the image paths of ``splits`` (no captions, no emotions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path"])
        for split in splits:
            for it in dataset[split].items:
                w.writerow([str(it.resolve_path(dataset.root))])
    return path


def build_index(out: Path, lists: list[Path], workers: int | None, captioner: str | None = None) -> Path:
    """An uncalibrated :data:`MODEL` index of ``lists`` at ``out`` (reused when there), with generated
    captions when ``captioner`` names one."""
    from memesearch.index import Index
    from memesearch.ingest import add_paths

    idx = (
        Index.open(out)
        if (out / "index.json").exists()
        else Index.create(out, model=MODEL, captioner=captioner)
    )
    with idx:
        if idx.config.calibration is not None:
            idx.update_config(calibration=None)  # fit and compare against the uncalibrated index
        s = add_paths(idx, lists, workers=workers, progress=sys.stderr.isatty())
        stages = ", ".join(f"{k} {v['items_per_s']:.1f}/s" for k, v in s.stages.items())
        print(
            f"{out.name}: indexed {len(s.indexed)}, skipped {s.skipped}, {len(idx)} items; {stages}",
            flush=True,
        )
    return out


def given_captions_index(out: Path, emoji_root: Path, workers: int | None) -> Path:
    """(d): emoji val from its manifest, given (oracle) captions and emotions kept: the old best case."""
    from memesearch.index import Index
    from memesearch.ingest import add_paths

    exists = (out / "index.json").exists()
    idx = Index.open(out) if exists else Index.create(out, model=MODEL, oracle_captions=True)
    with idx:
        if idx.config.calibration is not None:
            idx.update_config(calibration=None)
        add_paths(idx, [emoji_root], splits=["val"], workers=workers, progress=sys.stderr.isatty())
    return out


def own_text_captions_index(out: Path, memes: Any, workers: int | None) -> Path:
    """(e): text-meme val with each meme's own text given as its caption (none for a meme without text),
    OCR off: given captions, realistic ones (what a person who captions a sticker writes is what it says;
    not the benchmark's answers, which are the memes' concepts)."""
    from memesearch.index import Index
    from memesearch.ingest import add_paths

    manifest = out.parent / "lists" / "memes-val-own-text.jsonl"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for item in memes["val"].items:
        meta = item.meta or {}
        text = meta.get("rendered_text") if meta.get("has_text") else None
        rows.append({"path": str(item.resolve_path(memes.root)), "captions": [text] if text else []})
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    exists = (out / "index.json").exists()
    idx = Index.open(out) if exists else Index.create(out, model=MODEL, ocr=False)
    with idx:
        if idx.config.calibration is not None:
            idx.update_config(calibration=None)
        add_paths(idx, [manifest], workers=workers, progress=sys.stderr.isatty())
    return out


def choose_split(pairs: Any) -> tuple[tuple[str, ...], float, dict[str, Any]]:
    """The :data:`SPLIT_VARIANTS` entry (and its per-branch ``C``, stage 1's and the generated-caption
    calibrators') of best cross-validated ranking on val: admissible first (no condition below its best
    branch), then the largest mean gain."""
    from memesearch.eval.calibrate import select_branch_c

    tried, best = [], None
    for split in SPLIT_VARIANTS:
        c, record = select_branch_c(pairs, split_generated=split)
        row = record["result"]
        key = (row["admissible"], row["mean_gain"])
        tried.append({"split_generated": list(split), "c": c, "c_generated": record["c_generated"],
                      "admissible": row["admissible"], "mean_gain": row["mean_gain"],
                      "groups": row["groups"]})  # fmt: skip
        print(f"split {list(split)}: C={c} C(generated)={record['c_generated']} "
              f"admissible={row['admissible']} mean gain {row['mean_gain']:+.4f}")  # fmt: skip
        if best is None or key > best[0]:
            best = (key, split, c, record)
    assert best is not None
    _, split, c, record = best
    return split, c, {**record, "variants": tried}


def mixed_queries(index: Any, parts: list[tuple[str, Any, str]]) -> Any:
    """Queries of several benchmarks over one mixed index; labels and qrels prefixed by the benchmark."""
    from memesearch.data.records import Query
    from memesearch.eval.index_eval import IndexQueries, queries_from_dataset

    queries, columns, labels = [], [], []
    for name, ds, split in parts:
        q = queries_from_dataset(ds, split, index, gallery="split")
        queries += [Query(f"{name}:{x.id}", x.text, {f"{name}:{k}": g for k, g in x.qrels.items()}, x.meta)
                    for x in q.queries]  # fmt: skip
        columns.append(q.columns)
        labels += [f"{name}:{lab}" for lab in q.labels]
    return IndexQueries(queries, np.concatenate(columns), labels, "+".join(p[0] for p in parts))


def against_best_branch(reports: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """For R@10 and NDCG@10: the calibrated fusion's value, the best single branch's and its name."""
    out = {}
    for metric in ("R@10", "NDCG@10"):
        branch = max((b for b in reports if b != "fused"), key=lambda b: reports[b].metrics[metric])
        out[metric] = {
            "fused": reports["fused"].metrics[metric],
            "best": reports[branch].metrics[metric],
            "branch": branch,
        }
    return out


def summary_table(model: str, report: dict[str, Any], default: dict[str, Any] | None) -> str:
    """The README block of a non-default model: per condition, its calibrated fusion (all queries) beside
    the default model's (``docs/results/calibration.json``) — the full report is in docs/results."""

    def fused(rep: dict[str, Any], label: str) -> dict[str, float] | None:
        rows = rep.get("conditions", {}).get(label, {}).get("rows", [])
        return next((r for r in rows if r["queries"] == "all" and r["ranking"] == "fused, calibrated"), None)

    metrics = ("R@1", "R@10", "NDCG@10")
    lines = [
        f"Calibrated fusion, all queries, realistic conditions (plain folders, OCR on; fitted on val only): "
        f"`{model}` with its own calibration beside the default `starter` with the shipped one "
        f"(`docs/results/calibration.json`). Full report: `docs/results/calibration_{model}.md`.",
        "",
        "| condition | n | " + " | ".join(f"{m} starter | {m} {model}" for m in metrics) + " |",
        "|---|---:|" + "---:|---:|" * len(metrics),
    ]
    for label in report["conditions"]:
        mine = fused(report, label)
        base = fused(default, label) if default else None
        if mine is None:
            continue
        n = report["versus_shipped"].get(label, {}).get("queries", "")
        cells = " | ".join((f"{base[m]:.4f}" if base else "—") + f" | {mine[m]:.4f}" for m in metrics)
        lines.append(f"| {label} | {n} | {cells} |")
    lines += ["", f"Reproduce: `python scripts/fit_default_calibration.py --write-default --model {model}`."]
    return "\n".join(lines)


def write_readme_block(marker: str, table: str) -> None:
    from memesearch.utils.readme import write_block

    write_block(ROOT / "README.md", marker, table, missing_ok=True)


def same_weights_aliases(model: str) -> list[str]:
    """The other committed starter names whose weights are ``model``'s (the default and its version)."""
    from memesearch.models.starter.encoder import COMMITTED_WEIGHTS

    folder = COMMITTED_WEIGHTS.get(model)
    return [name for name, f in COMMITTED_WEIGHTS.items() if f == folder and name != model and folder]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emoji", type=Path, default=ROOT / "data" / "emoji")
    ap.add_argument("--memes", type=Path, default=ROOT / "data" / "memes")
    ap.add_argument("--model", default="starter", help="The model of every index (starter, starter-v1).")
    ap.add_argument("--work", type=Path, default=None, help="Index folder (build/calibration[-MODEL]).")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--write-default", action="store_true", help="Write the calibration new indexes record.")
    ap.add_argument(
        "--summary-only",
        action="store_true",
        help="Only rewrite the README block of --model from its saved report (no indexing, no fit).",
    )
    args = ap.parse_args()
    global MODEL
    MODEL = args.model
    suffix = "" if MODEL == "starter" else f"_{MODEL}"
    default_file = DEFAULTS_DIR / f"calibration-{MODEL}.json"
    if args.work is None:
        args.work = ROOT / "build" / ("calibration" if MODEL == "starter" else f"calibration-{MODEL}")
    if args.summary_only:
        if MODEL == "starter":
            ap.error("--summary-only is for a non-default --model (the default's block is the full report)")
        saved = json.loads((args.out / f"calibration{suffix}.json").read_text(encoding="utf-8"))
        default_path = args.out / "calibration.json"
        default = json.loads(default_path.read_text(encoding="utf-8")) if default_path.is_file() else None
        write_readme_block(f"calibration-table-{MODEL}", summary_table(MODEL, saved, default))
        return 0

    from memesearch.data.formats import read_dataset
    from memesearch.eval.calibrate import (
        PairSet,
        calibration_metrics,
        collect_pairs,
        fit_calibration,
        plot_reliability,
        with_calibration,
    )
    from memesearch.eval.index_eval import evaluate_index, queries_from_dataset
    from memesearch.index import Index
    from memesearch.index.config import encoder_signature
    from memesearch.index.info import encoder_dict
    from memesearch.models import create_encoder
    from memesearch.search import Searcher
    from memesearch.search.calibration import Calibration

    emoji, memes = read_dataset(args.emoji), read_dataset(args.memes)
    work = args.work
    lists = {
        (name, split): plain_list(ds, [split], work / "lists" / f"{name}-{split}.csv")
        for name, ds in (("emoji", emoji), ("memes", memes))
        for split in ("val", "test")
    }
    for (name, split), lst in lists.items():
        build_index(work / f"{name}-{split}", [lst], args.workers)
    build_index(work / "mixed-test", [lists[("emoji", "test")], lists[("memes", "test")]], args.workers)
    for name in ("emoji", "memes"):
        build_index(work / f"{name}-val-captioned", [lists[(name, "val")]], args.workers, CAPTIONER)
    given_captions_index(work / "emoji-val-given", args.emoji, args.workers)
    own_text_captions_index(work / "memes-val-own-text", memes, args.workers)
    # the calibration new indexes of this model record today; none: they fuse with the weighted sum
    shipped = (
        Calibration.from_dict(json.loads(default_file.read_text(encoding="utf-8")))
        if default_file.is_file()
        else None
    )

    conditions = {
        "(a) emoji, plain folder": ("emoji-test", [("emoji", emoji, "test")]),
        "(b) text memes": ("memes-test", [("memes", memes, "test")]),
        "(c) emoji + memes mixed": ("mixed-test", [("emoji", emoji, "test"), ("memes", memes, "test")]),
        "(a) emoji val": ("emoji-val", [("emoji", emoji, "val")]),
        "(b) memes val": ("memes-val", [("memes", memes, "val")]),
        "(a) emoji val, generated captions": ("emoji-val-captioned", [("emoji", emoji, "val")]),
        "(b) memes val, generated captions": ("memes-val-captioned", [("memes", memes, "val")]),
        "(e) memes val, own text as captions": ("memes-val-own-text", [("memes", memes, "val")]),
        "(d) emoji val, given captions": ("emoji-val-given", [("emoji", emoji, "val")]),
    }
    fit_on = ("(a) emoji val", "(b) memes val", "(a) emoji val, generated captions",
              "(b) memes val, generated captions", "(e) memes val, own text as captions")  # fmt: skip
    scored: dict[str, Any] = {}  # index name -> (queries, score_matrix result): each encoded once

    def score(idx: Any, index_name: str, parts: list[tuple[str, Any, str]]) -> Any:
        if index_name not in scored:
            qs = (
                queries_from_dataset(parts[0][1], parts[0][2], idx, gallery="split")
                if len(parts) == 1
                else mixed_queries(idx, parts)
            )
            plain = Searcher(idx)
            plain.calibration = None
            scored[index_name] = (qs, plain.score_matrix([q.text for q in qs.queries]))
        return scored[index_name]

    # ---- fit on val of (a) + (b), realistic conditions only
    fit_parts = []
    for label in fit_on:
        index_name, parts = conditions[label]
        with Index.open(work / index_name, readonly=True) as idx:
            qs, matrices = score(idx, index_name, parts)
            fit_parts.append(collect_pairs(Searcher(idx), qs, precomputed=matrices))
    pairs = PairSet.concat(fit_parts)
    split, c, record = choose_split(pairs)
    calibration = fit_calibration(
        pairs,
        c=c,
        c_generated=record["c_generated"],
        split_generated=split,
        fitted_on={
            "data": "emoji val as a plain folder + text-meme val; OCR on, no given captions, no manifest "
            f"emotions; each also with generated captions ({CAPTIONER}); text-meme val with each meme's "
            "own text as its given caption, OCR off",
            "groups": list(fit_on),
            "pairs": len(pairs),
            "relevant_pairs": int(pairs.labels.sum()),
            "command": "python scripts/fit_default_calibration.py --write-default"
            + ("" if MODEL == "starter" else f" --model {MODEL}"),
        },
    )
    calibration.fitted_on["branch_c"] = record
    calibration.metrics["val"] = {
        k: v for k, v in calibration_metrics(calibration, pairs).items() if k != "reliability"
    }

    # ---- report on test (and val, for the "fused >= best branch" check)
    report: dict[str, Any] = {"calibration": calibration.to_dict(), "conditions": {}}
    versus_shipped: dict[str, dict[str, Any]] = {}
    md = [
        "Realistic conditions (plain lists of image paths: no given captions, no manifest emotions; OCR on; "
        f"{MODEL} model); calibration fitted on (a) val + (b) val only, each as is and with generated "
        f"captions (`{CAPTIONER}`), and (e) = (b) val with each meme's own text as its given caption (OCR "
        "off), in two stages (generated-caption evidence apart); each stage's per-branch "
        "regularisation and which branches get generated-caption calibrators chosen by "
        f"{calibration.fitted_on['branch_c'].get('folds', 0)}-fold cross-validation over their queries. "
        "(d) = emoji val with its given captions and emotions, reported only. Gallery = the condition's "
        "items; pessimistic ties; relevant = grade >= 1.",
        "",
    ]
    for label, (index_name, parts) in conditions.items():
        with Index.open(work / index_name, readonly=True) as idx:
            qs, (rowids, matrices) = score(idx, index_name, parts)
            plain = Searcher(idx)
            plain.calibration = None
            calibrated = Searcher(idx)
            calibrated.calibration = calibration
            items = plain.item_features(rowids)
            before = evaluate_index(plain, qs, precomputed=(rowids, matrices))
            after = evaluate_index(
                calibrated,
                qs,
                precomputed=(rowids, with_calibration(calibration, rowids, matrices, items)),
            )
            previous = (
                evaluate_index(
                    calibrated, qs, precomputed=(rowids, with_calibration(shipped, rowids, matrices, items))
                )
                if shipped is not None
                else before
            )
            versus_shipped[label] = {
                "before": {m: previous.reports["all"]["fused"].metrics[m] for m in COMPARED},
                "after": {m: after.reports["all"]["fused"].metrics[m] for m in COMPARED},
                "queries": after.reports["all"]["fused"].n_queries.get("with_relevant", 0),
            }
            cal_metrics = calibration_metrics(
                calibration, collect_pairs(plain, qs, precomputed=(rowids, matrices))
            )
        png = args.out / f"calibration_reliability{suffix}_{index_name}.png"
        plot_reliability(cal_metrics, png, title=f"{label}: calibrated relevance vs observed")
        rows = []
        for group in after.reports:
            for branch in after.reports[group]:
                if branch == "fused":
                    continue
                rows.append((group, branch, after.reports[group][branch]))
            rows.append((group, "fused, weighted sum (uncalibrated)", before.reports[group]["fused"]))
            rows.append((group, "fused, calibrated", after.reports[group]["fused"]))
        md += [f"### {label}", "", "| queries | ranking | n | " + " | ".join(SHOWN) + " |",
               "|---|---|---:|" + "---:|" * len(SHOWN)]  # fmt: skip
        for group, name, rep in rows:
            vals = " | ".join(
                f"{rep.metrics[c]:.1f}" if c == "MdR" else f"{rep.metrics[c]:.4f}" for c in SHOWN
            )
            md.append(f"| {group} | {name} | {rep.n_queries.get('with_relevant', 0)} | {vals} |")
        versus = against_best_branch(after.reports["all"])
        cm = cal_metrics
        md += [
            "",
            "Calibrated fusion vs the best single branch (all queries): "
            + "; ".join(
                f"{m} {v['fused']:.4f} vs {v['best']:.4f} ({v['branch']}, {v['fused'] - v['best']:+.4f})"
                for m, v in versus.items()
            )
            + ".",
            "",
            f"Calibration on these pairs: ECE {cm['ece']:.3f}; at relevance >= 0.5: precision "
            f"{cm['precision_at_cut']:.3f}, recall {cm['recall_at_cut_all']:.3f} of all relevant items "
            f"({cm['queries_with_no_hit_at_cut']} of {cm['queries']} queries get no hit). "
            f"Reliability plot: `docs/results/{png.name}`.",
            "",
        ]
        report["conditions"][label] = {
            "rows": [{"queries": g, "ranking": n, **rep.metrics} for g, n, rep in rows],
            "fused_vs_best_branch": versus,
            "calibration": {k: v for k, v in cal_metrics.items() if k != "reliability"},
            "reliability": cal_metrics["reliability"],
        }
    md += [
        "### Before / after: the calibration shipped before vs this one (fused ranking, all queries)"
        + ("" if shipped is not None else f"; no calibration was shipped for {MODEL}: before = weighted sum"),
        "",
        "Generated-caption calibrators chosen on val: "
        f"{list(calibration.fitted_on['split_generated']) or 'none'}"
        " (cross-validated mean gain over the best single branch: "
        + "; ".join(
            f"{v['split_generated'] or 'none'} {v['mean_gain']:+.4f}"
            + ("" if v["admissible"] else " (not admissible)")
            for v in calibration.fitted_on["branch_c"]["variants"]
        )
        + ").",
        "",
        "| condition | n | " + " | ".join(f"{m} before | {m} after" for m in COMPARED) + " |",
        "|---|---:|" + "---:|---:|" * len(COMPARED),
    ]
    for label, row in versus_shipped.items():
        cells = " | ".join(f"{row['before'][m]:.4f} | {row['after'][m]:.4f}" for m in COMPARED)
        md.append(f"| {label} | {row['queries']} | {cells} |")
    report["versus_shipped"] = versus_shipped
    flag = "" if MODEL == "starter" else f" --model {MODEL}"
    md += ["", f"Reproduce: `python scripts/fit_default_calibration.py --write-default{flag}` (after "
           "building both benchmarks into data/)."]  # fmt: skip
    table = "\n".join(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"calibration{suffix}.md").write_text(table + "\n", encoding="utf-8")
    (args.out / f"calibration{suffix}.json").write_text(
        json.dumps(report, indent=2, default=float) + "\n", encoding="utf-8"
    )
    if MODEL == "starter":
        write_readme_block("calibration-table", table)
    else:
        default_path = args.out / "calibration.json"
        default = json.loads(default_path.read_text(encoding="utf-8")) if default_path.is_file() else None
        write_readme_block(f"calibration-table-{MODEL}", summary_table(MODEL, report, default))
    if args.write_default:
        with Index.open(work / "emoji-val", readonly=True) as idx:
            signature = idx.info["encoder"]["signature"]
        default = replace(calibration, fitted_on={**calibration.fitted_on, "encoder_signature": signature})
        default_file.parent.mkdir(parents=True, exist_ok=True)
        default_file.write_text(json.dumps(default.to_dict(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {default_file}")
        for alias in same_weights_aliases(MODEL):
            # the same weights under another name (``starter`` and the version it is today): the same fit,
            # recorded with that name's encoder signature (the signature includes the name)
            alias_sig = encoder_signature(encoder_dict(create_encoder(alias, device="cpu")))
            alias_cal = replace(
                calibration, fitted_on={**calibration.fitted_on, "encoder_signature": alias_sig}
            )
            alias_file = DEFAULTS_DIR / f"calibration-{alias}.json"
            alias_file.write_text(json.dumps(alias_cal.to_dict(), indent=2) + "\n", encoding="utf-8")
            print(f"wrote {alias_file} (the same weights as {MODEL})")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
