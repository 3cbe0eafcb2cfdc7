"""``memesearch datasets build animated``: the animated-sticker benchmark (:mod:`memesearch.data.animated`).

Registered on the ``datasets build`` command group of :mod:`memesearch.cli.datasets_build`.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from memesearch.cli.datasets_build import _csv
from memesearch.cli.datasets_build import app as build_app
from memesearch.data.animated.config import AnimatedBuildConfig
from memesearch.errors import ConfigError


@build_app.command("animated")
def animated(
    out: Path = typer.Option(..., "--out", help="Folder to write the dataset to (native manifest, images/)."),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the concept split (as the emoji benchmark's) and of every drawing."
    ),
    counts: str = typer.Option(
        "train=600,val=150,test=300,test-seen=100",
        "--counts",
        help="Animations per view: VIEW=N pairs for train, val, test (test concepts, held-out style), "
        "test-seen (train concepts, held-out style); views left out get none.",
    ),
    size: int = typer.Option(160, "--size", help="Side of the square animations in pixels (96-512)."),
    emoji: str = typer.Option("2-3", "--emoji", help="Emoji shown in turn per animation: MIN-MAX (2-3)."),
    frames_per_emoji: int = typer.Option(2, "--frames-per-emoji", help="Frames each emoji shows for (1-4)."),
    frame_ms: int = typer.Option(500, "--frame-ms", help="Duration of one frame in milliseconds."),
    text_fraction: float = typer.Option(
        0.5, "--text-fraction", help="Share of animations with a caption on the last emoji's frames only."
    ),
    formats: str = typer.Option("gif,webp,png", "--formats", help="Containers: gif, webp, png (APNG)."),
    styles: str = typer.Option(
        "google,twitter",
        "--styles",
        help="Comma-separated train styles (apple, google, twitter, facebook); only google (Apache-2.0) and "
        "twitter (CC-BY-4.0) may be redistributed.",
    ),
    heldout_style: str = typer.Option(
        "facebook", "--heldout-style", help="Style of the test views (unseen drawings); used locally only."
    ),
    languages: str = typer.Option("en,zh", "--languages", help="Comma-separated locales of the queries."),
    npm_cache: Path | None = typer.Option(
        None,
        "--npm-cache",
        envvar="MEMESEARCH_NPM_CACHE",
        help="Folder holding (or receiving) the npm packages [default: ~/.cache/memesearch/npm].",
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Processes drawing animations [default: min(4, CPU count)]."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a dataset already in --out."),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Show progress bars [default: when stderr is a terminal]."
    ),
) -> None:
    """Build the animated benchmark: GIF/WebP/APNG showing 2-3 emoji in turn, some with a late caption."""
    from memesearch.data.animated.build import build_animated_benchmark
    from memesearch.data.animated.config import parse_counts

    low, sep, high = emoji.partition("-")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise ConfigError(f"--emoji expects MIN-MAX, e.g. 2-3, got {emoji!r}")
    config = AnimatedBuildConfig(
        seed=seed,
        size=size,
        counts=parse_counts(counts),
        styles=_csv(styles, "--styles"),
        heldout_style=heldout_style.strip(),
        languages=_csv(languages, "--languages"),
        min_concepts=int(low),
        max_concepts=int(high),
        frames_per_concept=frames_per_emoji,
        frame_ms=frame_ms,
        text_fraction=text_fraction,
        formats=_csv(formats, "--formats"),
    )
    result = build_animated_benchmark(
        config,
        out,
        npm_cache=npm_cache,
        overwrite=overwrite,
        progress=progress,
        workers=workers,
        command="memesearch datasets build animated " + shlex.join(command_args(out, config)),
    )
    typer.echo(f"wrote the animated benchmark to {result.out} in {result.seconds:.1f} s")
    for name, stats in result.card["splits"].items():
        langs = ", ".join(f"{k} {v}" for k, v in stats["queries_per_language"].items())
        counts_text = (
            f"{stats['items']:5d} animations {stats['with_text']:5d} captioned {stats['queries']:6d} queries"
        )
        typer.echo(f"  {name:10s} {counts_text} ({langs})")
    typer.echo(f"  card: {result.out / 'CARD.md'}")


def command_args(out: Path, config: AnimatedBuildConfig) -> list[str]:
    """The options that rebuild exactly this dataset, every one spelled out (recorded in the card)."""
    args = ["--out", str(out), "--seed", str(config.seed), "--size", str(config.size)]
    args += ["--counts", ",".join(f"{k}={v}" for k, v in config.counts)]
    args += ["--emoji", f"{config.min_concepts}-{config.max_concepts}"]
    args += ["--frames-per-emoji", str(config.frames_per_concept), "--frame-ms", str(config.frame_ms)]
    args += ["--text-fraction", f"{config.text_fraction:g}", "--formats", ",".join(config.formats)]
    args += ["--styles", ",".join(config.styles), "--heldout-style", config.heldout_style]
    args += ["--languages", ",".join(config.languages)]
    return args
