"""Entry point of the ``memesearch`` command.

Every command group is a module of this package with a typer ``app``; this file only wires them
together and turns domain errors into one readable line and exit code 2 (STYLE 13).
"""

from __future__ import annotations

import logging
import sys
import warnings
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

app = typer.Typer(
    name="memesearch",
    help="Search memes, stickers and video covers by text, emotion and image; train and evaluate the models.",
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
    if verbose:
        logging.captureWarnings(True)
    else:
        # Pillow warns about a damaged file (two lines, one of them its own source) before decode_media
        # reports the file with its reason: the report says it once; --verbose shows the warnings
        warnings.filterwarnings("ignore", module=r"PIL\.")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    Domain errors (:class:`~memesearch.errors.MemesearchError`) become ``error: <message>`` on stderr
    and exit code 2, never a traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args=args, prog_name="memesearch", standalone_mode=False)
    except MemesearchError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 1
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    # standalone_mode=False returns typer.Exit(n)'s code instead of raising it.
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
