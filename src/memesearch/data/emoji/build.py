"""Build the emoji benchmark: concepts split by a seeded hash, items per (emoji, style), graded text queries.

Pipeline (each step a function, so tests can run the in-memory part without writing images):

1. :func:`memesearch.data.emoji.sources.ensure_packages` — the npm packages, installed if missing.
2. :func:`memesearch.data.emoji.catalogue.load_catalogue` — emoji-datasource joined with emojibase.
3. :func:`memesearch.data.emoji.assemble.make_dataset` — splits, items, queries and the list of images
   to write.
4. :func:`build_emoji_benchmark` (here) — writes images (:mod:`memesearch.data.emoji.images`, a process
   pool), the native manifest, the MSRVTT-style folder and the dataset card
   (:mod:`memesearch.data.emoji.card`), atomically into ``out``.

Views (splits of the written dataset):

* ``train`` / ``val``: train / validation concepts drawn in the train styles;
* ``test``: test concepts drawn in the held-out style — unseen drawings of unseen concepts;
* ``test-seen``: train concepts drawn in the held-out style — unseen drawings of seen concepts.

Queries of a view are the names (CLDR short names, grade 2) and keywords (CLDR tags, grade 1) of the
concepts in its gallery, one query per unique (language, text), graded by the maximum over roles:
a text that names one emoji and tags three others has one grade-2 and three grade-1 concepts, and
each concept's images in the gallery carry its grade. Every query therefore has a relevant item.

Images of the emoji-datasource styles are 64-px PNGs from ``img/<style>/64/``; the SVG styles
(Fluent, OpenMoji: :mod:`memesearch.data.emoji.svgstyles`) are rendered at the build size. The
packages' sprite sheets hold the same 64-px pixels (``sheets-128`` / ``sheets-256`` are 128- and
256-*colour* quantised sheets, not larger images), so sizes 128 and 256 are Lanczos upsamplings of
the 64-px drawings and 32 a downsampling.
By default images are composited onto white and saved as RGB, because the sources hold arbitrary
colours under fully transparent pixels that a plain ``convert("RGB")`` would reveal; ``background=
"transparent"`` keeps RGBA.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memesearch.data.emoji.assemble import make_dataset
from memesearch.data.emoji.card import make_card, render_markdown
from memesearch.data.emoji.catalogue import load_catalogue
from memesearch.data.emoji.config import CARD_JSON, CARD_MD, MSRVTT_DIR, EmojiBuildConfig
from memesearch.data.emoji.images import write_images
from memesearch.data.emoji.sources import TEXT_PACKAGE, ensure_packages, installed_version, style_package
from memesearch.data.emoji.svgstyles import concept_names, index_svg_style
from memesearch.data.records import Dataset
from memesearch.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BuildResult:
    """A finished build: the dataset as written, its card, where it went and how long it took."""

    dataset: Dataset
    card: dict[str, Any]
    out: Path
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


def prepare_out(out: Path, overwrite: bool) -> None:
    """Refuse an ``out`` that is a file, or a non-empty folder without ``--overwrite`` or a dataset."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the dataset")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"--out {out} is not empty; pass --overwrite to replace the dataset there")
        if not (out / "dataset.json").is_file() and not (out / CARD_JSON).is_file():
            raise ConfigError(
                f"--out {out} is not empty and holds no memesearch dataset (no dataset.json); refusing to "
                "replace it: choose an empty or new folder"
            )


