"""``memesearch tune``: fit calibrated fusion on a user's own labelled queries, keep it only in the index.

The labelled queries are split by query (seeded): ``val_fraction`` of them are held out, the rest fit the
calibration (:mod:`memesearch.eval.calibrate`). The held-out queries are evaluated before (the index's
current fusion) and after (the new calibration), so the user sees what changed on queries the fit never
saw. The result is recorded in ``index.json``; the calibration it replaces is kept
(``config.previous_calibrations``) and :func:`rollback` restores it.

Example::

    >>> result = tune_index(index, queries_from_file("labelled.jsonl", index))   # doctest: +SKIP
    >>> print(result.table())
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from memesearch.errors import ConfigError
from memesearch.eval.calibrate import calibration_metrics, collect_pairs, fit_calibration
from memesearch.eval.index_eval import IndexEvaluation, IndexQueries, evaluate_index
from memesearch.search.calibration import generated_key

#: fewest labelled queries (each with a relevant indexed item) ``tune`` accepts, in all
MIN_QUERIES = 10
SHOWN = ("R@1", "R@5", "R@10", "NDCG@10", "MAP")


@dataclass
class TuneResult:
    """Held-out metrics before and after, the fitted calibration's measurements, and the split sizes."""

    before: IndexEvaluation
    after: IndexEvaluation
    fit_queries: int
    heldout_queries: int
    calibration: dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        lines = ["| fusion | " + " | ".join(SHOWN) + " |", "|---|" + "---:|" * len(SHOWN)]
        for label, ev in (("before", self.before), ("after (calibrated)", self.after)):
            m = ev.reports["all"]["fused"].metrics
            lines.append(f"| {label} | " + " | ".join(f"{m[c]:.4f}" for c in SHOWN) + " |")
        return "\n".join(lines)


def split_queries(queries: IndexQueries, val_fraction: float, seed: int) -> tuple[IndexQueries, IndexQueries]:
    """``(fit, held_out)``: a seeded ``val_fraction`` of the queries that have a relevant item is held out;
    queries labelled with no relevant item (``qrels`` empty or all 0: "nothing here fits") all go to the
    fit, where they are the negatives that teach the cut-off."""
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"--val-fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    usable = [q for q in queries.queries if any(g >= 1 for g in q.qrels.values())]
    if len(usable) < MIN_QUERIES:
        raise ConfigError(
            f"only {len(usable)} labelled queries have a relevant indexed item; tuning needs at least "
            f"{MIN_QUERIES} (and gets better with hundreds): label more queries"
        )
    order = np.random.default_rng(seed).permutation(len(usable))
    n_out = max(1, round(val_fraction * len(usable)))
    if len(usable) - n_out < MIN_QUERIES // 2:
        raise ConfigError(
            f"holding out {n_out} of {len(usable)} queries leaves too few to fit: lower --val-fraction"
        )
    held = {int(i) for i in order[:n_out]}
    fit = [q for i, q in enumerate(usable) if i not in held]
    out = [q for i, q in enumerate(usable) if i in held]
    # queries labelled as matching nothing here teach the calibration what "no good result" looks like
    nothing = [q for q in queries.queries if not any(g >= 1 for g in q.qrels.values())]
    return replace(queries, queries=fit + nothing), replace(queries, queries=out)


def tune_index(
    index: Any, queries: IndexQueries, *, val_fraction: float = 0.3, seed: int = 0, source: str = ""
) -> TuneResult:
    """Fit on the fit part, compare on the held-out part, record the new calibration in ``index``."""
    from memesearch.search import Searcher

    fit_q, held_q = split_queries(queries, val_fraction, seed)
    current = Searcher(index)
    before = evaluate_index(current, held_q, by_lang=False)
    pairs = collect_pairs(current, fit_q, depth=current.candidates // 4)
    # generated-caption calibrators: the branches the current calibration gives one (chosen on val for the
    # default); each is fitted only where the labelled pairs have enough of both kinds
    split = (
        [b for b in current.calibration.base_branches if generated_key(b) in current.calibration.branches]
        if current.calibration
        else []
    )
    calibration = fit_calibration(
        pairs,
        split_generated=split,
        fitted_on={
            "queries": source or queries.source,
            "fit_queries": len(fit_q.queries),
            "heldout_queries": len(held_q.queries),
            "seed": seed,
            "command": "memesearch tune",
        },
    )
    tuned = Searcher(index)
    tuned.calibration = calibration
    after = evaluate_index(tuned, held_q, by_lang=False)
    calibration.metrics = {"heldout": calibration_metrics(calibration, collect_pairs(tuned, held_q))}
    calibration.metrics["heldout"].pop("reliability", None)
    record(index, calibration.to_dict())
    return TuneResult(before, after, len(fit_q.queries), len(held_q.queries), calibration.to_dict())


def record(index: Any, calibration: dict[str, Any]) -> None:
    """Make ``calibration`` the index's, keeping the one it replaces for :func:`rollback`."""
    previous = list(index.config.previous_calibrations)
    if index.config.calibration is not None:
        previous.append(index.config.calibration)
    index.update_config(calibration=calibration, previous_calibrations=previous)


def rollback(index: Any) -> dict[str, Any] | None:
    """Restore the calibration the last ``tune`` replaced (None: back to the weighted sum); returns it."""
    previous = list(index.config.previous_calibrations)
    if index.config.calibration is None and not previous:
        raise ConfigError("nothing to roll back: this index has no calibration and no earlier one")
    restored = previous.pop() if previous else None
    index.update_config(calibration=restored, previous_calibrations=previous)
    return restored


__all__ = ["MIN_QUERIES", "TuneResult", "record", "rollback", "split_queries", "tune_index"]
