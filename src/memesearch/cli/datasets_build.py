"""``memesearch datasets build``: build benchmark datasets from offline sources.

``memesearch datasets build emoji --out data/emoji`` builds the emoji benchmark (SPEC §4.4) from npm
packages, installing them into a cache folder first if needed. ``memesearch datasets build memes --out
data/memes`` builds the text-meme benchmark (rendered en/zh text over emoji and textures, text-less
stickers, chat-like queries; :mod:`memesearch.data.memes`) from the same packages and two Debian fonts.
``memesearch datasets build covers --out data/covers`` builds the CBVS-like cover benchmark (rendered
short-video covers with en/zh cover text, titles, graded query-like queries, native + CBVS TSV;
:mod:`memesearch.data.covers`). ``memesearch datasets build collages --out data/collages`` builds the
object-centric benchmark (2-6 emoji pasted on plain, patterned and scene backgrounds with their boxes;
:mod:`memesearch.data.collages`). ``animated`` is registered on this group by
:mod:`memesearch.cli.datasets_animated`; the options several builders share, and the rebuild command each
records in its dataset card, come from :mod:`memesearch.cli.dataset_options`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Unpack

import typer

from memesearch.cli.dataset_options import (
    SHARED_SEED_HELP,
    BuildRuntime,
    counts_arg,
    counts_option,
    echo_card,
    heldout_style_option,
    languages_option,
    max_keyword_concepts_option,
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
    textless_fraction_option,
    workers_option,
)

if TYPE_CHECKING:
    from memesearch.data.collages.config import CollagesBuildConfig
    from memesearch.data.covers.config import CoversBuildConfig
    from memesearch.data.emoji.config import EmojiBuildConfig
    from memesearch.data.memes.config import MemesBuildConfig

app = typer.Typer(help="Build benchmark datasets from offline sources.", no_args_is_help=True)


@app.command("emoji")
def emoji(
    out: Path = out_option("native manifest, msrvtt/, images/"),
    styles: str = styles_option(
        "Comma-separated train styles: any of apple, google, twitter, facebook (64-px PNGs) and the SVG "
        "styles fluent-flat, fluent-color, fluent-high-contrast (MIT), openmoji-color, openmoji-black "
        "(CC-BY-SA-4.0), rendered offline. The held-out style is removed from them if listed. apple and "
        "facebook may not be redistributed."
    ),
    heldout_style: str = heldout_style_option(
        "Style of the test views (unseen drawings): apple, google, twitter or facebook; used locally, "
        "never published."
    ),
    val_style: str | None = typer.Option(
        None,
        "--val-style",
        help="Also build a val-heldout view: the val concepts drawn in this style (e.g. apple), used neither "
        "for training nor for test, so that model selection sees a style gap.",
    ),
    size: int = size_option(64, "Image side in pixels: 32, 64 (as drawn), 128 or 256 (upsampled)."),
    seed: int = seed_option("Seed of the concept split (same seed, same split)."),
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=3,
        help="Build a seeded subset of this many concepts (every split represented), for tests.",
    ),
    languages: str = languages_option(
        "Comma-separated emojibase locales for names and keywords (e.g. en,zh,ja)."
    ),
    max_keyword_concepts: int = max_keyword_concepts_option(
        "Drop keywords that tag more than this many emoji (e.g. 'flag', '脸') as queries; 0 keeps all."
    ),
    transparent: bool = typer.Option(
        False,
        "--transparent",
        help="Keep RGBA with a transparent background (default: composite on white, RGB).",
    ),
    npm_cache: Path | None = npm_cache_option(),
    workers: int | None = workers_option("writing images"),
    overwrite: bool = overwrite_option(),
    progress: bool | None = progress_option(),
) -> None:
    """Build the emoji benchmark: emoji concepts x styles, CLDR names/keywords (en, zh) as graded queries."""
    from memesearch.data.emoji.config import EmojiBuildConfig

    config = EmojiBuildConfig(
        styles=split_csv(styles, "--styles"),
        heldout_style=heldout_style.strip(),
        size=size,
        seed=seed,
        limit=limit,
        languages=split_csv(languages, "--languages"),
        max_keyword_concepts=max_keyword_concepts,
        background="transparent" if transparent else "white",
        val_style=val_style.strip() if val_style else None,
    )
    build_emoji(out, config, npm_cache=npm_cache, overwrite=overwrite, progress=progress, workers=workers)


def build_emoji(
    out: Path,
    config: EmojiBuildConfig,
    **runtime: Unpack[BuildRuntime],
) -> None:
    """Build the emoji benchmark with ``config`` into ``out`` and print what was written (the dataset card
    records the command that rebuilds exactly this dataset, every option spelled out)."""
    from memesearch.data.emoji.build import build_emoji_benchmark

    args = option_args(
        [
            ("--out", str(out)),
            ("--styles", config.styles),
            ("--heldout-style", config.heldout_style),
            ("--val-style", config.val_style or None),
            ("--size", config.size),
            ("--seed", config.seed),
            ("--languages", config.languages),
            ("--max-keyword-concepts", config.max_keyword_concepts),
            ("--limit", config.limit),
            ("--transparent", config.background == "transparent"),
        ]
    )
    result = run_build("emoji", build_emoji_benchmark, config, out, args, runtime)
    for name, stats in result.card["splits"].items():
        langs = per_language(stats["queries_per_language"])
        counts = f"{stats['concepts']:5d} concepts {stats['items']:6d} items {stats['queries']:6d} queries"
        typer.echo(f"  {name:10s} {counts} ({langs})")
    echo_card(result)


@app.command("memes")
def memes(
    out: Path = out_option("native manifest, images/"),
    seed: int = seed_option("Seed of the split and of every drawing (same seed, same bytes)."),
    limit: int | None = typer.Option(
        None,
        "--limit",
        help="Build a seeded subset of this many phrase families (at least 6: every split, 3+ emotion "
        "families), for tests.",
    ),
    size: int = size_option(
        256, "Longest side of the largest images in pixels (96-1024); others are 3/4 of it."
    ),
    languages: str = languages_option("Comma-separated languages of the drawn text and the queries: en, zh."),
    textless_fraction: float = textless_fraction_option(
        "Share of the items that are plain emoji stickers without text, [0, 1)."
    ),
    styles: str = styles_option(
        "Comma-separated emoji styles of the pictures: google (Apache-2.0), twitter (CC-BY-4.0); apple "
        "and facebook are not redistributable."
    ),
    max_keyword_concepts: int = max_keyword_concepts_option(
        "CLDR keywords tagging more than this many emoji ('face', '脸') are not phrases; 0 keeps all."
    ),
    npm_cache: Path | None = npm_cache_option(),
    workers: int | None = workers_option("drawing images"),
    overwrite: bool = overwrite_option(),
    progress: bool | None = progress_option(),
) -> None:
    """Build the text-meme benchmark: en/zh phrases drawn on images, text-less stickers, graded queries."""
    from memesearch.data.memes.config import MemesBuildConfig

    config = MemesBuildConfig(
        seed=seed,
        limit=limit,
        size=size,
        languages=split_csv(languages, "--languages"),
        textless_fraction=textless_fraction,
        styles=split_csv(styles, "--styles"),
        max_keyword_concepts=max_keyword_concepts,
    )
    build_memes(out, config, npm_cache=npm_cache, overwrite=overwrite, progress=progress, workers=workers)


def build_memes(
    out: Path,
    config: MemesBuildConfig,
    **runtime: Unpack[BuildRuntime],
) -> None:
    """Build the memes benchmark with ``config`` into ``out`` and print what was written (the card records
    the command that rebuilds exactly this dataset, every option spelled out)."""
    from memesearch.data.memes.build import build_memes_benchmark

    args = option_args(
        [
            ("--out", str(out)),
            ("--seed", config.seed),
            ("--size", config.size),
            ("--languages", config.languages),
            ("--textless-fraction", config.textless_fraction),
            ("--styles", config.styles),
            ("--max-keyword-concepts", config.max_keyword_concepts),
            ("--limit", config.limit),
        ]
    )
    result = run_build("memes", build_memes_benchmark, config, out, args, runtime)
    for name, stats in result.card["splits"].items():
        text = per_language(stats["text_items_per_language"])
        langs = per_language(stats["queries_per_language"])
        counts = f"{stats['concepts']:5d} concepts {stats['items']:6d} items {stats['queries']:6d} queries"
        typer.echo(
            f"  {name:6s} {counts} (text {text}; text-less {stats['textless_items']}; queries {langs})"
        )
    echo_card(result)


@app.command("covers")
def covers(
    out: Path = out_option("native manifest, cbvs/ TSV files, images/"),
    seed: int = seed_option("Seed of the topic split and of every cover (same seed, same bytes)."),
    topics: int = typer.Option(
        600,
        "--topics",
        help="How many topics (CLDR emoji), a seeded sample with every split; 0 = all (848 now).",
    ),
    covers_per_topic: int = typer.Option(6, "--covers-per-topic", help="Covers per topic (over 3 genres)."),
    size: int = size_option(224, "Long side of a cover in pixels (96-1024); 16:9, 4:3 or 3:4."),
    languages: str = languages_option(
        "Comma-separated languages of the cover text, titles and queries: en, zh."
    ),
    textless_fraction: float = textless_fraction_option(
        "Share of the covers of each split without text, [0, 1)."
    ),
    styles: str = styles_option("Comma-separated emoji styles of the scenes: google, twitter."),
    npm_cache: Path | None = npm_cache_option(),
    workers: int | None = workers_option("drawing covers"),
    overwrite: bool = overwrite_option(),
    progress: bool | None = progress_option(),
) -> None:
    """Build the cover benchmark: CBVS-like covers with en/zh text, titles, graded queries, split by topic."""
    from memesearch.data.covers.config import CoversBuildConfig

    config = CoversBuildConfig(
        seed=seed,
        topics=topics,
        covers_per_topic=covers_per_topic,
        size=size,
        languages=split_csv(languages, "--languages"),
        textless_fraction=textless_fraction,
        styles=split_csv(styles, "--styles"),
    )
    build_covers(out, config, npm_cache=npm_cache, overwrite=overwrite, progress=progress, workers=workers)


def build_covers(
    out: Path,
    config: CoversBuildConfig,
    **runtime: Unpack[BuildRuntime],
) -> None:
    """Build the covers benchmark with ``config`` into ``out`` and print what was written (the card records
    the command that rebuilds exactly this dataset, every option spelled out)."""
    from memesearch.data.covers.build import build_covers_benchmark

    args = option_args(
        [
            ("--out", str(out)),
            ("--seed", config.seed),
            ("--topics", config.topics),
            ("--covers-per-topic", config.covers_per_topic),
            ("--size", config.size),
            ("--languages", config.languages),
            ("--textless-fraction", config.textless_fraction),
            ("--styles", config.styles),
        ]
    )
    result = run_build("covers", build_covers_benchmark, config, out, args, runtime)
    for name, s in result.card["splits"].items():
        labels = "/".join(str(s["labels"][g]) for g in ("2", "1", "0"))
        typer.echo(
            f"  {name:6s} {s['topics']:4d} topics {s['covers']:5d} covers "
            f"({s['textless_covers']} without text) {s['queries']:5d} queries (labels 2/1/0: {labels})"
        )
    for name, path in result.card["files"].items():
        typer.echo(f"  {name}: {result.out / path}")
    echo_card(result)


@app.command("collages")
def collages(
    out: Path = out_option("native manifest, images/"),
    seed: int = seed_option(SHARED_SEED_HELP),
    counts: str = counts_option("train=800,val=100,test=300,test-seen=100", "Collages"),
    size: int = size_option(256, "Side of the square collages in pixels (128-1024)."),
    objects: str = typer.Option(
        "2-6", "--objects", help="Emoji per collage: MIN-MAX (at most 8; fewer when they do not fit)."
    ),
    backgrounds: str = typer.Option(
        "plain,pattern,scene", "--backgrounds", help="Comma-separated backgrounds: plain, pattern, scene."
    ),
    styles: str = styles_option(),
    heldout_style: str = heldout_style_option(),
    languages: str = languages_option("Comma-separated locales of the query names."),
    npm_cache: Path | None = npm_cache_option(),
    workers: int | None = workers_option("drawing collages"),
    overwrite: bool = overwrite_option(),
    progress: bool | None = progress_option(),
) -> None:
    """Build the collages benchmark: emoji pasted on backgrounds with their boxes; queries name one emoji."""
    from memesearch.data.collages.config import CollagesBuildConfig, parse_counts

    min_objects, max_objects = parse_min_max(objects, "--objects", "2-6")
    config = CollagesBuildConfig(
        seed=seed,
        size=size,
        counts=parse_counts(counts),
        styles=split_csv(styles, "--styles"),
        heldout_style=heldout_style.strip(),
        languages=split_csv(languages, "--languages"),
        min_objects=min_objects,
        max_objects=max_objects,
        backgrounds=split_csv(backgrounds, "--backgrounds"),
    )
    build_collages(out, config, npm_cache=npm_cache, overwrite=overwrite, progress=progress, workers=workers)


def build_collages(
    out: Path,
    config: CollagesBuildConfig,
    **runtime: Unpack[BuildRuntime],
) -> None:
    """Build the collages benchmark with ``config`` into ``out`` and print what was written (the card
    records the command that rebuilds exactly this dataset, every option spelled out)."""
    from memesearch.data.collages.build import build_collages_benchmark

    args = option_args(
        [
            ("--out", str(out)),
            ("--seed", config.seed),
            ("--size", config.size),
            ("--counts", counts_arg(config.counts)),
            ("--objects", f"{config.min_objects}-{config.max_objects}"),
            ("--backgrounds", config.backgrounds),
            ("--styles", config.styles),
            ("--heldout-style", config.heldout_style),
            ("--languages", config.languages),
        ]
    )
    result = run_build("collages", build_collages_benchmark, config, out, args, runtime)
    for name, stats in result.card["splits"].items():
        langs = per_language(stats["queries_per_language"])
        counts = f"{stats['items']:5d} collages {stats['objects']:6d} objects {stats['queries']:6d} queries"
        typer.echo(f"  {name:10s} {counts} ({langs})")
    echo_card(result)