def build_emoji_benchmark(
    config: EmojiBuildConfig,
    out: str | Path,
    *,
    npm_cache: str | Path | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    workers: int | None = None,
    msrvtt: bool = True,
    command: str | None = None,
) -> BuildResult:
    """Build the benchmark into ``out``: native manifest, ``msrvtt/``, ``images/``, the dataset card.

    The dataset is assembled in a temporary sibling folder and moved into place at the end, so an
    interrupted build never leaves a half-written dataset at ``out``.

    Example::

        >>> result = build_emoji_benchmark(EmojiBuildConfig(limit=30), "data/emoji-small")  # doctest: +SKIP
        >>> result.dataset["test"].queries[0].text  # doctest: +SKIP
    """
    from memesearch.data.formats import read_dataset, write_dataset

    start = time.monotonic()
    timings: dict[str, float] = {}
    out_dir = Path(out).expanduser().resolve()
    prepare_out(out_dir, overwrite)
    show = sys.stderr.isatty() if progress is None else progress

    t = time.monotonic()
    png_styles = [s for s in config.all_styles if s not in config.svg_styles]
    # emoji-datasource-<first png style> holds the catalogue (emoji.json), even for SVG-only train styles
    wanted = [style_package(s) for s in (*config.all_styles, png_styles[0])]
    packages = ensure_packages([*wanted, TEXT_PACKAGE], npm_cache, progress=show)
    timings["packages"] = time.monotonic() - t
    cache = packages[TEXT_PACKAGE].parent.parent
    sources = {name: installed_version(name, cache) or "?" for name in packages}

    t = time.monotonic()
    emoji_json = packages[style_package(png_styles[0])] / "emoji.json"
    catalogue = load_catalogue(emoji_json, packages[TEXT_PACKAGE], config.languages)
    svg_index = {}
    if config.svg_styles:
        names = concept_names(catalogue, emoji_json, packages[TEXT_PACKAGE])
        svg_index = {s: index_svg_style(s, packages[style_package(s)], names) for s in config.svg_styles}
    dataset, jobs, report = make_dataset(
        catalogue,
        config,
        {s: packages[style_package(s)] for s in png_styles},
        {s: index.files for s, index in svg_index.items()},
    )
    report.svg_styles = {s: index.summary() for s, index in svg_index.items()}
    timings["catalogue"] = time.monotonic() - t

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        card = make_card(
            dataset,
            config,
            report,
            catalogue,
            sources,
            time.monotonic() - start,
            command or "memesearch datasets build emoji " + shlex.join(["--out", str(out)]),
        )
        # dataset.json carries the card without the timings, which are only known at the end.
        dataset.meta = {k: v for k, v in card.items() if k != "build_seconds"}
        dataset.root = tmp
        t = time.monotonic()
        write_dataset(dataset, tmp, fmt="native")
        timings["native"] = time.monotonic() - t
        t = time.monotonic()
        write_images(jobs, tmp, workers=workers, progress=show)
        timings["images"] = time.monotonic() - t
        if msrvtt:
            t = time.monotonic()
            # MSRVTT-style holds a train and a test layout, binary relevance and no meta (lossy, by design).
            write_dataset(dataset, tmp / MSRVTT_DIR, fmt="msrvtt", splits={"train": "train", "test": "test"})
            timings["msrvtt"] = time.monotonic() - t
        publish_build(tmp, out_dir, card, timings, start, render_markdown)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    dataset = read_dataset(out_dir, fmt="native")
    seconds = time.monotonic() - start
    log.info("built the emoji benchmark in %s in %.1f s", out_dir, seconds)
    return BuildResult(dataset=dataset, card=card, out=out_dir, seconds=seconds, timings=timings)


def publish_build(
    tmp: Path,
    out: Path,
    card: dict[str, Any],
    timings: dict[str, float],
    start: float,
    render: Callable[[dict[str, Any]], str],
) -> None:
    """Finish a benchmark build in ``tmp``: record the time it took in the card, write the card (JSON and
    Markdown by ``render``) and move the build to ``out``."""
    card["build_seconds"] = round(time.monotonic() - start, 2)
    card["timings"] = {k: round(v, 2) for k, v in timings.items()}
    (tmp / CARD_JSON).write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (tmp / CARD_MD).write_text(render(card), encoding="utf-8")
    swap_into_place(tmp, out)


def swap_into_place(tmp: Path, out: Path) -> None:
    """Move the finished build ``tmp`` to ``out``, replacing (then deleting) a dataset already there."""
    old: Path | None = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
