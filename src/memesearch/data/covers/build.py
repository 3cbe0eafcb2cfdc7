"""Build the covers benchmark into a folder: the driver, and its dataset card.

1. :func:`~memesearch.data.covers.config.check_cover_fonts` — the fonts, before any work;
2. :func:`memesearch.data.emoji.sources.ensure_packages` — the emoji npm packages (images, CLDR text),
   shared with the emoji and memes benchmarks;
3. :func:`memesearch.data.covers.assemble.make_dataset` — topics, splits, covers, queries, render jobs;
4. :func:`build_covers_benchmark` (here) — writes the native manifest (``dataset.json`` + JSONL per
   split), the CBVS files (``cbvs/train.tsv``: ``title, url, ocr`` with ``\\N``; ``cbvs/val.txt`` and
   ``cbvs/test.txt``: ``query, docid, url, label``), draws the covers (JPEG) in a process pool with a
   progress bar and writes the card, in a temporary sibling folder moved into place at the end.

The CBVS url column holds ``file://`` urls of the covers where the dataset is built (``--out``); a moved
dataset keeps its native manifest (relative paths) and can rewrite them with ``memesearch datasets
convert``. Same config and seed -> the same manifest, CBVS files and image bytes; ``card.json`` alone
holds the build time. The dataset's ``meta.protocol`` is ``"cbvs"``: ``memesearch evaluate`` scores it
the CBVS way (R@K over the split's gallery, PNR / NDCG / MAP over each query's candidates).
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from memesearch.data.covers.assemble import CoversReport, make_dataset
from memesearch.data.covers.config import (
    CBVS_DIR,
    CBVS_FILES,
    DATASET_NAME,
    FONTS,
    CoversBuildConfig,
    check_cover_fonts,
)
from memesearch.data.covers.genres import GENRE_KEYS
from memesearch.data.covers.render import render_cover
from memesearch.data.emoji.build import BuildResult, prepare_out, publish_build
from memesearch.data.emoji.catalogue import load_catalogue
from memesearch.data.emoji.images import run_image_jobs
from memesearch.data.emoji.sources import TEXT_PACKAGE, ensure_packages, installed_version, style_package
from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import MemesearchError

log = logging.getLogger(__name__)


def _spread(values: list[int]) -> dict[str, int]:
    values = sorted(values)
    if not values:
        return {"min": 0, "median": 0, "max": 0}
    return {"min": values[0], "median": values[len(values) // 2], "max": values[-1]}


def split_statistics(dataset: Dataset) -> dict[str, Any]:
    """Counts per split, computed from the built dataset (never typed by hand)."""
    out: dict[str, Any] = {}
    for split in dataset:
        text = [it for it in split.items if it.meta.get("has_text")]
        grades: Counter[int] = Counter(g for q in split.queries for g in q.qrels.values())
        out[split.name] = {
            "topics": len({it.meta["topic"] for it in split.items}),
            "covers": len(split.items),
            "textless_covers": len(split.items) - len(text),
            "text_covers_per_language": dict(
                sorted(Counter(str(it.meta["text_lang"]) for it in text).items())
            ),
            "fonts": dict(sorted(Counter(str(it.meta["font"]) for it in text).items())),
            "layouts": dict(sorted(Counter(str(it.meta["layout"]) for it in text).items())),
            "backgrounds": dict(sorted(Counter(str(it.meta["background"]) for it in split.items).items())),
            "queries": len(split.queries),
            "queries_per_language": dict(sorted(Counter(str(q.meta["lang"]) for q in split.queries).items())),
            "queries_per_kind": dict(sorted(Counter(str(q.meta["kind"]) for q in split.queries).items())),
            "labels": {str(g): grades[g] for g in (2, 1, 0)},
            "candidates_per_query": _spread([len(q.qrels) for q in split.queries]),
        }
    return out


def make_card(
    dataset: Dataset, config: CoversBuildConfig, report: CoversReport, sources: dict[str, str], command: str
) -> dict[str, Any]:
    """The dataset card (also the dataset's ``meta``, without the build time)."""
    return {
        "name": DATASET_NAME,
        "protocol": "cbvs",
        "command": command,
        "config": asdict(config),
        "sources": sources,
        "fonts": {lang: [spec.name for spec, _ in specs] for lang, specs in FONTS.items()},
        "genres": list(GENRE_KEYS),
        "topics": {"available": report.topics_available, "used": len(report.topic_split)},
        "duplicate_queries_dropped": report.duplicate_queries,
        "files": {"native": "dataset.json", **{s: f"{CBVS_DIR}/{f}" for s, f in CBVS_FILES.items()}},
        "splits": split_statistics(dataset),
    }


def render_markdown(card: dict[str, Any]) -> str:
    """``CARD.md``: the command, the files and a table of the split statistics."""
    lines = [
        "# The covers benchmark (CBVS-like short-video covers, rendered offline)",
        "",
        f"Built by `{card['command']}` in {card.get('build_seconds', '?')} s.",
        "",
        "Files: " + ", ".join(f"`{v}` ({k})" for k, v in card["files"].items()) + ".",
        "",
        "| split | topics | covers | without text | text en / zh | queries en / zh | labels 2 / 1 / 0 | "
        "candidates per query |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in card["splits"].items():
        t, q, lab, c = (
            s["text_covers_per_language"],
            s["queries_per_language"],
            s["labels"],
            s["candidates_per_query"],
        )
        lines.append(
            f"| {name} | {s['topics']} | {s['covers']} | {s['textless_covers']} "
            f"| {t.get('en', 0)} / {t.get('zh', 0)} "
            f"| {q.get('en', 0)} / {q.get('zh', 0)} | {lab['2']} / {lab['1']} / {lab['0']} "
            f"| {c['min']}-{c['max']} (median {c['median']}) |"
        )
    lines += ["", f"Genres: {', '.join(card['genres'])}. Fonts: {card['fonts']}.", ""]
    return "\n".join(lines)


def _cbvs_views(dataset: Dataset, out_dir: Path) -> dict[str, Dataset]:
    """Stripped copies of the splits as the CBVS files hold them (urls of the final location)."""
    views: dict[str, Dataset] = {}
    for split in dataset:
        if split.name == "train":
            items = [
                Item(
                    id=(out_dir / str(it.path)).as_uri(),
                    path=str(out_dir / str(it.path)),
                    captions=[str(it.meta["title"])],
                    ocr=it.ocr,
                )
                for it in split.items
            ]
            queries: list[Query] = []
        else:
            items = [Item(id=it.id, path=str(out_dir / str(it.path))) for it in split.items]
            queries = [Query(id=q.text, text=q.text, qrels=dict(q.qrels)) for q in split.queries]
        views[split.name] = Dataset(
            name=DATASET_NAME,
            splits={split.name: Split(split.name, items=items, queries=queries)},
            root=out_dir,
        )
    return views


def build_covers_benchmark(
    config: CoversBuildConfig,
    out: str | Path,
    *,
    npm_cache: str | Path | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    workers: int | None = None,
    command: str | None = None,
) -> BuildResult:
    """Build the benchmark into ``out`` (see the module docstring).

    Example::

        >>> config = CoversBuildConfig(topics=30)
        >>> result = build_covers_benchmark(config, "data/covers-small")  # doctest: +SKIP
    """
    from memesearch.data.formats import read_dataset, write_dataset
    from memesearch.data.formats.cbvs import write_test, write_train

    start = time.monotonic()
    timings: dict[str, float] = {}
    out_dir = Path(out).expanduser().resolve()
    prepare_out(out_dir, overwrite)
    fonts = check_cover_fonts(config.languages)
    show = sys.stderr.isatty() if progress is None else progress

    t = time.monotonic()
    packages = ensure_packages(
        [*(style_package(s) for s in config.styles), TEXT_PACKAGE], npm_cache, progress=show
    )
    cache = packages[TEXT_PACKAGE].parent.parent
    sources = {name: installed_version(name, cache) or "?" for name in packages}
    timings["packages"] = time.monotonic() - t

    t = time.monotonic()
    first = packages[style_package(config.styles[0])]
    catalogue = load_catalogue(first / "emoji.json", packages[TEXT_PACKAGE], config.languages)
    roots = {s: str(packages[style_package(s)]) for s in config.styles}
    dataset, jobs, report = make_dataset(catalogue, config, fonts, roots)
    timings["assemble"] = time.monotonic() - t
    paths = {p for j in jobs for p in (j.emoji, j.distractor, j.icon) if p}
    missing = sorted(p for p in paths if not os.path.isfile(p))
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
        cmd = command or "memesearch datasets build covers " + shlex.join(["--out", str(out)])
        card = make_card(dataset, config, report, sources, cmd)
        dataset.meta = dict(card)  # the card without the timings, so that dataset.json is reproducible
        dataset.root = tmp
        t = time.monotonic()
        write_dataset(dataset, tmp, fmt="native")
        (tmp / CBVS_DIR).mkdir()
        for name, view in _cbvs_views(dataset, out_dir).items():
            writer = write_train if name == "train" else write_test
            writer(view, tmp / CBVS_DIR / CBVS_FILES[name])
        timings["manifests"] = time.monotonic() - t
        t = time.monotonic()
        run_image_jobs(render_cover, jobs, tmp, workers=workers, progress=show, description="drawing covers")
        timings["images"] = time.monotonic() - t
        publish_build(tmp, out_dir, card, timings, start, render_markdown)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    dataset = read_dataset(out_dir, fmt="native")
    seconds = time.monotonic() - start
    log.info("built the covers benchmark in %s in %.1f s", out_dir, seconds)
    return BuildResult(dataset=dataset, card=card, out=out_dir, seconds=seconds, timings=timings)
