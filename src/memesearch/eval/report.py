"""Metric reports on disk and on screen: ``metrics.json``, ``metrics.md`` and a rich table."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memesearch.eval.metrics import MetricsReport

if TYPE_CHECKING:
    from rich.table import Table


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_report(
    report: MetricsReport,
    out_dir: str | Path,
    *,
    extra: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> dict[str, Path]:
    """Write ``metrics.json`` and ``metrics.md`` into ``out_dir`` (created if needed); return their paths.

    ``extra`` (e.g. the run file and its format) is stored under ``"inputs"`` in the JSON and listed in
    the Markdown.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = report.to_dict()
    if extra:
        data["inputs"] = {k: str(v) if isinstance(v, Path) else v for k, v in extra.items()}
    json_path = out / "metrics.json"
    md_path = out / "metrics.md"
    _write_atomic(json_path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    md = f"# {title or 'Metrics'}\n\n"
    if extra:
        md += "\n".join(f"- {k}: `{v}`" for k, v in extra.items()) + "\n\n"
    md += report.to_markdown()
    _write_atomic(md_path, md)
    return {"json": json_path, "markdown": md_path}


def metrics_table(report: MetricsReport, title: str | None = None, digits: int = 4) -> Table:
    """A rich table of the metrics: name, value, number of queries averaged over."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("queries", justify="right")
    for name, value in report.metrics.items():
        shown = "n/a" if math.isnan(value) else f"{value:.{digits}f}"
        table.add_row(name, shown, str(report.n_queries.get(name, "")))
    return table
