"""Entry point of the ``memesearch`` command.

Every command group is a module of this package with a typer ``app``; this file only wires them
together — importing only the module of the command being run, so a ``memesearch search`` does not pay for
the imports of training or dataset commands — and turns domain errors into one readable line and exit
code 2 (STYLE 13).
"""

from __future__ import annotations

import importlib
import logging
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import typer

from memesearch._version import __version__
from memesearch.errors import MemesearchError

#: command name -> (module of memesearch.cli, function); groups: name -> module (its ``app``). A run imports
#: only the module of the command it runs (``memesearch search`` starts without the other commands' imports).
_COMMANDS: dict[str, tuple[str, str]] = {
    "evaluate": ("evaluate", "evaluate"),
    "train": ("train", "train"),
    "export": ("train", "export"),
    "remove": ("index", "remove"),
    "search": ("search", "search"),
    "tune": ("tune", "tune"),
    "serve": ("serve", "serve"),
    "demo": ("demo", "demo"),
    "caption": ("caption", "caption"),
    "segment": ("segment", "segment"),
}
_GROUPS: dict[str, str] = {
    "datasets": "datasets",
    "models": "models",
    "tokens": "tokens",
    "index": "index_ops",  # index PATH... --index DIR; index check|backup
}
_ORDER = ["datasets", "models", "tokens", "evaluate", "train", "export", "index", "remove", "search", "tune",
          "serve", "demo", "caption", "segment"]  # fmt: skip


def build_app(only: str | None = None) -> typer.Typer:
    """The ``memesearch`` Typer app with every command, or with only the command ``only``."""
    app = typer.Typer(
        name="memesearch",
        help="Search memes, stickers and video covers by text, emotion and image; "
        "train and evaluate the models.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    for name in [only] if only in _COMMANDS or only in _GROUPS else _ORDER:
        assert name is not None
        if name in _GROUPS:
            module = importlib.import_module(f"memesearch.cli.{_GROUPS[name]}")
            app.add_typer(module.app, name=name)
        else:
            module_name, function = _COMMANDS[name]
            module = importlib.import_module(f"memesearch.cli.{module_name}")
            app.command(name=name)(getattr(module, function))
    return app


def __getattr__(name: str) -> Any:  # ``memesearch.cli.main.app``: the whole app, built on first use
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"memesearch {__version__}")
        raise typer.Exit()


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
        app = build_app(args[0] if args else None)
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
