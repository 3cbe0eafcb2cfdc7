"""``memesearch evaluate --objects``: whole-image vs region retrieval on the collages benchmark
(:func:`memesearch.eval.objects.evaluate_objects`), printed as a table and written as JSON + Markdown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memesearch.errors import ConfigError


def evaluate_objects_cli(
    dataset: Path,
    split: str,
    model: str | None,
    out: Path | None,
    *,
    segmenter: str = "auto",
    max_regions: int = 16,
    global_weight: float = 0.0,
    dense_side: int = 256,
    oracle: bool = True,
) -> dict[str, Any]:
    """Evaluate ``model`` (default ``starter``) on ``split`` of a collages dataset; returns the report (and
    writes ``objects.json`` + ``objects.md`` into ``out``)."""
    from rich.console import Console

    from memesearch.data.formats import read_dataset
    from memesearch.eval.objects import (
        ObjectsEvalConfig,
        evaluate_objects,
        objects_table,
        region_text_table,
    )
    from memesearch.models import create_encoder

    ds = read_dataset(dataset)
    if split not in ds:
        raise ConfigError(f"{dataset} has no split {split!r}; its splits: {', '.join(ds.split_names)}")
    config = ObjectsEvalConfig(
        split=split,
        segmenter=segmenter,
        max_regions=max_regions,
        global_weight=global_weight,
        dense_side=dense_side,
        oracle=oracle,
    )
    encoder = create_encoder(model or "starter")
    report = evaluate_objects(ds, encoder, config)
    report["dataset"] = {"path": str(dataset), "name": ds.name, "split": split}
    console = Console()
    counts = report["counts"]
    console.print(
        f"{ds.name} / {split}: {counts['items']} collages, {counts['queries']} queries, "
        f"{counts['truth_objects']} emoji drawn, {counts['regions_found']} regions found by {segmenter} "
        f"({counts['segment_seconds']} s); encoder {encoder.name}, global weight {global_weight}",
        highlight=False,
    )
    console.print(objects_table(report), highlight=False)
    console.print(region_text_table(report), highlight=False)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "objects.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
        (out / "objects.md").write_text(objects_table(report) + "\n\n" + region_text_table(report) + "\n")
        console.print(f"wrote {out / 'objects.json'}, {out / 'objects.md'}", highlight=False)
    return report
