"""``memesearch datasets``: list formats, convert between them, validate a dataset, build benchmarks.

Examples::

    memesearch datasets formats
    memesearch datasets convert --from cbvs --to native cbvs20k.txt cbvs20k/
    memesearch datasets convert --to msrvtt --split train --split val=test my-dataset/ my-dataset-msrvtt/
    memesearch datasets validate auto memes/ --skip-bad
    memesearch datasets split clip4meme-native/ --from train --to val --fraction 0.1 --seed 0
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from memesearch.cli import datasets_animated  # noqa: F401  (registers `datasets build animated`)
from memesearch.cli.datasets_build import app as build_app
from memesearch.data.formats import (
    FORMATS,
    BadRowReport,
    detect_format,
    read_dataset,
    select_splits,
    write_dataset,
)
from memesearch.data.formats.check import check_dataset
from memesearch.data.records import Dataset
from memesearch.data.splits import CARVE_BY, carve_split, rewrite_native_folder
from memesearch.errors import ConfigError, DataFormatError

app = typer.Typer(help="Read, convert, validate and build datasets.", no_args_is_help=True)
app.add_typer(build_app, name="build")

_FORMAT_NAMES = ", ".join(FORMATS)
_AUTO = "auto"


def _console() -> Console:
    # Created per command so that output goes to the sys.stdout of the moment (tests capture it).
    return Console(highlight=False)


def _resolve_format(name: str, path: Path) -> str:
    return detect_format(path) if name == _AUTO else name


def _parse_splits(values: list[str]) -> dict[str, str]:
    selection: dict[str, str] = {}
    for value in values:
        old, sep, new = value.partition("=")
        old, new = old.strip(), (new.strip() if sep else old.strip())
        if not old or not new:
            raise ConfigError(f"--split expects NAME or OLD=NEW, got {value!r}")
        if old in selection:
            raise ConfigError(f"--split names split {old!r} twice")
        selection[old] = new
    return selection


def _counts_table(dataset: Dataset, title: str) -> Table:
    table = Table(title=title)
    table.add_column("split")
    for column in ("items", "queries", "positives"):
        table.add_column(column, justify="right")
    for split, counts in dataset.counts().items():
        table.add_row(Text(split), str(counts["items"]), str(counts["queries"]), str(counts["positives"]))
    return table


def _shorten(text: str, limit: int = 120) -> str:
    # an example id can be megabytes long (a hostile row): folding it into table cells takes minutes
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_skipped(console: Console, report: BadRowReport) -> None:
    if not len(report):
        return
    table = Table(title=f"Skipped rows: {report.summary()}")
    table.add_column("where", overflow="fold")
    table.add_column("reason", overflow="fold")
    for row in report:
        table.add_row(Text(_shorten(row.location)), Text(_shorten(row.reason, 400)))
    console.print(table)


@app.command("formats")
def formats() -> None:
    """List the dataset formats and whether each can be read and written."""
    table = Table(title="Dataset formats")
    for column in ("name", "read", "write", "description"):
        table.add_column(column)
    for spec in FORMATS.values():
        table.add_row(
            spec.name,
            "yes" if spec.can_read else "no",
            "yes" if spec.can_write else "no",
            Text(spec.description),
        )
    _console().print(table)


@app.command("convert")
def convert(
    source: Path = typer.Argument(..., help="Dataset to read (file or folder).", show_default=False),
    target: Path = typer.Argument(..., help="Where to write the converted dataset.", show_default=False),
    from_fmt: str = typer.Option(
        _AUTO, "--from", help=f"Format of SOURCE: {_FORMAT_NAMES}, or auto to detect it."
    ),
    to_fmt: str = typer.Option(
        ..., "--to", help=f"Format to write: {_FORMAT_NAMES} (folder is read only).", show_default=False
    ),
    split: list[str] = typer.Option(
        [],
        "--split",
        help="Keep only this split; OLD=NEW renames it too. Repeatable: --split train --split val=test.",
        show_default=False,
    ),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Skip bad rows (each one is printed) instead of stopping."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace TARGET if it exists (a folder only if it holds the same format)."
    ),
) -> None:
    """Convert a dataset from one format to another, e.g. CBVS TSV to the native manifest."""
    report = BadRowReport()
    dataset = read_dataset(source, _resolve_format(from_fmt, source), skip_bad=skip_bad, report=report)
    if split:
        dataset = select_splits(dataset, _parse_splits(split))
    written = write_dataset(dataset, target, to_fmt, overwrite=overwrite)
    console = _console()
    _print_skipped(console, report)
    console.print(_counts_table(dataset, f"Wrote {to_fmt} dataset {dataset.name!r}"))
    console.print(Text(f"written to {written}"))


@app.command("validate")
def validate(
    fmt: str = typer.Argument(
        ..., help=f"Format of PATH: {_FORMAT_NAMES}, or auto to detect it.", show_default=False
    ),
    path: Path = typer.Argument(..., help="Dataset file or folder to check.", show_default=False),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Skip bad rows (each one is printed) instead of stopping at the first."
    ),
    check_files: bool = typer.Option(
        True, "--check-files/--no-check-files", help="Check that item files exist and are images or videos."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Fail (exit code 2) when a bad row was skipped or a warning was found."
    ),
) -> None:
    """Read a dataset, print its counts per split and everything suspicious in it."""
    name = _resolve_format(fmt, path)
    report = BadRowReport()
    dataset = read_dataset(path, name, skip_bad=skip_bad, report=report)
    console = _console()
    _print_skipped(console, report)
    console.print(_counts_table(dataset, f"{name} dataset {dataset.name!r}"))
    problems = check_dataset(dataset, check_files=check_files)
    if problems:
        table = Table(title="Suspicious")
        for column in ("split", "level", "problem", "count", "examples"):
            table.add_column(column, justify="right" if column == "count" else "left", overflow="fold")
        for p in problems:
            examples = ", ".join(_shorten(e) for e in p.examples)
            table.add_row(Text(p.split), p.severity, p.kind, str(p.count), Text(examples))
        console.print(table)
    else:
        console.print("nothing suspicious found")
    warnings = sum(1 for p in problems if p.severity == "warning")
    if strict and (len(report) or warnings):
        # a domain error, so that `main` exits non-zero (2) with one readable line
        raise DataFormatError(
            f"--strict: {len(report)} bad rows skipped and {warnings} kinds of warnings found", path=path
        )


@app.command("split")
def split(
    path: Path = typer.Argument(
        ..., help="Dataset to read (any readable format, file or folder).", show_default=False
    ),
    source: str = typer.Option("train", "--from", help="Split to carve the new split out of (never test)."),
    target: str = typer.Option("val", "--to", help="Name of the new split (never test)."),
    fraction: float = typer.Option(
        ..., "--fraction", help="Fraction in (0, 1) of the --from split that moves.", show_default=False
    ),
    by: str = typer.Option(
        "query",
        "--by",
        help="query: a fraction of the queries (equal texts together) moves, the gallery is shared; "
        "item: a fraction of the items moves, with the queries whose relevant items all moved.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the selection: the same seed gives the same split."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Write the whole dataset, new split included, as a native folder here. Default: rewrite "
        "PATH in place (a native folder only), atomically.",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing --to split (and, with --out, existing files there)."
    ),
) -> None:
    """Carve a validation split out of another split, e.g. val out of train (CLIP4Meme has no val)."""
    if by not in CARVE_BY:
        raise ConfigError(f"--by must be one of {', '.join(CARVE_BY)}, got {by!r}")
    name = detect_format(path)
    in_place = out is None or (out.exists() and out.resolve() == _native_folder(path).resolve())
    if in_place and (name != "native" or path.suffix == ".jsonl"):
        what = "a single .jsonl file" if name == "native" else f"a {name} dataset"
        raise ConfigError(
            f"{path} is {what}; only a native folder is rewritten in place — give --out DIR to write the "
            "result as a new native dataset"
        )
    dataset = read_dataset(path, name)
    result = carve_split(
        dataset, source=source, target=target, fraction=fraction, by=by, seed=seed, overwrite=overwrite
    )
    if in_place:
        written = rewrite_native_folder(result.dataset, _native_folder(path))
    else:
        assert out is not None
        written = write_dataset(result.dataset, out, "native", overwrite=overwrite)
    console = _console()
    console.print(_counts_table(_pick(dataset, source, target), "Before"))
    console.print(_counts_table(_pick(result.dataset, source, target), "After"))
    console.print(Text(result.summary()))
    console.print(Text(f"{'rewrote' if in_place else 'written to'} {written}"))


def _native_folder(path: Path) -> Path:
    return path.parent if path.is_file() else path


def _pick(dataset: Dataset, *names: str) -> Dataset:
    return Dataset(dataset.name, {n: dataset[n] for n in names if n in dataset})
