"""Build the animated benchmark into a folder: the driver that runs the other modules in order.

1. :func:`memesearch.data.emoji.sources.ensure_packages` — the emoji npm packages (shared with the emoji
   and collages benchmarks; installed into the npm cache if missing).
2. :func:`memesearch.data.emoji.catalogue.load_catalogue` then
   :func:`memesearch.data.animated.assemble.plan_animations` — which emoji go into which animation.
3. :func:`memesearch.data.animated.render.render_animation` in a process pool — the GIF / WebP / APNG files.
4. :func:`memesearch.data.animated.assemble.make_dataset` — items and graded name/keyword queries — written
   as a native manifest with ``card.json`` / ``CARD.md``, in a temporary sibling folder moved into place.

Same config and seed -> the same manifest and the same file bytes (every random choice is seeded by the
seed and the animation id; the writers store no timestamp). ``card.json`` alone holds the build time.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from memesearch.data.animated.assemble import AnimatedPlan, make_dataset, plan_animations
from memesearch.data.animated.config import DATASET_NAME, IMAGES_DIR, AnimatedBuildConfig
from memesearch.data.animated.render import AnimationJob, render_animation
from memesearch.data.emoji.build import BuildResult, prepare_out, publish_build
from memesearch.data.emoji.card import STYLE_LICENCES, TEXT_SOURCES
from memesearch.data.emoji.catalogue import load_catalogue
from memesearch.data.emoji.sources import TEXT_PACKAGE, ensure_packages, installed_version, style_package
from memesearch.data.memes.fonts import FONTS, check_fonts
from memesearch.data.records import Dataset
from memesearch.data.statistics import count_meta, query_statistics
from memesearch.errors import MemesearchError
from memesearch.utils.io import progress_bar

log = logging.getLogger(__name__)


def _render_chunk(jobs: list[AnimationJob], root: str) -> list[int]:
    return [render_animation(job, root) for job in jobs]


def render_all(
    jobs: Sequence[AnimationJob], root: Path, *, workers: int | None = None, progress: bool = False
) -> None:
    """Write every animation under ``root`` (a process pool when there are many)."""
    n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    chunks = [list(jobs[i : i + 32]) for i in range(0, len(jobs), 32)]
    with progress_bar("drawing animations", len(jobs), enabled=progress, transient=False) as advance:
        if n_workers <= 1 or len(chunks) < 2:
            for part in chunks:
                _render_chunk(part, str(root))
                advance(len(part))
        else:
            with ProcessPoolExecutor(max_workers=n_workers) as pool:
                for part, _ in zip(
                    chunks, pool.map(_render_chunk, chunks, [str(root)] * len(chunks)), strict=True
                ):
                    advance(len(part))


def split_statistics(dataset: Dataset) -> dict[str, Any]:
    """Per split: animations, concepts shown, captioned animations, formats, queries per language."""
    out: dict[str, Any] = {}
    for split in dataset:
        concepts = {k for it in split.items for k in it.meta["concepts"]}
        out[split.name] = {
            "items": len(split.items),
            "concepts": len(concepts),
            "with_text": sum(1 for it in split.items if it.meta.get("text")),
            "emoji_per_item": dict(sorted(Counter(len(it.meta["concepts"]) for it in split.items).items())),
            "formats": count_meta(split.items, "format"),
            **query_statistics(split),
            "styles": count_meta(split.items, "style"),
        }
    return out


def make_card(
    dataset: Dataset, config: AnimatedBuildConfig, plan: AnimatedPlan, sources: dict[str, str], command: str
) -> dict[str, Any]:
    """The dataset card as a JSON-ready dict (also the dataset's ``meta``)."""
    from memesearch._version import __version__

    cfg = asdict(config)
    cfg["counts"] = dict(config.counts)
    for key in ("styles", "languages", "formats", "fractions"):
        cfg[key] = list(cfg[key])
    styles = [*config.train_styles, config.heldout_style]
    return {
        "name": DATASET_NAME,
        "description": (
            "Animated stickers made offline from the emoji benchmark's images: GIF, animated WebP and APNG "
            "files whose frames show two or three emoji in turn (each for a few bobbing frames); about "
            f"{config.text_fraction:.0%} carry a caption (the last emoji's CLDR name, en or zh) drawn only "
            "on the last emoji's frames. Queries: CLDR names (grade 2) and keywords (grade 1) per language; "
            "relevant = the animations showing the emoji in any frame. Splits follow the emoji benchmark's "
            "concept and style splits."
        ),
        "memesearch_version": __version__,
        "command": command,
        "config": cfg,
        "sources": sources,
        "licences": {
            "images": {s: asdict(STYLE_LICENCES[s]) for s in styles},
            "text": TEXT_SOURCES,
            "fonts": {lang: f"{FONTS[lang].name}: {FONTS[lang].licence}" for lang in ("en", "zh")},
        },
        "images": {"formats": list(config.formats), "layout": f"{IMAGES_DIR}/<view>/<id>.<gif|webp|png>"},
        "meta": "item.meta: concepts (in the order shown), frame_concepts (per frame), frames, frame_ms, "
        "text / text_lang / text_frame (the caption and the first frame showing it, or null), format, style",
        "concepts_per_split": dict(sorted(Counter(plan.concept_split.values()).items())),
        "splits": split_statistics(dataset),
    }


def render_markdown(card: dict[str, Any]) -> str:
    """The human-readable ``CARD.md`` of a card dict made by the builder."""
    cfg = card["config"]
    lines = [
        f"# {card['name']} — animated sticker benchmark",
        "",
        card["description"],
        "",
        "## Build",
        "",
        f"- Command: `{card['command']}`",
        f"- Seed {cfg['seed']}; size {cfg['size']} px; {cfg['min_concepts']}-{cfg['max_concepts']} emoji per "
        f"animation, {cfg['frames_per_concept']} frames each, {cfg['frame_ms']} ms per frame; formats "
        f"{', '.join(cfg['formats'])}; train styles {', '.join(cfg['styles'])}, held-out style "
        f"{cfg['heldout_style']}",
        f"- Built with memesearch {card['memesearch_version']}"
        + (f" in {card['build_seconds']:.1f} s" if "build_seconds" in card else ""),
        f"- Meta: {card['meta']}",
        "",
        "## Splits",
        "",
        "| view | animations | concepts | with caption | formats | queries (per language) "
        "| relevant per query |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in card["splits"].items():
        langs = ", ".join(f"{k} {v}" for k, v in s["queries_per_language"].items())
        formats = ", ".join(f"{k} {v}" for k, v in s["formats"].items())
        lines.append(
            f"| {name} | {s['items']} | {s['concepts']} | {s['with_text']} | {formats} | {s['queries']} "
            f"({langs}) | {s['mean_relevant_per_query']} |"
        )
    lines += ["", "## Sources and licences", "", "| source | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in card["sources"].items()]
    lines += [""] + [
        f"- emoji style {k}: {v['licence']} — {v['note']}" for k, v in card["licences"]["images"].items()
    ]
    lines += [f"- {k}: {v}" for k, v in card["licences"]["text"].items()]
    lines += [f"- font ({k}): {v}" for k, v in card["licences"]["fonts"].items()] + [""]
    return "\n".join(lines)


def build_animated_benchmark(
    config: AnimatedBuildConfig,
    out: str | Path,
    *,
    npm_cache: str | Path | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    workers: int | None = None,
    command: str | None = None,
) -> BuildResult:
    """Build the benchmark into ``out``: ``dataset.json`` + JSONL per view, ``images/``, ``CARD.md``.

    Example::

        >>> result = build_animated_benchmark(AnimatedBuildConfig(), "data/animated")  # doctest: +SKIP
        >>> result.dataset["test"].items[0].meta["concepts"]  # doctest: +SKIP
    """
    from memesearch.data.formats import read_dataset, write_dataset

    start = time.monotonic()
    timings: dict[str, float] = {}
    out_dir = Path(out).expanduser().resolve()
    prepare_out(out_dir, overwrite)
    show = sys.stderr.isatty() if progress is None else progress
    check_fonts([lang for lang in config.languages if lang in FONTS])

    t = time.monotonic()
    styles = [*config.train_styles, config.heldout_style]
    packages = ensure_packages([*(style_package(s) for s in styles), TEXT_PACKAGE], npm_cache, progress=show)
    cache = packages[TEXT_PACKAGE].parent.parent
    sources = {name: installed_version(name, cache) or "?" for name in packages}
    timings["packages"] = time.monotonic() - t

    t = time.monotonic()
    first = packages[style_package(config.train_styles[0])]
    catalogue = load_catalogue(first / "emoji.json", packages[TEXT_PACKAGE], config.languages)
    languages = [lang for lang in config.languages if lang in catalogue.languages]
    plan = plan_animations(catalogue, config, {s: packages[style_package(s)] for s in styles}, languages)
    jobs = [job for view_jobs in plan.jobs.values() for job in view_jobs]
    missing = sorted({src for j in jobs for _, src in j.emoji if not os.path.isfile(src)})
    if missing:
        raise MemesearchError(
            f"{len(missing)} emoji images are missing (e.g. {missing[0]}); the npm package looks incomplete: "
            "delete its folder under the npm cache and run the build again"
        )
    timings["plan"] = time.monotonic() - t

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        t = time.monotonic()
        render_all(jobs, tmp, workers=workers, progress=show)
        timings["images"] = time.monotonic() - t
        dataset = make_dataset(plan, languages)
        card = make_card(
            dataset,
            config,
            plan,
            sources,
            command or "memesearch datasets build animated " + shlex.join(["--out", str(out)]),
        )
        dataset.meta = dict(card)  # without the timings, so that dataset.json is reproducible
        dataset.root = tmp
        t = time.monotonic()
        write_dataset(dataset, tmp, fmt="native")
        timings["native"] = time.monotonic() - t
        publish_build(tmp, out_dir, card, timings, start, render_markdown)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    dataset = read_dataset(out_dir, fmt="native")
    seconds = time.monotonic() - start
    log.info("built the animated benchmark in %s in %.1f s", out_dir, seconds)
    return BuildResult(dataset=dataset, card=card, out=out_dir, seconds=seconds, timings=timings)


__all__ = ["build_animated_benchmark", "make_card", "render_markdown"]
