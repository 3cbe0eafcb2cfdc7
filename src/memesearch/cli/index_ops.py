"""``memesearch index``: index media (``memesearch index PATH... --index DIR``), and the operations on an
index folder, ``memesearch index check DIR [--repair]`` and ``memesearch index backup DIR OUT``.

``index`` stays one command taking paths; ``check`` and ``backup`` are words it reads first: when the first
argument is one of them and ``--index``/``-i`` is not given (they take none), it runs that operation, else
everything is indexed as before. A folder literally named ``check`` or ``backup`` is indexed with
``--index`` given (always the case) — or written ``./check``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer import _click as click  # the click typer bundles (its groups take its contexts)
from typer.core import TyperGroup

from memesearch.cli.index import index as index_command

#: the operations ``memesearch index`` reads as its first argument
OPERATIONS = ("check", "backup")
#: the command that indexes paths (hidden: ``memesearch index PATH...`` runs it)
DEFAULT = "add"


def _names_index(args: list[str]) -> bool:
    return any(a.startswith(("--index", "-i")) for a in args)


class IndexGroup(TyperGroup):
    """Runs ``check``/``backup`` when the first argument names one and no ``--index`` is given; every other
    argument list goes to the indexing command, as before."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not (args and args[0] in OPERATIONS and not _names_index(args[1:])):
            args = [DEFAULT, *args]
        return super().parse_args(ctx, args)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        # usage lines read 'memesearch index [OPTIONS] PATHS...', not '... index add ...'
        return ("" if name == DEFAULT else name), cmd, rest


app = typer.Typer(
    cls=IndexGroup,
    help="Index media into an index folder (memesearch index PATH... --index DIR); check and back it up "
    "(memesearch index check DIR, memesearch index backup DIR OUT).",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command(
    name=DEFAULT,
    hidden=True,
    epilog="Also: 'memesearch index check DIR [--repair]' and 'memesearch index backup DIR OUT' "
    "(each with --help).",
)(index_command)


@app.command("check")
def check(
    index_dir: Path = typer.Argument(..., help="The index folder."),
    repair: bool = typer.Option(
        False,
        "--repair",
        help="Fix what can be fixed safely (says what it did), then check again. It writes the index: stop "
        "memesearch serve and memesearch index runs on it first (a check alone is safe beside them).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check an index: SQLite integrity, vectors vs rows in each store, orphan and missing media.

    Prints one verdict line; exit 0 when no problem is found, 1 when some are (after --repair: some are
    left), 2 when DIR is not an index or cannot be opened.
    """
    from memesearch.index.check import check_index

    report = check_index(index_dir, repair=repair)
    if json_out:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        for line in report.repaired:
            typer.echo(f"repaired: {line}")
        for line in report.notes:
            typer.echo(f"note: {line}", err=True)
        for f in report.findings:
            more = f" (e.g. {', '.join(f.examples)})" if f.examples else ""
            typer.echo(f"problem [{f.code}]: {f.message}{more}", err=True)
        typer.echo(report.verdict())
    if not report.ok:
        raise typer.Exit(1)


@app.command("backup")
def backup(
    index_dir: Path = typer.Argument(..., help="The index folder to back up (writers may keep running)."),
    out: Path = typer.Argument(..., help="A new (or empty) folder: the backup, itself a valid index."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Back up an index into OUT, a consistent copy that is itself an index (search or serve it, or copy it
    back to restore): SQLite's online backup plus the vector stores at a matching point."""
    from memesearch.index.backup import backup_index

    report = backup_index(index_dir, out)
    if json_out:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    sizes = ", ".join(f"{k} {v}" for k, v in report.vectors.items())
    typer.echo(
        f"backed up {report.items} items (vectors: {sizes}; {report.media_files} uploads; database "
        f"generation {report.generation}) from {report.source} to {report.out} in {report.seconds:.1f} s"
        + (f" ({report.attempts} attempts: writes were running)" if report.attempts > 1 else "")
        + "; it passes 'memesearch index check'"
    )
