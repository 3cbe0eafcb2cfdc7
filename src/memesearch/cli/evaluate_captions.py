"""``memesearch evaluate --captions``: caption metrics of a captioner on a dataset split
(:func:`memesearch.eval.captions.evaluate_captioner`), printed as a table and written as JSON + Markdown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memesearch.errors import ConfigError

_COLUMNS = (
    "BLEU-1",
    "BLEU-2",
    "BLEU-3",
    "BLEU-4",
    "ROUGE-L",
    "CIDEr-D",
    "exact",
    "i2t R@1",
    "i2t R@10",
    "i2t MdR",
)


def evaluate_captions(
    dataset: Path, splits: list[str], model: str, out: Path | None, *, text_model: str | None, beams: int = 1
) -> list[dict[str, Any]]:
    """Evaluate captioner ``model`` on each split; returns the reports (and writes them to ``out``)."""
    from rich.console import Console

    from memesearch.caption import DecodeConfig, load_captioner
    from memesearch.data.formats import read_dataset
    from memesearch.eval.captions import evaluate_captioner
    from memesearch.models import create_encoder

    ds = read_dataset(dataset)
    missing = [s for s in splits if s not in ds]
    if missing:
        raise ConfigError(
            f"{dataset} has no split {', '.join(missing)}; its splits: {', '.join(ds.split_names)}"
        )
    captioner = load_captioner(model)
    text = create_encoder(text_model or "e5-small")
    decode = DecodeConfig(num_beams=beams)
    reports = []
    console = Console()
    for split in splits:
        report = evaluate_captioner(captioner, ds, split, decode=decode, text_encoder=text)
        report.update(
            captioner=captioner.name, version=captioner.version, decode=decode.method, text_model=text.name
        )
        reports.append(report)
        console.print(markdown_table(report), highlight=False)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "caption_metrics.json").write_text(json.dumps(reports, ensure_ascii=False, indent=2) + "\n")
        (out / "caption_metrics.md").write_text("\n\n".join(markdown_table(r) for r in reports) + "\n")
        console.print(f"wrote {out / 'caption_metrics.json'}, {out / 'caption_metrics.md'}", highlight=False)
    return reports


def markdown_table(report: dict[str, Any]) -> str:
    """One row per language of a :func:`~memesearch.eval.captions.evaluate_captioner` report."""
    head = f"{report['split']} ({report['n_items']} items, {report.get('decode', 'greedy')})"
    lines = [f"| {head} | n | " + " | ".join(_COLUMNS) + " |", "|---" * (len(_COLUMNS) + 2) + "|"]
    for lang, m in report["languages"].items():
        cells = [f"{m[c]:.1f}" if c.endswith("MdR") else f"{m[c]:.3f}" if c in m else "" for c in _COLUMNS]
        lines.append(f"| {lang} | {int(m['n'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
