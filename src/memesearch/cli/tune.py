"""``memesearch tune``: fit calibrated fusion on your own labelled queries and record it in the index."""

from __future__ import annotations

from pathlib import Path

import typer

from memesearch.errors import ConfigError


def tune(
    index: Path = typer.Option(..., "--index", "-i", help="Index folder to tune (opened for writing)."),
    queries: Path | None = typer.Option(
        None,
        "--queries",
        help="Labelled queries, native JSONL ({id, text, qrels, meta}); qrels name items by id, SHA-256 or "
        "file path.",
        dir_okay=False,
    ),
    dataset: Path | None = typer.Option(
        None, "--dataset", help="Take the queries of a dataset split instead."
    ),
    split: str = typer.Option("val", "--split", help="With --dataset: the split (never a test split)."),
    val_fraction: float = typer.Option(
        0.3, "--val-fraction", help="Share of the queries held out to compare before and after."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the held-out draw."),
    rollback: bool = typer.Option(
        False, "--rollback", help="Restore the calibration the last tune replaced, and stop."
    ),
) -> None:
    """Fit the calibration and fusion of INDEX on labelled queries; print held-out metrics before/after.

    The previous calibration is kept in the index: `memesearch tune --index DIR --rollback` restores it.
    """
    from memesearch.eval import tune as tuning
    from memesearch.eval.fusion_weights import is_test_split
    from memesearch.eval.index_eval import queries_from_dataset, queries_from_file
    from memesearch.index import Index

    with Index.open(index) as idx:
        if rollback:
            restored = tuning.rollback(idx)
            typer.echo(
                "restored the previous calibration" if restored else "back to the uncalibrated weighted sum"
            )
            return
        if (queries is None) == (dataset is None):
            raise ConfigError(
                "tune needs labelled queries: --queries FILE.jsonl, or --dataset DIR --split NAME"
            )
        if queries is not None:
            qs = queries_from_file(queries, idx)
            source = str(queries)
        else:
            assert dataset is not None
            if is_test_split(split):
                raise ConfigError(
                    f"refusing to tune on split {split!r}: fit on a validation split, never on test"
                )
            from memesearch.data.formats import read_dataset

            qs = queries_from_dataset(read_dataset(dataset), split, idx)
            source = f"{dataset}:{split}"
        result = tuning.tune_index(idx, qs, val_fraction=val_fraction, seed=seed, source=source)
    heldout = result.calibration["metrics"]["heldout"]
    typer.echo(
        f"fitted on {result.fit_queries} queries; {result.heldout_queries} held out "
        f"(ECE {heldout['ece']:.3f}, precision {heldout['precision_at_cut']:.3f} / recall "
        f"{heldout['recall_at_cut_all']:.3f} at relevance >= 0.5)"
    )
    typer.echo(result.table())
    typer.echo(f"recorded in {index / 'index.json'}; undo with: memesearch tune --index {index} --rollback")
