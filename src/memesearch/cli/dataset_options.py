"""Options and helpers shared by the ``memesearch datasets build`` commands.

Each factory returns a fresh :func:`typer.Option` with the option's name, default and help text, so that
the builders (emoji, memes, covers, collages, animated) spell an option used by several of them in one
place; a builder passes only what is its own (the help of ``--seed``, the default ``--size``). The
second half turns a built config back into the options that rebuild it (recorded in the dataset card),
parses the comma-separated and MIN-MAX values of the options, and runs a builder with the options that
only steer the run (:class:`BuildRuntime`).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import typer

from memesearch.errors import ConfigError

if TYPE_CHECKING:
    from memesearch.data.emoji.build import BuildResult

DEFAULT_STYLES = "google,twitter"
DEFAULT_LANGUAGES = "en,zh"
TRAIN_STYLES_HELP = (
    "Comma-separated train styles (apple, google, twitter, facebook); only google (Apache-2.0) and "
    "twitter (CC-BY-4.0) may be redistributed."
)
HELDOUT_STYLE_HELP = "Style of the test views (unseen drawings); used locally only."
SHARED_SEED_HELP = "Seed of the concept split (as the emoji benchmark's) and of every drawing."


def out_option(contents: str) -> Any:
    """``--out`` (required): the dataset folder; ``contents`` lists what is written into it."""
    return typer.Option(..., "--out", help=f"Folder to write the dataset to ({contents}).")


def seed_option(help: str) -> Any:
    return typer.Option(0, "--seed", help=help)


def size_option(default: int, help: str) -> Any:
    return typer.Option(default, "--size", help=help)


def styles_option(help: str = TRAIN_STYLES_HELP) -> Any:
    return typer.Option(DEFAULT_STYLES, "--styles", help=help)


def heldout_style_option(help: str = HELDOUT_STYLE_HELP) -> Any:
    return typer.Option("facebook", "--heldout-style", help=help)


def languages_option(help: str) -> Any:
    return typer.Option(DEFAULT_LANGUAGES, "--languages", help=help)


def counts_option(default: str, items: str) -> Any:
    """``--counts``: how many ``items`` (collages, animations) each view gets, as VIEW=N pairs."""
    return typer.Option(
        default,
        "--counts",
        help=f"{items} per view: VIEW=N pairs for train, val, test (test concepts, held-out style), "
        "test-seen (train concepts, held-out style); views left out get none.",
    )


def textless_fraction_option(help: str) -> Any:
    return typer.Option(0.3, "--textless-fraction", help=help)


def max_keyword_concepts_option(help: str) -> Any:
    return typer.Option(50, "--max-keyword-concepts", min=0, help=help)


def npm_cache_option() -> Any:
    return typer.Option(
        None,
        "--npm-cache",
        envvar="MEMESEARCH_NPM_CACHE",
        help="Folder holding (or receiving) the npm packages [default: ~/.cache/memesearch/npm].",
    )


def workers_option(task: str) -> Any:
    """``--workers``: processes doing ``task`` (e.g. "drawing covers")."""
    return typer.Option(None, "--workers", min=1, help=f"Processes {task} [default: min(4, CPU count)].")


def overwrite_option() -> Any:
    return typer.Option(False, "--overwrite", help="Replace a dataset already in --out.")


def progress_option() -> Any:
    return typer.Option(
        None, "--progress/--no-progress", help="Show progress bars [default: when stderr is a terminal]."
    )


def split_csv(value: str, option: str) -> tuple[str, ...]:
    """The non-empty comma-separated parts of ``value``; :class:`ConfigError` naming ``option`` if none."""
    parts = tuple(p.strip() for p in value.split(",") if p.strip())
    if not parts:
        raise ConfigError(f"{option} needs at least one value, got {value!r}")
    return parts


def parse_min_max(value: str, option: str, example: str) -> tuple[int, int]:
    """``MIN-MAX`` (e.g. ``2-6``) as two integers; :class:`ConfigError` naming ``option`` otherwise."""
    low, sep, high = value.partition("-")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise ConfigError(f"{option} expects MIN-MAX, e.g. {example}, got {value!r}")
    return int(low), int(high)


OptionValue = str | int | float | bool | tuple[str, ...] | None


def option_args(options: Iterable[tuple[str, OptionValue]]) -> list[str]:
    """Command-line arguments for ``(option, value)`` pairs, in order: a tuple is joined with commas, a
    true bool is a bare flag, ``None`` and ``False`` leave the option out, anything else is ``str()``."""
    args: list[str] = []
    for option, value in options:
        if value is None or value is False:
            continue
        if value is True:
            args.append(option)
        elif isinstance(value, tuple):
            args += [option, ",".join(value)]
        else:
            args += [option, str(value)]
    return args


def counts_arg(counts: Iterable[tuple[str, int]]) -> str:
    """``--counts`` spelled out from a config's ``(view, count)`` pairs."""
    return ",".join(f"{view}={count}" for view, count in counts)


def rebuild_command(builder: str, args: list[str]) -> str:
    """The shell command that rebuilds a dataset: ``memesearch datasets build BUILDER ARGS``."""
    return f"memesearch datasets build {builder} " + shlex.join(args)


def per_language(counts: dict[str, int]) -> str:
    """``"en 120, zh 118"`` from a card's per-language counts."""
    return ", ".join(f"{lang} {n}" for lang, n in counts.items())


class BuildRuntime(TypedDict, total=False):
    """Options that steer a build but not its bytes (not recorded in the rebuild command)."""

    npm_cache: Path | None
    overwrite: bool
    progress: bool | None
    workers: int | None


def run_build(
    builder: str,
    build: Callable[..., BuildResult],
    config: object,
    out: Path,
    args: list[str],
    runtime: BuildRuntime,
) -> BuildResult:
    """Run ``build(config, out, ...)``, recording ``memesearch datasets build BUILDER ARGS`` as the command
    that rebuilds it, and print where and how fast it was written (the caller prints the splits, then
    :func:`echo_card`)."""
    result = build(config, out, command=rebuild_command(builder, args), **runtime)
    typer.echo(f"wrote the {builder} benchmark to {result.out} in {result.seconds:.1f} s")
    return result


def echo_card(result: BuildResult) -> None:
    typer.echo(f"  card: {result.out / 'CARD.md'}")
