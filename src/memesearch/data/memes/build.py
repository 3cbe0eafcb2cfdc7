"""Build the memes benchmark into a folder: the driver that runs the other modules in order.

1. :func:`memesearch.data.memes.fonts.check_fonts` — the fonts, before any work (one-line error naming
   the Debian package when one is missing).
2. :func:`memesearch.data.emoji.sources.ensure_packages` — the emoji npm packages (images and CLDR text),
   installed into the npm cache if missing, shared with the emoji benchmark.
3. :func:`memesearch.data.emoji.catalogue.load_catalogue` then
   :func:`memesearch.data.memes.assemble.make_dataset` — families, splits, items, queries, render jobs.
4. :func:`build_memes_benchmark` (here) — writes the native manifest, draws the images in a process pool
   with a progress bar (:func:`memesearch.data.emoji.images.run_image_jobs` running
   :func:`memesearch.data.memes.render.render_meme`) and writes the card, in a temporary sibling folder
   moved into place at the end.

Same config and seed -> the same manifest and the same image bytes (every random choice is seeded by
the item id; Pillow's PNG writer stores no timestamp). ``card.json`` alone holds the build time.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

from memesearch.data.emoji.build import BuildResult, prepare_out, publish_build
from memesearch.data.emoji.catalogue import load_catalogue
from memesearch.data.emoji.images import run_image_jobs
from memesearch.data.emoji.sources import TEXT_PACKAGE, ensure_packages, installed_version, style_package
from memesearch.data.memes.assemble import make_dataset
from memesearch.data.memes.card import make_card, render_markdown
from memesearch.data.memes.config import MemesBuildConfig
from memesearch.data.memes.fonts import check_fonts
from memesearch.data.memes.render import render_meme
from memesearch.errors import MemesearchError

log = logging.getLogger(__name__)


def build_memes_benchmark(
    config: MemesBuildConfig,
    out: str | Path,
    *,
    npm_cache: str | Path | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    workers: int | None = None,
    command: str | None = None,
) -> BuildResult:
    """Build the benchmark into ``out``: ``dataset.json`` + JSONL per split, ``images/``, ``CARD.md``.

    Example::

        >>> result = build_memes_benchmark(MemesBuildConfig(limit=30), "data/memes-small")  # doctest: +SKIP
        >>> result.card["splits"]["test"]["items"]  # doctest: +SKIP
    """
    from memesearch.data.formats import read_dataset, write_dataset

    start = time.monotonic()
    timings: dict[str, float] = {}
    out_dir = Path(out).expanduser().resolve()
    prepare_out(out_dir, overwrite)
    fonts = check_fonts(config.languages)
    show = sys.stderr.isatty() if progress is None else progress

    t = time.monotonic()
    names = [*(style_package(s) for s in config.styles), TEXT_PACKAGE]
    packages = ensure_packages(names, npm_cache, progress=show)
    cache = packages[TEXT_PACKAGE].parent.parent
    sources = {name: installed_version(name, cache) or "?" for name in packages}
    timings["packages"] = time.monotonic() - t

    t = time.monotonic()
    first = packages[style_package(config.styles[0])]
    catalogue = load_catalogue(first / "emoji.json", packages[TEXT_PACKAGE], config.languages)
    roots = {s: packages[style_package(s)] for s in config.styles}
    dataset, jobs, report = make_dataset(catalogue, config, fonts, roots)
    timings["assemble"] = time.monotonic() - t
    missing = [j.emoji_source for j in jobs if j.emoji_source and not os.path.isfile(j.emoji_source)]
    if missing:
        raise MemesearchError(
            f"{len(missing)} emoji images are missing (e.g. {missing[0]}); the npm package looks incomplete: "
            "delete its folder under the npm cache and run the build again"
        )

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        card = make_card(
            dataset,
            config,
            report,
            sources,
            command or "memesearch datasets build memes " + shlex.join(["--out", str(out)]),
        )
        dataset.meta = dict(card)  # the card without the timings, so that dataset.json is reproducible
        dataset.root = tmp
        t = time.monotonic()
        write_dataset(dataset, tmp, fmt="native")
        timings["native"] = time.monotonic() - t
        t = time.monotonic()
        run_image_jobs(render_meme, jobs, tmp, workers=workers, progress=show, description="drawing memes")
        timings["images"] = time.monotonic() - t
        publish_build(tmp, out_dir, card, timings, start, render_markdown)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    dataset = read_dataset(out_dir, fmt="native")
    seconds = time.monotonic() - start
    log.info("built the memes benchmark in %s in %.1f s", out_dir, seconds)
    return BuildResult(dataset=dataset, card=card, out=out_dir, seconds=seconds, timings=timings)
