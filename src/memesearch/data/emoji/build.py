"""Build the emoji benchmark: concepts split by a seeded hash, items per (emoji, style), graded text queries.

Pipeline (each step a function, so tests can run the in-memory part without writing images):

1. :func:`memesearch.data.emoji.sources.ensure_packages` — the npm packages, installed if missing.
2. :func:`memesearch.data.emoji.catalogue.load_catalogue` — emoji-datasource joined with emojibase.
3. :func:`make_dataset` — splits, items, queries and the list of images to write.
4. :func:`build_emoji_benchmark` — writes images (a process pool), the native manifest, the
   MSRVTT-style folder and the dataset card, atomically into ``out``.

Views (splits of the written dataset):

* ``train`` / ``val``: train / validation concepts drawn in the train styles;
* ``test``: test concepts drawn in the held-out style — unseen drawings of unseen concepts;
* ``test-seen``: train concepts drawn in the held-out style — unseen drawings of seen concepts.

Queries of a view are the names (CLDR short names, grade 2) and keywords (CLDR tags, grade 1) of the
concepts in its gallery, one query per unique (language, text), graded by the maximum over roles:
a text that names one emoji and tags three others has one grade-2 and three grade-1 concepts, and
each concept's images in the gallery carry its grade. Every query therefore has a relevant item.

Images are 64-px PNGs from ``img/<style>/64/``. The packages' sprite sheets hold the same 64-px
pixels (``sheets-128`` / ``sheets-256`` are 128- and 256-*colour* quantised sheets, not larger
images), so sizes 128 and 256 are Lanczos upsamplings of the 64-px drawings and 32 a downsampling.
By default images are composited onto white and saved as RGB, because the sources hold arbitrary
colours under fully transparent pixels that a plain ``convert("RGB")`` would reveal; ``background=
"transparent"`` keeps RGBA.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from memesearch.data.emoji.card import STYLE_LICENCES, TEXT_SOURCES, render_markdown, split_statistics
from memesearch.data.emoji.catalogue import Catalogue, EmojiConcept, load_catalogue, normalize_text
from memesearch.data.emoji.emotions import (
    EMOJI_EMOTIONS,
    EMOTION_CATEGORY,
    EMOTION_MAPPING_VERSION,
    SUBCATEGORY_EMOTIONS,
    emotions_for,
    to_chinese,
)
from memesearch.data.emoji.sources import (
    STYLES,
    TEXT_PACKAGE,
    ensure_packages,
    installed_version,
    style_package,
)
from memesearch.data.emoji.splits import DEFAULT_FRACTIONS, assign_split, check_fractions, select_subset
from memesearch.data.emotions import EMOTIONS
from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import ConfigError, MemesearchError
from memesearch.utils.io import progress_bar

log = logging.getLogger(__name__)

DATASET_NAME = "emoji"
SIZES: tuple[int, ...] = (32, 64, 128, 256)
SOURCE_SIZE = 64
BACKGROUNDS: tuple[str, ...] = ("white", "transparent")
VIEW_NAMES: tuple[str, ...] = ("train", "val", "test", "test-seen")
CARD_JSON = "card.json"
CARD_MD = "CARD.md"
MSRVTT_DIR = "msrvtt"
IMAGES_DIR = "images"


@dataclass(frozen=True, slots=True)
class EmojiBuildConfig:
    """What to build. ``styles`` are the train styles; the held-out style is removed from them if listed.

    ``max_keyword_concepts``: a keyword that tags more concepts than this in the full catalogue (e.g.
    en "flag" 274, "face" 162; zh 旗 265, 脸 128) is dropped as a query, since nearly any image of its
    family would satisfy it; 0 keeps every keyword. ``limit`` builds a seeded subset of that many
    concepts (every split represented), for tests.
    """

    styles: tuple[str, ...] = ("google", "twitter")
    heldout_style: str = "facebook"
    size: int = SOURCE_SIZE
    seed: int = 0
    limit: int | None = None
    languages: tuple[str, ...] = ("en", "zh")
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    max_keyword_concepts: int = 50
    background: str = "white"

    def __post_init__(self) -> None:
        for style in (*self.styles, self.heldout_style):
            if style not in STYLES:
                raise ConfigError(f"unknown emoji style {style!r}; choose from {', '.join(STYLES)}")
        if not self.train_styles:
            raise ConfigError(
                f"no train style left: --styles {','.join(self.styles)} only lists the held-out style "
                f"{self.heldout_style!r}; add another style, e.g. --styles google,twitter"
            )
        if self.size not in SIZES:
            raise ConfigError(f"--size must be one of {', '.join(map(str, SIZES))}, got {self.size}")
        if self.background not in BACKGROUNDS:
            raise ConfigError(f"background must be one of {', '.join(BACKGROUNDS)}, got {self.background!r}")
        if self.limit is not None and self.limit < 3:
            raise ConfigError(f"--limit must be at least 3 (one concept per split), got {self.limit}")
        if self.max_keyword_concepts < 0:
            raise ConfigError(f"max_keyword_concepts must be >= 0, got {self.max_keyword_concepts}")
        if not self.languages:
            raise ConfigError("at least one language is needed, e.g. en,zh")
        check_fractions(self.fractions)

    @property
    def train_styles(self) -> tuple[str, ...]:
        return tuple(s for s in dict.fromkeys(self.styles) if s != self.heldout_style)

    @property
    def all_styles(self) -> tuple[str, ...]:
        return (*self.train_styles, self.heldout_style)


@dataclass(frozen=True, slots=True)
class ImageJob:
    """One image to write: source PNG (absolute), destination relative to the dataset folder."""

    source: str
    target: str
    size: int
    background: str


@dataclass(slots=True)
class BuildReport:
    """What the build left out and why (recorded in the card)."""

    concept_split: dict[str, str] = field(default_factory=dict)
    no_heldout_image: dict[str, list[str]] = field(default_factory=dict)
    no_train_image: list[str] = field(default_factory=list)
    dropped_generic: list[dict[str, Any]] = field(default_factory=list)
    unmapped_subcategories: list[str] = field(default_factory=list)


@dataclass(slots=True)
class BuildResult:
    """A finished build: the dataset as written, its card, where it went and how long it took."""

    dataset: Dataset
    card: dict[str, Any]
    out: Path
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------
# in-memory construction


def _fold(text: str) -> str:
    return normalize_text(text).casefold()


def keyword_frequency(
    concepts: Iterable[EmojiConcept], languages: Sequence[str]
) -> dict[tuple[str, str], int]:
    """Number of concepts each (language, folded keyword) tags."""
    df: dict[tuple[str, str], int] = {}
    for c in concepts:
        for lang in languages:
            for tag in {_fold(t) for t in c.tags.get(lang, ())}:
                df[(lang, tag)] = df.get((lang, tag), 0) + 1
    return df


def _item(concept: EmojiConcept, style: str, languages: Sequence[str]) -> Item:
    emotions = emotions_for(concept.key, concept.category, concept.subcategory)
    captions = [concept.labels[lang] for lang in languages if lang in concept.labels]
    return Item(
        id=f"{style}_{concept.file_stem}",
        path=f"{IMAGES_DIR}/{style}/{concept.file_stem}.png",
        media="image",
        captions=captions,
        emotions=emotions,
        source=style,
        meta={
            "concept": concept.key,
            "unified": concept.unified,
            "char": concept.char,
            "name": concept.name,
            "category": concept.category,
            "subcategory": concept.subcategory,
            "style": style,
            "licence": STYLE_LICENCES[style].licence,
            "redistributable": STYLE_LICENCES[style].redistributable,
            "emotions_zh": to_chinese(emotions),
            # The captions are the emoji's own names, i.e. the grade-2 query texts: an oracle, not context
            # a real system would have. Experiments drop them to measure image-only retrieval.
            "caption_kind": "oracle",
            "oracle_captions": True,
            "caption_langs": [lang for lang in languages if lang in concept.labels],
        },
    )


def _query_id(split: str, lang: str, folded: str) -> str:
    digest = hashlib.sha256(f"{lang}\0{folded}".encode()).hexdigest()[:12]
    return f"{split}-{lang}-{digest}"


def make_queries(
    split: str,
    concepts: Sequence[EmojiConcept],
    items_of: dict[str, list[str]],
    languages: Sequence[str],
    generic: set[tuple[str, str]],
) -> list[Query]:
    """One query per unique (language, text) of the concepts' names and keywords, graded 2 / 1.

    ``items_of`` maps a concept key to its item ids in this view's gallery; concepts without items
    contribute no query. Texts in ``generic`` (language, folded text) are left out in both roles, so
    no query is judged on only part of the emoji it describes.
    """
    table: dict[tuple[str, str], tuple[str, dict[str, int], list[str]]] = {}
    for role, grade in (("name", 2), ("keyword", 1)):
        for c in concepts:
            if not items_of.get(c.key):
                continue
            for lang in languages:
                texts = [c.labels[lang]] if role == "name" and lang in c.labels else []
                if role == "keyword":
                    texts = list(c.tags.get(lang, ()))
                for text in texts:
                    k = (lang, _fold(text))
                    if k in generic or not k[1]:
                        continue
                    display, grades, roles = table.setdefault(k, (text, {}, []))
                    grades[c.key] = max(grades.get(c.key, 0), grade)
                    if role not in roles:
                        roles.append(role)
    queries: list[Query] = []
    seen_ids: set[str] = set()
    for (lang, folded), (display, grades, roles) in sorted(
        table.items(), key=lambda kv: (kv[0][0], kv[1][0])
    ):
        qid = _query_id(split, lang, folded)
        if qid in seen_ids:  # a 48-bit collision: never seen, but a silent merge would corrupt qrels
            raise MemesearchError(f"query id collision for {display!r} ({qid}); change the id length")
        seen_ids.add(qid)
        qrels = {item_id: g for key, g in grades.items() for item_id in items_of[key]}
        queries.append(
            Query(
                id=qid,
                text=display,
                qrels=qrels,
                meta={
                    "lang": lang,
                    "kind": "name" if "name" in roles else "keyword",
                    "concepts": len(grades),
                },
            )
        )
    return queries


def make_dataset(
    catalogue: Catalogue,
    config: EmojiBuildConfig,
    image_roots: dict[str, Path] | None = None,
) -> tuple[Dataset, list[ImageJob], BuildReport]:
    """Splits, items and queries of the benchmark, and the images they need (nothing is written).

    ``image_roots`` maps a style to its ``emoji-datasource-<style>`` folder; without it the jobs'
    sources are relative to the package folder (``img/<style>/64/<file>``).
    """
    report = BuildReport()
    concepts = catalogue.concepts
    languages = [lang for lang in config.languages if lang in catalogue.languages]
    split_of = {c.key: assign_split(c.key, config.seed, config.fractions) for c in concepts}
    df = keyword_frequency(concepts, languages)  # always over the full catalogue, so a subset agrees
    generic: set[tuple[str, str]] = set()
    if config.max_keyword_concepts > 0:
        generic = {k for k, n in df.items() if n > config.max_keyword_concepts}
        display = {(lang, _fold(t)): t for c in concepts for lang in languages for t in c.tags.get(lang, ())}
        # A generic keyword that is also an emoji's name ("woman" names 1F469) goes too: judging it for the
        # named emoji alone would count its 100 tagged siblings as wrong. That emoji keeps its other texts.
        named = {
            (lang, _fold(c.labels[lang])): c.key for c in concepts for lang in languages if lang in c.labels
        }
        report.dropped_generic = [
            {
                "lang": lang,
                "text": display[(lang, f)],
                "concepts": df[(lang, f)],
                "name_of": named.get((lang, f)),
            }
            for lang, f in sorted(generic, key=lambda k: (k[0], -df[k], k[1]))
        ]
    if config.limit is not None:
        concepts = select_subset(
            ((c.key, c) for c in concepts), split_of, config.limit, config.seed, config.fractions
        )
    report.concept_split = {c.key: split_of[c.key] for c in concepts}
    report.unmapped_subcategories = sorted(
        {
            c.subcategory
            for c in concepts
            if c.category == EMOTION_CATEGORY and c.subcategory not in SUBCATEGORY_EMOTIONS
        }
    )
    for sub in report.unmapped_subcategories:
        log.warning(
            "no emotion mapping for the Smileys & Emotion subcategory %r: its emoji get no emotion", sub
        )

    by_split: dict[str, list[EmojiConcept]] = {"train": [], "val": [], "test": []}
    for c in concepts:
        by_split[split_of[c.key]].append(c)
    views: dict[str, tuple[list[EmojiConcept], tuple[str, ...]]] = {
        "train": (by_split["train"], config.train_styles),
        "val": (by_split["val"], config.train_styles),
        "test": (by_split["test"], (config.heldout_style,)),
        "test-seen": (by_split["train"], (config.heldout_style,)),
    }
    jobs: dict[str, ImageJob] = {}
    splits: dict[str, Split] = {}
    for view, (view_concepts, styles) in views.items():
        items: list[Item] = []
        items_of: dict[str, list[str]] = {}
        for c in view_concepts:
            drawn = [s for s in styles if s in c.styles]
            if not drawn:
                if styles == (config.heldout_style,):
                    report.no_heldout_image.setdefault(view, []).append(c.key)
                else:
                    report.no_train_image.append(c.key)
                continue
            for style in drawn:
                item = _item(c, style, languages)
                items.append(item)
                items_of.setdefault(c.key, []).append(item.id)
                assert item.path is not None
                root = image_roots[style] if image_roots else Path()
                jobs.setdefault(
                    item.path,
                    ImageJob(
                        source=str(root / "img" / style / str(SOURCE_SIZE) / c.image),
                        target=item.path,
                        size=config.size,
                        background=config.background,
                    ),
                )
        queries = make_queries(view, view_concepts, items_of, languages, generic)
        splits[view] = Split(name=view, items=items, queries=queries)
        log.info("view %s: %d concepts, %d items, %d queries", view, len(items_of), len(items), len(queries))
    for view, keys in report.no_heldout_image.items():
        log.info(
            "view %s: %d concepts have no %s image and are left out", view, len(keys), config.heldout_style
        )
    dataset = Dataset(name=DATASET_NAME, splits=splits)
    return dataset, list(jobs.values()), report


# ----------------------------------------------------------------------------------------------------
# images


def write_image(job: ImageJob, root: str) -> None:
    """Write one image of ``job`` under ``root`` (a process-pool worker; top level so it pickles)."""
    from PIL import Image

    target = Path(root) / job.target
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(job.source) as src:
        im = src.convert("RGBA")  # twitter PNGs may be palette images
    if job.background == "white":
        canvas = Image.new("RGBA", im.size, (255, 255, 255, 255))
        canvas.alpha_composite(im)
        im = canvas.convert("RGB")
    if im.size != (job.size, job.size):
        # RGBA is resampled premultiplied by Pillow, so hidden colours under alpha 0 do not bleed.
        im = im.resize((job.size, job.size), Image.Resampling.LANCZOS)
    im.save(target, format="PNG")


def _write_chunk(jobs: list[ImageJob], root: str) -> int:
    for job in jobs:
        write_image(job, root)
    return len(jobs)


def write_images(
    jobs: Sequence[ImageJob], root: Path, *, workers: int | None = None, progress: bool = False
) -> None:
    """Write all images under ``root``, in a process pool when there are many, with a progress bar."""
    missing = [j.source for j in jobs if not os.path.isfile(j.source)]
    if missing:
        raise MemesearchError(
            f"{len(missing)} source images are missing (e.g. {missing[0]}); the npm package looks "
            "incomplete: delete its folder under the npm cache and run the build again"
        )
    n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    chunk = 64
    chunks = [list(jobs[i : i + chunk]) for i in range(0, len(jobs), chunk)]
    with progress_bar("writing images", len(jobs), enabled=progress, transient=False) as advance:
        if n_workers <= 1 or len(jobs) < 4 * chunk:
            for part in chunks:
                advance(_write_chunk(part, str(root)))
        else:
            with ProcessPoolExecutor(max_workers=n_workers) as pool:
                for n in pool.map(_write_chunk, chunks, [str(root)] * len(chunks)):
                    advance(n)


# ----------------------------------------------------------------------------------------------------
# card and output


def _decisions(config: EmojiBuildConfig) -> list[str]:
    return [
        "Concepts are base emoji only (skin-tone variants left out): one meaning, drawn once per style; the "
        "variants share their base's name and keywords and would add near-duplicate images. The 5 skin-tone "
        "swatches of the Component category are left out.",
        "Join key: the code point sequence without FE0F (emoji-datasource `unified` vs emojibase `hexcode`).",
        'Split: sha256("<seed>:<key>") per concept, so the split is stable across runs and package versions '
        f"(adding emoji does not move others); fractions {list(config.fractions)}.",
        "Queries: CLDR names (emojibase `label`, grade 2) and keywords (`tags`, grade 1), one query per "
        "unique (language, text) in a view, grade = max over roles; a query may have many relevant images.",
        f"Generic keywords tagging more than {config.max_keyword_concepts} concepts of the full catalogue "
        "are dropped as queries (listed below): almost any image of their family satisfies them. Such a "
        "text that is also an emoji's name (en 'woman', 'person') is dropped in both roles, so no query is "
        "judged on only part of the emoji it describes.",
        "Item captions are the emoji's names in each language, marked meta.caption_kind = 'oracle': they "
        "equal the grade-2 queries, so caption-based scores on them are a ceiling; drop captions for "
        "image-only runs.",
        f"Images: the packages' 64-px PNGs (img/<style>/64); the sprite sheets hold the same pixels at 64 px "
        f"(sheets-128/256 are colour-quantised, not larger). Size {config.size}: "
        + ("as drawn" if config.size == SOURCE_SIZE else "Lanczos resampling of the 64-px drawing")
        + ("; composited on white, RGB" if config.background == "white" else "; RGBA kept")
        + ".",
        "Emotions: only the Smileys & Emotion category, from a hand-written bilingual table per CLDR "
        "subcategory with per-emoji overrides (memesearch.data.emoji.emotions); Item.emotions holds English "
        "words, meta.emotions_zh the Chinese ones.",
        f"The held-out style ({config.heldout_style}) is used only for the test views; styles that are not "
        "redistributable must not be published.",
    ]


def make_card(
    dataset: Dataset,
    config: EmojiBuildConfig,
    report: BuildReport,
    catalogue: Catalogue,
    sources: dict[str, str],
    seconds: float,
    command: str,
) -> dict[str, Any]:
    """The dataset card as a JSON-ready dict (also stored as the dataset's ``meta``)."""
    from memesearch._version import __version__

    cfg = asdict(config)
    cfg["fractions"] = list(config.fractions)
    cfg["styles"] = list(config.styles)
    cfg["languages"] = list(config.languages)
    cfg["train_styles"] = list(config.train_styles)
    per_split_concepts: dict[str, int] = {}
    for split in report.concept_split.values():
        per_split_concepts[split] = per_split_concepts.get(split, 0) + 1
    return {
        "name": DATASET_NAME,
        "description": (
            "Emoji drawn by several designers (styles) with their CLDR names and keywords in "
            f"{', '.join(config.languages)}, split by concept and by style: the test view measures retrieval "
            "of unseen drawings of unseen concepts. Built offline from npm packages."
        ),
        "memesearch_version": __version__,
        "command": command,
        "config": cfg,
        "sources": sources,
        "licences": {
            "images": {s: asdict(STYLE_LICENCES[s]) for s in config.all_styles},
            "text": TEXT_SOURCES,
        },
        "images": {
            "format": "PNG",
            "size": config.size,
            "mode": "RGB" if config.background == "white" else "RGBA",
            "note": "as drawn" if config.size == SOURCE_SIZE else f"resampled from {SOURCE_SIZE} px",
            "layout": f"{IMAGES_DIR}/<style>/<key>.png",
        },
        "concepts": {
            "catalogue": len(catalogue.concepts),
            "used": len(report.concept_split),
            "per_split": per_split_concepts,
        },
        "splits": split_statistics(dataset),
        "excluded": {
            "no_heldout_image": report.no_heldout_image,
            "no_train_image": report.no_train_image,
            "skipped_categories": catalogue.skipped_categories,
            "no_text": catalogue.dropped_no_text,
            "missing_text": {lang: len(keys) for lang, keys in catalogue.missing_text.items()},
        },
        "queries": {
            "grades": {"2": "the query is the emoji's name", "1": "the query is one of the emoji's keywords"},
            "dropped_generic_keywords": report.dropped_generic,
        },
        "emotions": {
            "description": (
                "Emotion words for the Smileys & Emotion category: a default per CLDR subcategory and "
                "per-emoji overrides from the CLDR names and keywords (mapping version "
                f"{EMOTION_MAPPING_VERSION}). Counts are items per emotion in each view."
            ),
            "mapping_version": EMOTION_MAPPING_VERSION,
            "vocabulary": EMOTIONS,
            "subcategory_defaults": {k: list(v) for k, v in SUBCATEGORY_EMOTIONS.items()},
            "emoji_overrides": {k: list(v) for k, v in EMOJI_EMOTIONS.items()},
            "unmapped_subcategories": report.unmapped_subcategories,
        },
        "decisions": _decisions(config),
        "build_seconds": round(seconds, 2),
    }


def _prepare_out(out: Path, overwrite: bool) -> None:
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
    _prepare_out(out_dir, overwrite)
    show = sys.stderr.isatty() if progress is None else progress

    t = time.monotonic()
    packages = ensure_packages(
        [*(style_package(s) for s in config.all_styles), TEXT_PACKAGE], npm_cache, progress=show
    )
    timings["packages"] = time.monotonic() - t
    cache = packages[TEXT_PACKAGE].parent.parent
    sources = {name: installed_version(name, cache) or "?" for name in packages}

    t = time.monotonic()
    first_style = packages[style_package(config.train_styles[0])]
    catalogue = load_catalogue(first_style / "emoji.json", packages[TEXT_PACKAGE], config.languages)
    dataset, jobs, report = make_dataset(
        catalogue, config, {s: packages[style_package(s)] for s in config.all_styles}
    )
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
        card["build_seconds"] = round(time.monotonic() - start, 2)
        card["timings"] = {k: round(v, 2) for k, v in timings.items()}
        (tmp / CARD_JSON).write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        (tmp / CARD_MD).write_text(render_markdown(card), encoding="utf-8")
        _swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    dataset = read_dataset(out_dir, fmt="native")
    seconds = time.monotonic() - start
    log.info("built the emoji benchmark in %s in %.1f s", out_dir, seconds)
    return BuildResult(dataset=dataset, card=card, out=out_dir, seconds=seconds, timings=timings)


def _swap_into_place(tmp: Path, out: Path) -> None:
    old: Path | None = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
