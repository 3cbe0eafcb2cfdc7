"""Build the collages benchmark into a folder: the driver that runs the other modules in order.

1. :func:`memesearch.data.emoji.sources.ensure_packages` — the emoji npm packages (shared with the emoji
   benchmark; installed into the npm cache if missing).
2. :func:`memesearch.data.emoji.catalogue.load_catalogue` then
   :func:`memesearch.data.collages.assemble.plan_collages` — which emoji go into which collage.
3. :func:`memesearch.data.collages.compose.render_collage` in a process pool with a progress bar — the
   images, and the truth box of every emoji drawn.
4. :func:`memesearch.data.collages.assemble.make_dataset` — items with ``objects`` and name queries —
   written as a native manifest with ``card.json`` / ``CARD.md``, in a temporary sibling folder moved
   into place at the end.

Same config and seed -> the same manifest and the same image bytes (every random choice is seeded by
the seed and the collage id; Pillow's PNG writer stores no timestamp). ``card.json`` alone holds the
build time.
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

from memesearch.data.collages.assemble import CollagePlan, make_dataset, plan_collages
from memesearch.data.collages.compose import CollageJob, render_collage
from memesearch.data.collages.config import DATASET_NAME, IMAGES_DIR, CollagesBuildConfig
from memesearch.data.emoji.build import BuildResult, prepare_out, publish_build
from memesearch.data.emoji.card import STYLE_LICENCES, TEXT_SOURCES
from memesearch.data.emoji.catalogue import load_catalogue
from memesearch.data.emoji.sources import TEXT_PACKAGE, ensure_packages, installed_version, style_package
from memesearch.data.records import Dataset
from memesearch.data.statistics import count_meta, query_statistics
from memesearch.errors import MemesearchError
from memesearch.objects.regions import Region
from memesearch.utils.io import progress_bar

log = logging.getLogger(__name__)

Truth = list[tuple[str, Region]]


def _render_chunk(jobs: list[CollageJob], root: str) -> list[Truth]:
    return [render_collage(job, root) for job in jobs]


def render_all(
    jobs: Sequence[CollageJob], root: Path, *, workers: int | None = None, progress: bool = False
) -> dict[str, Truth]:
    """Draw every collage under ``root`` (a process pool when there are many) -> truth per target path."""
    n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    chunk = 32
    chunks = [list(jobs[i : i + chunk]) for i in range(0, len(jobs), chunk)]
    truth: dict[str, Truth] = {}
    with progress_bar("drawing collages", len(jobs), enabled=progress, transient=False) as advance:
        if n_workers <= 1 or len(chunks) < 2:
            results = (_render_chunk(part, str(root)) for part in chunks)
            for part, result in zip(chunks, results, strict=True):
                truth.update({j.target: t for j, t in zip(part, result, strict=True)})
                advance(len(part))
        else:
            with ProcessPoolExecutor(max_workers=n_workers) as pool:
                mapped = pool.map(_render_chunk, chunks, [str(root)] * len(chunks))
                for part, result in zip(chunks, mapped, strict=True):
                    truth.update({j.target: t for j, t in zip(part, result, strict=True)})
                    advance(len(part))
    return truth


def split_statistics(dataset: Dataset) -> dict[str, Any]:
    """Per split: collages, distinct concepts drawn, objects, queries per language, backgrounds."""
    out: dict[str, Any] = {}
    for split in dataset:
        concepts = {k for it in split.items for k in it.meta["concepts"]}
        out[split.name] = {
            "items": len(split.items),
            "concepts": len(concepts),
            "objects": sum(len(it.objects) for it in split.items),
            **query_statistics(split),
            "backgrounds": count_meta(split.items, "background"),
            "styles": count_meta(split.items, "style"),
        }
    return out


def make_card(
    dataset: Dataset, config: CollagesBuildConfig, plan: CollagePlan, sources: dict[str, str], command: str
) -> dict[str, Any]:
    """The dataset card as a JSON-ready dict (also the dataset's ``meta``)."""
    from memesearch._version import __version__

    cfg = asdict(config)
    cfg["counts"] = dict(config.counts)
    for key in ("styles", "languages", "backgrounds", "fractions"):
        cfg[key] = list(cfg[key])
    styles = [*config.train_styles, config.heldout_style]
    return {
        "name": DATASET_NAME,
        "description": (
            "Collages and sticker sheets made offline from the emoji benchmark's images: 2-6 emoji at "
            "random positions and sizes on plain, patterned and scene backgrounds, each emoji's box and name "
            "recorded as the item's objects; queries name one emoji (CLDR name, per language); relevant = "
            "the collages that contain it. Splits follow the emoji benchmark's concept and style splits."
        ),
        "memesearch_version": __version__,
        "command": command,
        "config": cfg,
        "sources": sources,
        "licences": {"images": {s: asdict(STYLE_LICENCES[s]) for s in styles}, "text": TEXT_SOURCES},
        "images": {"format": "PNG", "mode": "RGB", "layout": f"{IMAGES_DIR}/<view>/<id>.png"},
        "objects": "item.objects: [{box: [x0, y0, x1, y1] (pixels, x1/y1 exclusive), label: CLDR en name}]; "
        "item.meta.concepts: the emoji keys in the same order",
        "concepts_per_split": dict(sorted(Counter(plan.concept_split.values()).items())),
        "splits": split_statistics(dataset),
    }


def render_markdown(card: dict[str, Any]) -> str:
    """The human-readable ``CARD.md`` of a card dict made by the builder."""
    cfg = card["config"]
    lines = [
        f"# {card['name']} — object-centric search benchmark",
        "",
        card["description"],
        "",
        "## Build",
        "",
        f"- Command: `{card['command']}`",
        f"- Seed {cfg['seed']}; size {cfg['size']} px; {cfg['min_objects']}-{cfg['max_objects']} emoji per "
        f"collage; backgrounds {', '.join(cfg['backgrounds'])}; train styles {', '.join(cfg['styles'])}, "
        f"held-out style {cfg['heldout_style']}",
        f"- Built with memesearch {card['memesearch_version']}"
        + (f" in {card['build_seconds']:.1f} s" if "build_seconds" in card else ""),
        f"- Objects: {card['objects']}",
        "",
        "## Splits",
        "",
        "| view | collages | concepts drawn | objects | queries (per language) | relevant per query "
        "| styles |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in card["splits"].items():
        langs = ", ".join(f"{k} {v}" for k, v in s["queries_per_language"].items())
        styles = ", ".join(f"{k} {v}" for k, v in s["styles"].items())
        lines.append(
            f"| {name} | {s['items']} | {s['concepts']} | {s['objects']} | {s['queries']} ({langs}) "
            f"| {s['mean_relevant_per_query']} | {styles} |"
        )
    lines += ["", "## Sources and licences", "", "| source | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in card["sources"].items()]
    lines += [""] + [
        f"- emoji style {k}: {v['licence']} — {v['note']}" for k, v in card["licences"]["images"].items()
    ]
    lines += [f"- {k}: {v}" for k, v in card["licences"]["text"].items()] + [""]
    return "\n".join(lines)


def build_collages_benchmark(
    config: CollagesBuildConfig,
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

        >>> result = build_collages_benchmark(CollagesBuildConfig(), "data/collages")  # doctest: +SKIP
        >>> result.dataset["test"].items[0].objects[0].label  # doctest: +SKIP
    """
    from memesearch.data.formats import read_dataset, write_dataset

    start = time.monotonic()
    timings: dict[str, float] = {}
    out_dir = Path(out).expanduser().resolve()
    prepare_out(out_dir, overwrite)
    show = sys.stderr.isatty() if progress is None else progress

    t = time.monotonic()
    styles = [*config.train_styles, config.heldout_style]
    packages = ensure_packages([*(style_package(s) for s in styles), TEXT_PACKAGE], npm_cache, progress=show)
    cache = packages[TEXT_PACKAGE].parent.parent
    sources = {name: installed_version(name, cache) or "?" for name in packages}
    timings["packages"] = time.monotonic() - t

    t = time.monotonic()
    first = packages[style_package(config.train_styles[0])]
    catalogue = load_catalogue(first / "emoji.json", packages[TEXT_PACKAGE], config.languages)
    plan = plan_collages(catalogue, config, {s: packages[style_package(s)] for s in styles})
    jobs = [job for view_jobs in plan.jobs.values() for job in view_jobs]
    missing = sorted({e.source for j in jobs for e in j.emoji if not os.path.isfile(e.source)})
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
        truth = render_all(jobs, tmp, workers=workers, progress=show)
        timings["images"] = time.monotonic() - t
        languages = [lang for lang in config.languages if lang in catalogue.languages]
        dataset = make_dataset(plan, truth, config, languages)
        card = make_card(
            dataset,
            config,
            plan,
            sources,
            command or "memesearch datasets build collages " + shlex.join(["--out", str(out)]),
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
    log.info("built the collages benchmark in %s in %.1f s", out_dir, seconds)
    return BuildResult(dataset=dataset, card=card, out=out_dir, seconds=seconds, timings=timings)
