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
    from memesearch.utils.io import atomic_write_text

    atomic_write_text(path, text)


#: the columns of a per-branch comparison table
BRANCH_COLUMNS = ("R@1", "R@5", "R@10", "MdR", "MR", "NDCG@10", "MAP")


def branch_rows(
    reports: Mapping[str, Mapping[str, MetricsReport]], order: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    """One row per (query group, branch) of ``{group: {branch: report}}`` (branches in ``order`` when
    given, else as stored): ``queries``, ``branch``, ``n`` (queries with a relevant item) and the columns."""
    out = []
    for group, by_branch in reports.items():
        for branch in order or tuple(by_branch):
            rep = by_branch.get(branch)
            if rep is not None:
                out.append(
                    {
                        "queries": group,
                        "branch": branch,
                        "n": rep.n_queries.get("with_relevant", 0),
                        **{c: rep.metrics[c] for c in BRANCH_COLUMNS},
                    }
                )
    return out


def branch_table(rows: list[dict[str, Any]]) -> str:
    """:func:`branch_rows` as a Markdown table."""
    lines = [
        "| queries | branch | n | " + " | ".join(BRANCH_COLUMNS) + " |",
        "|---|---|---:|" + "---:|" * len(BRANCH_COLUMNS),
    ]
    for r in rows:
        vals = " | ".join(f"{r[c]:.1f}" if c == "MdR" else f"{r[c]:.4f}" for c in BRANCH_COLUMNS)
        lines.append(f"| {r['queries']} | {r['branch']} | {r['n']} | {vals} |")
    return "\n".join(lines)


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
