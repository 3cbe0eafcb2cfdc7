"""Entry point of the ``memesearch`` command.

Every command group is a module of this package with a typer ``app``; this file only wires them
together and turns mistakes into readable lines and exit codes, never a traceback (STYLE 13):

* a usage mistake (unknown option or command, missing argument, bad value) prints the error naming the
  option and the command's usage line, and exits 2;
* a domain error (:class:`~memesearch.errors.MemesearchError`: no index there, unknown model, ...) prints
  ``error: <message>`` and exits 2;
* a command that ran but could not process some inputs (``memesearch index`` with unreadable files) exits 1.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import typer

from memesearch._version import __version__
from memesearch.cli import caption as caption_cli
from memesearch.cli import datasets as datasets_cli
from memesearch.cli import demo as demo_cli
from memesearch.cli import evaluate as evaluate_cli
from memesearch.cli import index as index_cli
from memesearch.cli import index_ops as index_ops_cli
from memesearch.cli import models as models_cli
from memesearch.cli import search as search_cli
from memesearch.cli import segment as segment_cli
from memesearch.cli import serve as serve_cli
from memesearch.cli import tokens as tokens_cli
from memesearch.cli import train as train_cli
from memesearch.cli import tune as tune_cli
from memesearch.errors import MemesearchError

#: The exit codes of every command (README "Exit codes"; shown at the end of ``--help``).
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 some inputs failed (the others were processed); "
    "2 usage or input error (unknown option, missing argument, bad value, no index there)."
)

app = typer.Typer(
    name="memesearch",
    help="Search memes, stickers and video covers by text, emotion and image; train and evaluate the models.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(datasets_cli.app, name="datasets")
app.add_typer(models_cli.app, name="models")
app.add_typer(tokens_cli.app, name="tokens")
app.command(name="evaluate")(evaluate_cli.evaluate)
app.command(name="train")(train_cli.train)
app.command(name="export")(train_cli.export)
app.add_typer(index_ops_cli.app, name="index")  # index PATH... --index DIR; index check|backup
app.command(name="remove")(index_cli.remove)
app.command(name="search")(search_cli.search)
app.command(name="tune")(tune_cli.tune)
app.command(name="serve")(serve_cli.serve)
app.command(name="demo")(demo_cli.demo)
app.command(name="caption")(caption_cli.caption)
app.command(name="segment")(segment_cli.segment)


def _with_exit_codes(typer_app: typer.Typer) -> None:
    """Every command's ``--help`` ends with :data:`EXIT_CODES_HELP` (after its own epilog, if any)."""
    for command in typer_app.registered_commands:
        if not command.epilog:
            command.epilog = EXIT_CODES_HELP
        elif EXIT_CODES_HELP not in command.epilog:
            command.epilog = f"{command.epilog} {EXIT_CODES_HELP}"
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _with_exit_codes(group.typer_instance)


_with_exit_codes(app)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"memesearch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages to stderr."),
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _usage_lines(exc: typer.TyperException) -> list[str]:
    """``error: ...`` naming the option or argument, then the command's usage line (no traceback)."""
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return [f"error: {message}"]
    usage = " ".join(ctx.get_usage().split())  # "Usage: memesearch index [OPTIONS] PATHS..."
    command = " ".join(ctx.command_path.split())  # the hidden default of `index` has an empty name
    return [f"error: {message}", f"{usage}  (see '{command} --help')"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    Usage mistakes (a mistyped option, a missing argument, a bad value) print ``error: ...`` naming the
    option plus the usage line and return 2; domain errors (:class:`~memesearch.errors.MemesearchError`)
    print ``error: <message>`` and return 2; never a traceback. Example::

        >>> main(["index", "memes/", "--index", "idx", "--colour", "x"])  # doctest: +SKIP
        error: No such option: --colour
        Usage: memesearch index [OPTIONS] PATHS...  (see 'memesearch index --help')
        2
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args=args, prog_name="memesearch", standalone_mode=False)
    except MemesearchError as exc:
        typer.echo(f"error: {exc}", err=True)
        return EXIT_USAGE
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        typer.echo("aborted", err=True)
        return EXIT_SOME_FAILED
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except typer.TyperException as exc:  # typer's own click: usage errors (exit code 2), file errors
        if type(exc).__name__ == "NoArgsIsHelpError":  # `memesearch` alone: its help (rich prints it)
            text = exc.format_message()
            if text.strip():
                typer.echo(text, err=True)
            return EXIT_USAGE
        for line in _usage_lines(exc):
            typer.echo(line, err=True)
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    # standalone_mode=False returns typer.Exit(n)'s code instead of raising it.
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
