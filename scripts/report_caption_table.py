"""Write the starter captioner's numbers into README.md (between ``<!-- caption-table:start/end -->``).

Reads what committed commands wrote — nothing is typed by hand:

* ``src/memesearch/caption/weights/starter-caption/metrics.json``: ``memesearch export RUN --dataset
  data/emoji`` (caption metrics of the shipped weights on val, test-seen and test);
* ``docs/results/caption_retrieval.json``: ``python scripts/measure_caption_retrieval.py`` (fused search
  metrics of a plain folder indexed without and with generated captions);
* ``docs/results/bench_caption.json`` when present: ``python bench/bench_caption.py``.

    python scripts/report_caption_table.py            # rewrites the README block
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memesearch.utils.readme import write_block

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "src" / "memesearch" / "caption" / "weights" / "starter-caption"
RETRIEVAL = ROOT / "docs" / "results" / "caption_retrieval.json"
BENCH = ROOT / "docs" / "results" / "bench_caption.json"
CAPTION_COLUMNS = ("BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr-D", "exact", "i2t R@1", "i2t R@10")
VIEWS = {
    "val": "val (unseen concepts, train styles)",
    "test-seen": "test-seen (seen concepts, unseen style)",
    "test": "test (unseen concepts, unseen style)",
}


def caption_table(metrics: dict[str, Any]) -> list[str]:
    lines = [
        "| view | lang | n | " + " | ".join(CAPTION_COLUMNS) + " |",
        "|---|---|---:|" + "---:|" * len(CAPTION_COLUMNS),
    ]
    for split, label in VIEWS.items():
        report = metrics["splits"].get(split)
        if report is None:
            continue
        for lang, m in report["languages"].items():
            cells = " | ".join(f"{m[c]:.3f}" for c in CAPTION_COLUMNS)
            lines.append(f"| {label} | {lang} | {int(m['n'])} | {cells} |")
    return lines


def examples(metrics: dict[str, Any], split: str = "test-seen", n: int = 4) -> list[str]:
    report = metrics["splits"].get(split)
    if report is None:
        return []
    out = []
    for lang, rows in report["examples"].items():
        shown = "; ".join(f"“{r['caption']}” (reference: {' / '.join(r['references'])})" for r in rows[:n])
        out.append(f"- {split}, {lang}: {shown}")
    return out


def retrieval_table(data: dict[str, Any]) -> list[str]:
    shown = ("R@1", "R@5", "R@10", "MdR", "MAP")
    lines = [
        "| view | queries | ranking | captions | n | " + " | ".join(shown) + " |",
        "|---|---|---|---|---:|" + "---:|" * len(shown),
    ]
    conditions = data["conditions"]
    first = next(iter(conditions.values()))
    for split, groups in first["splits"].items():
        for group in groups:
            for branch in ("text", "lexical", "fused") if group == "all" else ("fused",):
                for name, cond in conditions.items():
                    m = cond["splits"][split][group][branch]
                    cells = " | ".join(f"{m[k]:.1f}" if k == "MdR" else f"{m[k]:.4f}" for k in shown)
                    lines.append(f"| {split} | {group} | {branch} | {name} | {m['n']} | {cells} |")
    return lines


def calibration_version(data: dict[str, Any]) -> str:
    """The calibration version the measurement ran with (recorded since version 3)."""
    first = next(iter(data["conditions"].values()))
    return str(first.get("calibration", {}).get("version", "2"))


def bench_table(data: dict[str, Any]) -> list[str]:
    lines = [
        "| captioner | parameters (mapper + decoder) | batch | captions/s | tokens/s | tokens per caption |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in data["rows"]:
        lines.append(
            f"| {r['captioner']} | {r['parameters'] / 1e6:.1f}M | {r['batch']} | {r['captions_per_s']} | "
            f"{r['tokens_per_s']} | {r['mean_tokens']} |"
        )
    return lines


def main() -> int:
    metrics = json.loads((WEIGHTS / "metrics.json").read_text(encoding="utf-8"))
    block = ["Caption metrics of the shipped weights (greedy decoding; references = the item's CLDR "
             "name in that language; `exact` = the caption equals the name; `i2t` = the split's names "
             "retrieved by the caption's e5-small embedding, the item's own name relevant):", ""]  # fmt: skip
    block += caption_table(metrics)
    block += ["", "Examples (the first items of each language):", "", *examples(metrics)]
    if RETRIEVAL.is_file():
        data = json.loads(RETRIEVAL.read_text(encoding="utf-8"))
        block += ["", "Search with and without generated captions, realistic conditions (a plain list of "
                  "the held-out-style images: no captions, no manifest emotions; OCR on; `starter` model "
                  f"with its default calibration, version {calibration_version(data)}; gallery = the split's "
                  "items):", ""]  # fmt: skip
        block += retrieval_table(data)
        stages = {name: cond["index_stages_s"] for name, cond in data["conditions"].items()}
        timing = "; ".join(
            f"{name}: enrich stage {st['enrich']:.0f} s of {sum(st.values()):.0f} s"
            for name, st in stages.items()
        )
        n = data.get("n_items", "same")
        block += ["", f"Indexing the {n} images (OCR on, 2 shared cores; the enrich stage holds the "
                  "captioner and the emotion tagger, prepare holds OCR, whose time varies with the load): "
                  f"{timing}.", "", f"Reproduce: `{data['command']}`."]  # fmt: skip
    if BENCH.is_file():
        data = json.loads(BENCH.read_text(encoding="utf-8"))
        block += ["", f"Speed on 2 shared CPU cores (`python bench/bench_caption.py`; cpu pressure "
                  f"{data['cpu_pressure']}):", ""]  # fmt: skip
        block += bench_table(data)
    block += ["", "Reproduce: `python scripts/report_caption_table.py` (after the commands above)."]
    if not write_block(ROOT / "README.md", "caption-table", "\n".join(block), missing_ok=True):
        raise SystemExit("README.md has no caption-table block; add one where the table belongs")
    print("README.md updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
