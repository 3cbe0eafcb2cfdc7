"""``memesearch datasets build animated``: the animated-sticker benchmark (:mod:`memesearch.data.animated`).

Registered on the ``datasets build`` command group of :mod:`memesearch.cli.datasets_build`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from memesearch.cli.dataset_options import (
    SHARED_SEED_HELP,
    BuildRuntime,
    counts_arg,
    counts_option,
    echo_card,
    heldout_style_option,
    languages_option,
    npm_cache_option,
    option_args,
    out_option,
    overwrite_option,
    parse_min_max,
    per_language,
    progress_option,
    run_build,
    seed_option,
    size_option,
    split_csv,
    styles_option,
    workers_option,
)
from memesearch.cli.datasets_build import app as build_app
from memesearch.data.animated.config import AnimatedBuildConfig


@build_app.command("animated")
def animated(
    out: Path = out_option("native manifest, images/"),
    seed: int = seed_option(SHARED_SEED_HELP),
    counts: str = counts_option("train=600,val=150,test=300,test-seen=100", "Animations"),
    size: int = size_option(160, "Side of the square animations in pixels (96-512)."),
    emoji: str = typer.Option("2-3", "--emoji", help="Emoji shown in turn per animation: MIN-MAX (2-3)."),
    frames_per_emoji: int = typer.Option(2, "--frames-per-emoji", help="Frames each emoji shows for (1-4)."),
    frame_ms: int = typer.Option(500, "--frame-ms", help="Duration of one frame in milliseconds."),
    text_fraction: float = typer.Option(
        0.5, "--text-fraction", help="Share of animations with a caption on the last emoji's frames only."
    ),
    formats: str = typer.Option("gif,webp,png", "--formats", help="Containers: gif, webp, png (APNG)."),
    styles: str = styles_option(),
    heldout_style: str = heldout_style_option(),
    languages: str = languages_option("Comma-separated locales of the queries."),
    npm_cache: Path | None = npm_cache_option(),
    workers: int | None = workers_option("drawing animations"),
    overwrite: bool = overwrite_option(),
    progress: bool | None = progress_option(),
) -> None:
    """Build the animated benchmark: GIF/WebP/APNG showing 2-3 emoji in turn, some with a late caption."""
    from memesearch.data.animated.build import build_animated_benchmark
    from memesearch.data.animated.config import parse_counts

    min_concepts, max_concepts = parse_min_max(emoji, "--emoji", "2-3")
    config = AnimatedBuildConfig(
        seed=seed,
        size=size,
        counts=parse_counts(counts),
        styles=split_csv(styles, "--styles"),
        heldout_style=heldout_style.strip(),
        languages=split_csv(languages, "--languages"),
        min_concepts=min_concepts,
        max_concepts=max_concepts,
        frames_per_concept=frames_per_emoji,
        frame_ms=frame_ms,
        text_fraction=text_fraction,
        formats=split_csv(formats, "--formats"),
    )
    runtime = BuildRuntime(npm_cache=npm_cache, overwrite=overwrite, progress=progress, workers=workers)
    result = run_build("animated", build_animated_benchmark, config, out, command_args(out, config), runtime)
    for name, stats in result.card["splits"].items():
        langs = per_language(stats["queries_per_language"])
        counts_text = (
            f"{stats['items']:5d} animations {stats['with_text']:5d} captioned {stats['queries']:6d} queries"
        )
        typer.echo(f"  {name:10s} {counts_text} ({langs})")
    echo_card(result)


def command_args(out: Path, config: AnimatedBuildConfig) -> list[str]:
    """The options that rebuild exactly this dataset, every one spelled out (recorded in the card)."""
    return option_args(
        [
            ("--out", str(out)),
            ("--seed", config.seed),
            ("--size", config.size),
            ("--counts", counts_arg(config.counts)),
            ("--emoji", f"{config.min_concepts}-{config.max_concepts}"),
            ("--frames-per-emoji", config.frames_per_concept),
            ("--frame-ms", config.frame_ms),
            ("--text-fraction", f"{config.text_fraction:g}"),
            ("--formats", config.formats),
            ("--styles", config.styles),
            ("--heldout-style", config.heldout_style),
            ("--languages", config.languages),
        ]
    )
