"""Plots of metric reports, written as PNG with matplotlib's Agg canvas (no pyplot, no global backend)."""

from __future__ import annotations

from pathlib import Path

from memesearch.eval.metrics import MetricsReport


def plot_recall_curve(report: MetricsReport, path: str | Path, title: str | None = None) -> Path:
    """Plot R@K (any relevant item in the top K) and recall@K against K as a PNG at ``path``.

    Uses ``report.curves`` (filled by every evaluate function unless ``curve=False``). The K axis is
    logarithmic when K goes beyond 50.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves = report.curves
    if not curves.get("k"):
        raise ValueError("the report has no recall curve (no query with a relevant item, or curve=False)")
    ks = curves["k"]
    fig = Figure(figsize=(6, 4), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(ks, curves["R@K"], marker="o", markersize=3, label="R@K (any relevant in top K)")
    ax.plot(ks, curves["recall@K"], marker="s", markersize=3, label="recall@K (share of relevant in top K)")
    if ks[-1] > 50:
        ax.set_xscale("log")
    ax.set_xlabel("K")
    ax.set_ylabel("value")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    threshold = report.settings.get("threshold")
    ties = report.settings.get("ties")
    ax.set_title(title or f"Recall curve (relevant: grade >= {threshold}, ties: {ties})")
    ax.legend(loc="lower right")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out
