"""``memesearch datasets build``: build benchmark datasets from offline sources.

``memesearch datasets build emoji --out data/emoji`` builds the emoji benchmark (SPEC §4.4) from npm
packages, installing them into a cache folder first if needed. ``memesearch datasets build memes --out
data/memes`` builds the text-meme benchmark (rendered en/zh text over emoji and textures, text-less
stickers, chat-like queries; :mod:`memesearch.data.memes`) from the same packages and two Debian fonts.
``memesearch datasets build covers --out data/covers`` builds the CBVS-like cover benchmark (rendered
short-video covers with en/zh cover text, titles, graded query-like queries, native + CBVS TSV;
:mod:`memesearch.data.covers`). ``memesearch datasets build collages --out data/collages`` builds the
object-centric benchmark (2-6 emoji pasted on plain, patterned and scene backgrounds with their boxes;
:mod:`memesearch.data.collages`).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from memesearch.errors import ConfigError

if TYPE_CHECKING:
    from memesearch.data.collages.config import CollagesBuildConfig
    from memesearch.data.covers.config import CoversBuildConfig
    from memesearch.data.emoji.config import EmojiBuildConfig
    from memesearch.data.memes.config import MemesBuildConfig

app = typer.Typer(help="Build benchmark datasets from offline sources.", no_args_is_help=True)


def _csv(value: str, option: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in value.split(",") if p.strip())
    if not parts:
        raise ConfigError(f"{option} needs at least one value, got {value!r}")
    return parts


@app.command("emoji")
def emoji(
    out: Path = typer.Option(
        ..., "--out", help="Folder to write the dataset to (native manifest, msrvtt/, images/)."
    ),
    styles: str = typer.Option(
        "google,twitter",
        "--styles",
        help="Comma-separated train styles: any of apple, google, twitter, facebook (64-px PNGs) and the SVG "
        "styles fluent-flat, fluent-color, fluent-high-contrast (MIT), openmoji-color, openmoji-black "
        "(CC-BY-SA-4.0), rendered offline. The held-out style is removed from them if listed. apple and "
        "facebook may not be redistributed.",
    ),
    heldout_style: str = typer.Option(
        "facebook",
        "--heldout-style",
        help="Style of the test views (unseen drawings): apple, google, twitter or facebook; used locally, "
        "never published.",
    ),
    val_style: str | None = typer.Option(
        None,
        "--val-style",
        help="Also build a val-heldout view: the val concepts drawn in this style (e.g. apple), used neither "
        "for training nor for test, so that model selection sees a style gap.",
    ),
    size: int = typer.Option(
        64, "--size", help="Image side in pixels: 32, 64 (as drawn), 128 or 256 (upsampled)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the concept split (same seed, same split)."),
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=3,
        help="Build a seeded subset of this many concepts (every split represented), for tests.",
    ),
    languages: str = typer.Option(
        "en,zh",
        "--languages",
        help="Comma-separated emojibase locales for names and keywords (e.g. en,zh,ja).",
    ),
    max_keyword_concepts: int = typer.Option(
        50,
        "--max-keyword-concepts",
        min=0,
        help="Drop keywords that tag more than this many emoji (e.g. 'flag', '脸') as queries; 0 keeps all.",
    ),
    transparent: bool = typer.Option(
        False,
        "--transparent",
        help="Keep RGBA with a transparent background (default: composite on white, RGB).",
    ),
    npm_cache: Path | None = typer.Option(
        None,
        "--npm-cache",
        envvar="MEMESEARCH_NPM_CACHE",
        help="Folder holding (or receiving) the npm packages [default: ~/.cache/memesearch/npm].",
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Processes writing images [default: min(4, CPU count)]."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a dataset already in --out."),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Show progress bars [default: when stderr is a terminal]."
    ),
) -> None:
    """Build the emoji benchmark: emoji concepts x styles, CLDR names/keywords (en, zh) as graded queries."""
    from memesearch.data.emoji.config import EmojiBuildConfig

    config = EmojiBuildConfig(
        styles=_csv(styles, "--styles"),
        heldout_style=heldout_style.strip(),
        size=size,
        seed=seed,
        limit=limit,
        languages=_csv(languages, "--languages"),
        max_keyword_concepts=max_keyword_concepts,
        background="transparent" if transparent else "white",
        val_style=val_style.strip() if val_style else None,
    )
    build_emoji(out, config, npm_cache=npm_cache, overwrite=overwrite, progress=progress, workers=workers)


def build_emoji(
    out: Path,
    config: EmojiBuildConfig,
    *,
    npm_cache: Path | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    workers: int | None = None,
) -> None:
    """Build the emoji benchmark with ``config`` into ``out`` and print what was written (the dataset card
    records the command that rebuilds exactly this dataset, every option spelled out)."""
    from memesearch.data.emoji.build import build_emoji_benchmark

    args = ["--out", str(out), "--styles", ",".join(config.styles), "--heldout-style", config.heldout_style]
    if config.val_style:
        args += ["--val-style", config.val_style]
    args += [
        "--size",
        str(config.size),
        "--seed",
        str(config.seed),
        "--languages",
        ",".join(config.languages),
    ]
    args += ["--max-keyword-concepts", str(config.max_keyword_concepts)]
    args += (["--limit", str(config.limit)] if config.limit is not None else []) + (
        ["--transparent"] if config.background == "transparent" else []
    )
    command = "memesearch datasets build emoji " + shlex.join(args)
    result = build_emoji_benchmark(
        config,
        out,
        npm_cache=npm_cache,
        overwrite=overwrite,
        progress=progress,
        workers=workers,
        command=command,
    )
    typer.echo(f"wrote the emoji benchmark to {result.out} in {result.seconds:.1f} s")
    for name, stats in result.card["splits"].items():
        langs = ", ".join(f"{k} {v}" for k, v in stats["queries_per_language"].items())
        counts = f"{stats['concepts']:5d} concepts {stats['items']:6d} items {stats['queries']:6d} queries"
        typer.echo(f"  {name:10s} {counts} ({langs})")
    typer.echo(f"  card: {result.out / 'CARD.md'}")


@app.command("memes")
def memes(
    out: Path = typer.Option(..., "--out", help="Folder to write the dataset to (native manifest, images/)."),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the split and of every drawing (same seed, same bytes)."
    ),
    limit: int | None = typer.Option(
        None,
        "--limit",
        help="Build a seeded subset of this many phrase families (at least 6: every split, 3+ emotion "
        "families), for tests.",
    ),
    size: int = typer.Option(
        256, "--size", help="Longest side of the largest images in pixels (96-1024); others are 3/4 of it."
    ),
    languages: str = typer.Option(
        "en,zh", "--languages", help="Comma-separated languages of the drawn text and the queries: en, zh."
    ),
    textless_fraction: float = typer.Option(
        0.3,
        "--textless-fraction",
        help="Share of the items that are plain emoji stickers without text, [0, 1).",
    ),
    styles: str = typer.Option(
        "google,twitter",
        "--styles",
        help="Comma-separated emoji styles of the pictures: google (Apache-2.0), twitter (CC-BY-4.0); apple "
        "and facebook are not redistributable.",
    ),
    max_keyword_concepts: int = typer.Option(
        50,
        "--max-keyword-concepts",
        min=0,
        help="CLDR keywords tagging more than this many emoji ('face', '脸') are not phrases; 0 keeps all.",
    ),
    npm_cache: Path | None = typer.Option(
        None,
        "--npm-cache",
        envvar="MEMESEARCH_NPM_CACHE",
        help="Folder holding (or receiving) the npm packages [default: ~/.cache/memesearch/npm].",
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Processes drawing images [default: min(4, CPU count)]."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a dataset already in --out."),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Show progress bars [default: when stderr is a terminal]."
    ),
) -> None:
    """Build the text-meme benchmark: en/zh phrases drawn on images, text-less stickers, graded queries."""
    from memesearch.data.memes.config import MemesBuildConfig

    config = MemesBuildConfig(
        seed=seed,
        limit=limit,
        size=size,
        languages=_csv(languages, "--languages"),
        textless_fraction=textless_fraction,
        styles=_csv(styles, "--styles"),
        max_keyword_concepts=max_keyword_concepts,
    )
    build_memes(out, config, npm_cache=npm_cache, overwrite=overwrite, progress=progress, workers=workers)


def build_memes(
    out: Path,
    config: MemesBuildConfig,
    *,
    npm_cache: Path | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    workers: int | None = None,
) -> None:
    """Build the memes benchmark with ``config`` into ``out`` and print what was written (the card records
    the command that rebuilds exactly this dataset, every option spelled out)."""
    from memesearch.data.memes.build import build_memes_benchmark

    args = ["--out", str(out), "--seed", str(config.seed), "--size", str(config.size)]
    args += ["--languages", ",".join(config.languages), "--textless-fraction", str(config.textless_fraction)]
    args += ["--styles", ",".join(config.styles), "--max-keyword-concepts", str(config.max_keyword_concepts)]
    args += ["--limit", str(config.limit)] if config.limit is not None else []
    command = "memesearch datasets build memes " + shlex.join(args)
    result = build_memes_benchmark(
        config,
        out,
        npm_cache=npm_cache,
        overwrite=overwrite,
        progress=progress,
        workers=workers,
        command=command,
    )
    typer.echo(f"wrote the memes benchmark to {result.out} in {result.seconds:.1f} s")
    for name, stats in result.card["splits"].items():
        text = ", ".join(f"{k} {v}" for k, v in stats["text_items_per_language"].items())
        langs = ", ".join(f"{k} {v}" for k, v in stats["queries_per_language"].items())
        counts = f"{stats['concepts']:5d} concepts {stats['items']:6d} items {stats['queries']:6d} queries"
        typer.echo(
            f"  {name:6s} {counts} (text {text}; text-less {stats['textless_items']}; queries {langs})"
        )
    typer.echo(f"  card: {result.out / 'CARD.md'}")


@app.command("covers")
def covers(
    out: Path = typer.Option(
        ..., "--out", help="Folder to write the dataset to (native manifest, cbvs/ TSV files, images/)."
    ),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the topic split and of every cover (same seed, same bytes)."
    ),
    topics: int = typer.Option(
        600,
        "--topics",
        help="How many topics (CLDR emoji), a seeded sample with every split; 0 = all (848 now).",
    ),
    covers_per_topic: int = typer.Option(6, "--covers-per-topic", help="Covers per topic (over 3 genres)."),
    size: int = typer.Option(
        224, "--size", help="Long side of a cover in pixels (96-1024); 16:9, 4:3 or 3:4."
    ),
    languages: str = typer.Option(
        "en,zh",
        "--languages",
        help="Comma-separated languages of the cover text, titles and queries: en, zh.",
    ),
    textless_fraction: float = typer.Option(
        0.3, "--textless-fraction", help="Share of the covers of each split without text, [0, 1)."
    ),
    styles: str = typer.Option(
        "google,twitter", "--styles", help="Comma-separated emoji styles of the scenes: google, twitter."
    ),
    npm_cache: Path | None = typer.Option(
        None,
        "--npm-cache",
        envvar="MEMESEARCH_NPM_CACHE",
        help="Folder holding (or receiving) the npm packages [default: ~/.cache/memesearch/npm].",
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Processes drawing covers [default: min(4, CPU count)]."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a dataset already in --out."),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Show progress bars [default: when stderr is a terminal]."
    ),
) -> None:
    """Build the cover benchmark: CBVS-like covers with en/zh text, titles, graded queries, split by topic."""
    from memesearch.data.covers.config import CoversBuildConfig

    config = CoversBuildConfig(
        seed=seed,
        topics=topics,
        covers_per_topic=covers_per_topic,
        size=size,
        languages=_csv(languages, "--languages"),
        textless_fraction=textless_fraction,
        styles=_csv(styles, "--styles"),
    )
    build_covers(out, config, npm_cache=npm_cache, overwrite=overwrite, progress=progress, workers=workers)


def build_covers(
    out: Path,
    config: CoversBuildConfig,
    *,
    npm_cache: Path | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    workers: int | None = None,
) -> None:
    """Build the covers benchmark with ``config`` into ``out`` and print what was written (the card records
    the command that rebuilds exactly this dataset, every option spelled out)."""
    from memesearch.data.covers.build import build_covers_benchmark

    args = ["--out", str(out), "--seed", str(config.seed), "--topics", str(config.topics)]
    args += ["--covers-per-topic", str(config.covers_per_topic), "--size", str(config.size)]
    args += ["--languages", ",".join(config.languages), "--textless-fraction", str(config.textless_fraction)]
    args += ["--styles", ",".join(config.styles)]
    command = "memesearch datasets build covers " + shlex.join(args)
    result = build_covers_benchmark(
        config,
        out,
        npm_cache=npm_cache,
        overwrite=overwrite,
        progress=progress,
        workers=workers,
        command=command,
    )
    typer.echo(f"wrote the covers benchmark to {result.out} in {result.seconds:.1f} s")
    for name, s in result.card["splits"].items():
        labels = "/".join(str(s["labels"][g]) for g in ("2", "1", "0"))
        typer.echo(
            f"  {name:6s} {s['topics']:4d} topics {s['covers']:5d} covers "
            f"({s['textless_covers']} without text) {s['queries']:5d} queries (labels 2/1/0: {labels})"
        )
    for name, path in result.card["files"].items():
        typer.echo(f"  {name}: {result.out / path}")
    typer.echo(f"  card: {result.out / 'CARD.md'}")


@app.command("collages")
def collages(
    out: Path = typer.Option(..., "--out", help="Folder to write the dataset to (native manifest, images/)."),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the concept split (as the emoji benchmark's) and of every drawing."
    ),
    counts: str = typer.Option(
        "train=800,val=100,test=300,test-seen=100",
        "--counts",
        help="Collages per view: VIEW=N pairs for train, val, test (test concepts, held-out style), "
        "test-seen (train concepts, held-out style); views left out get none.",
    ),
    size: int = typer.Option(256, "--size", help="Side of the square collages in pixels (128-1024)."),
    objects: str = typer.Option(
        "2-6", "--objects", help="Emoji per collage: MIN-MAX (at most 8; fewer when they do not fit)."
    ),
    backgrounds: str = typer.Option(
        "plain,pattern,scene", "--backgrounds", help="Comma-separated backgrounds: plain, pattern, scene."
    ),
    styles: str = typer.Option(
        "google,twitter",
        "--styles",
        help="Comma-separated train styles (apple, google, twitter, facebook); only google (Apache-2.0) and "
        "twitter (CC-BY-4.0) may be redistributed.",
    ),
    heldout_style: str = typer.Option(
        "facebook", "--heldout-style", help="Style of the test views (unseen drawings); used locally only."
    ),
    languages: str = typer.Option("en,zh", "--languages", help="Comma-separated locales of the query names."),
    npm_cache: Path | None = typer.Option(
        None,
        "--npm-cache",
        envvar="MEMESEARCH_NPM_CACHE",
        help="Folder holding (or receiving) the npm packages [default: ~/.cache/memesearch/npm].",
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Processes drawing collages [default: min(4, CPU count)]."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a dataset already in --out."),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Show progress bars [default: when stderr is a terminal]."
    ),
) -> None:
    """Build the collages benchmark: emoji pasted on backgrounds with their boxes; queries name one emoji."""
    from memesearch.data.collages.config import CollagesBuildConfig, parse_counts

    low, sep, high = objects.partition("-")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise ConfigError(f"--objects expects MIN-MAX, e.g. 2-6, got {objects!r}")
    config = CollagesBuildConfig(
        seed=seed,
        size=size,
        counts=parse_counts(counts),
        styles=_csv(styles, "--styles"),
        heldout_style=heldout_style.strip(),
        languages=_csv(languages, "--languages"),
        min_objects=int(low),
        max_objects=int(high),
        backgrounds=_csv(backgrounds, "--backgrounds"),
    )
    build_collages(out, config, npm_cache=npm_cache, overwrite=overwrite, progress=progress, workers=workers)


def build_collages(
    out: Path,
    config: CollagesBuildConfig,
    *,
    npm_cache: Path | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    workers: int | None = None,
) -> None:
    """Build the collages benchmark with ``config`` into ``out`` and print what was written (the card
    records the command that rebuilds exactly this dataset, every option spelled out)."""
    from memesearch.data.collages.build import build_collages_benchmark

    args = ["--out", str(out), "--seed", str(config.seed), "--size", str(config.size)]
    args += ["--counts", ",".join(f"{k}={v}" for k, v in config.counts)]
    args += ["--objects", f"{config.min_objects}-{config.max_objects}"]
    args += ["--backgrounds", ",".join(config.backgrounds), "--styles", ",".join(config.styles)]
    args += ["--heldout-style", config.heldout_style, "--languages", ",".join(config.languages)]
    command = "memesearch datasets build collages " + shlex.join(args)
    result = build_collages_benchmark(
        config,
        out,
        npm_cache=npm_cache,
        overwrite=overwrite,
        progress=progress,
        workers=workers,
        command=command,
    )
    typer.echo(f"wrote the collages benchmark to {result.out} in {result.seconds:.1f} s")
    for name, stats in result.card["splits"].items():
        langs = ", ".join(f"{k} {v}" for k, v in stats["queries_per_language"].items())
        counts = f"{stats['items']:5d} collages {stats['objects']:6d} objects {stats['queries']:6d} queries"
        typer.echo(f"  {name:10s} {counts} ({langs})")
    typer.echo(f"  card: {result.out / 'CARD.md'}")
