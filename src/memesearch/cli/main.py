"""Entry point of the ``memesearch`` command.

Every command group is a module of this package with a typer ``app``; this file only wires them
together — importing only the module of the command being run, so a ``memesearch search`` does not pay for
the imports of training or dataset commands — and turns mistakes into readable lines and exit codes, never a
traceback (STYLE 13):

* a usage mistake (unknown option or command, missing argument, bad value) prints the error naming the
  option and the command's usage line, and exits 2;
* a domain error (:class:`~memesearch.errors.MemesearchError`: no index there, unknown model, ...) prints
  ``error: <message>`` and exits 2;
* a command that ran but could not process some inputs (``memesearch index`` with unreadable files) exits 1.
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

#: The exit codes of every command (README "Exit codes"; shown at the end of ``--help``).
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 some inputs failed (the others were processed); "
    "2 usage or input error (unknown option, missing argument, bad value, no index there)."
)

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
        epilog=EXIT_CODES_HELP,
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
    _with_exit_codes(app)
    return app


def __getattr__(name: str) -> Any:  # ``memesearch.cli.main.app``: the whole app, built on first use
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        logging.getLogger("pymilvus").setLevel(logging.NOTSET)
    else:
        # Pillow warns about a damaged file (two lines, one of them its own source) before decode_media
        # reports the file with its reason: the report says it once; --verbose shows the warnings
        warnings.filterwarnings("ignore", module=r"PIL\.")
        # pymilvus logs its own connection retries and failures (multi-line tracebacks) before the store
        # raises; the command reports the failure itself, in one line: --verbose shows pymilvus' logs
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)


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
        app = build_app(args[0] if args else None)
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
