"""The in-memory part of the covers build: topics, splits, covers, titles, graded queries, render jobs.

:func:`make_dataset` turns the emoji :class:`~memesearch.data.emoji.catalogue.Catalogue` and a
:class:`~memesearch.data.covers.config.CoversBuildConfig` into a
:class:`~memesearch.data.records.Dataset`, the :class:`~memesearch.data.covers.render.CoverJob` list and
a :class:`CoversReport`; nothing is written.

* **Topics**: CLDR emoji of :data:`~memesearch.data.covers.config.TOPIC_CATEGORIES` with a name in every
  language (genre icons and names already taken by an earlier topic left out), split train / val / test
  by a seeded hash of the topic (:func:`memesearch.data.emoji.splits.assign_split`): **no topic is in
  two splits**. ``topics`` keeps a seeded sample with every split represented.
* **Covers** (``images/<id>.jpg``, id ``<topic>-<genre>-<n>``): ``covers_per_topic`` per topic over
  ``genres_per_topic`` seeded genres (:mod:`memesearch.data.covers.genres`). Each has a language (zh 0.6,
  en 0.4 when both are built), a cover text, a title in that language that says more (episode number,
  hook, hashtags of the topic's keywords), a scene and a layout. In each split the ``textless_fraction``
  of covers with the smallest seeded hash have no text (their OCR is ``None``; the genre icon is always
  drawn on them).
* **Items**: ``ocr`` = the cover text as drawn (the perfect OCR; ``None`` without text); ``captions`` =
  ``[title]`` in train only (CBVS trains on titles; its test file has none); the title of every cover,
  and everything drawn, in ``meta``.
* **Queries**: per (topic, genre, language) of the split: a short query ("{x}搞笑", "funny {x}") with the
  topic's name, or (30%, when it has one) a CLDR keyword specific to it (tagging at most 2 topics).
  Graded like CBVS-20K, over the query's own candidates (5-29 in CBVS; here 5 + the topic's covers):
  **2** the covers of that topic and genre, **1** the topic's covers of other genres, **0** 3-12 covers
  of other topics of the split (half of them the same genre, hard negatives). Queries of equal text are
  kept once per split.

Every decision is drawn from ``random.Random`` seeded by the build seed and the topic, cover or query
key, so a cover does not change when another topic is added.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from memesearch.data.covers.config import IMAGES_DIR, TOPIC_CATEGORIES, CoversBuildConfig
from memesearch.data.covers.genres import GENRES, ICON_KEYS, Genre
from memesearch.data.covers.render import BACKGROUNDS, LAYOUTS, TEXT_STYLES, CoverJob
from memesearch.data.emoji.catalogue import Catalogue, EmojiConcept, normalize_text
from memesearch.data.emoji.splits import SPLIT_NAMES, assign_split, select_subset, unit_hash
from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import ConfigError

log = logging.getLogger(__name__)

ASPECTS: tuple[tuple[int, int], ...] = ((16, 9), (4, 3), (3, 4))
ASPECT_WEIGHTS: tuple[float, ...] = (0.5, 0.3, 0.2)
LANGUAGE_WEIGHTS: dict[str, float] = {"zh": 0.6, "en": 0.4}
#: Cover texts longer than this (characters) are drawn in two lines.
TWO_LINES_OVER: dict[str, int] = {"en": 16, "zh": 8}
KEYWORD_QUERY_SHARE = 0.3
MAX_KEYWORD_TOPICS = 2


@dataclass(frozen=True, slots=True)
class Topic:
    """One topic: an emoji concept with its names and specific keywords per language."""

    concept: EmojiConcept
    names: dict[str, str]
    keywords: dict[str, tuple[str, ...]]

    @property
    def key(self) -> str:
        return self.concept.key

    @property
    def stem(self) -> str:
        return self.concept.file_stem


@dataclass(slots=True)
class CoversReport:
    """What the assembly decided (recorded in the card)."""

    topics_available: int = 0
    topic_split: dict[str, str] = field(default_factory=dict)
    duplicate_queries: dict[str, int] = field(default_factory=dict)


def _rng(seed: int, salt: str, key: str) -> random.Random:
    return random.Random(int(unit_hash(seed, key, salt) * 2**53))


def fold(text: str) -> str:
    return normalize_text(text).casefold()


def load_topics(catalogue: Catalogue, config: CoversBuildConfig) -> list[Topic]:
    """Every usable topic of the catalogue, in CLDR order (see the module docstring)."""
    taken: set[str] = set()
    candidates: list[tuple[EmojiConcept, dict[str, str]]] = []
    for c in catalogue.concepts:
        if c.category not in TOPIC_CATEGORIES or c.key in ICON_KEYS:
            continue
        if not set(config.styles) & set(c.styles):
            continue
        names = {lang: normalize_text(c.labels.get(lang, "")) for lang in config.languages}
        if not all(names.values()) or any(fold(n) in taken for n in names.values()):
            continue
        taken.update(fold(n) for n in names.values())
        candidates.append((c, names))
    df: Counter[tuple[str, str]] = Counter()
    for c, _ in candidates:
        for lang in config.languages:
            df.update({(lang, fold(t)) for t in c.tags.get(lang, ())})
    topics: list[Topic] = []
    for c, names in candidates:
        keywords = {
            lang: tuple(
                t
                for t in c.tags.get(lang, ())
                if df[(lang, fold(t))] <= MAX_KEYWORD_TOPICS
                and fold(t) != fold(names[lang])
                and len(t) >= (3 if lang == "en" else 2)
            )
            for lang in config.languages
        }
        topics.append(Topic(c, names, keywords))
    return topics


def _lines(text: str, lang: str) -> tuple[str, ...]:
    if len(text) <= TWO_LINES_OVER[lang]:
        return (text,)
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    if lang == "en" and spaces:
        cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
        return (text[:cut], text[cut + 1 :])
    middle = (len(text) + 1) // 2
    return (text[:middle], text[middle:])


def _cover_text(genre: Genre, topic: Topic, lang: str, rng: random.Random) -> str:
    template = rng.choice(genre.cover[lang])
    if lang == "en":
        name = topic.names["en"]
        return (
            template.format(x=name.upper()) if rng.random() < 0.7 else template.lower().format(x=name).title()
        )
    return template.format(x=topic.names[lang])


def _title(genre: Genre, topic: Topic, lang: str, rng: random.Random) -> str:
    title = rng.choice(genre.title[lang]).format(x=topic.names[lang], n=rng.randint(1, 99))
    tags = list(topic.concept.tags.get(lang, ()))
    rng.shuffle(tags)
    hashtags = " ".join("#" + t.replace(" ", "") for t in tags[: rng.randint(0, 2)])
    return f"{title} {hashtags}".strip()


def _emoji(topic: Topic, config: CoversBuildConfig, roots: dict[str, str], rng: random.Random) -> str:
    styles = [s for s in config.styles if s in topic.concept.styles]
    style = rng.choice(styles)
    return f"{roots.get(style, '')}/img/{style}/64/{topic.concept.image}"


@dataclass(slots=True)
class _Cover:
    item_id: str
    topic: Topic
    genre: Genre
    lang: str
    text: str
    title: str
    rng: random.Random


def _covers_of(topic: Topic, config: CoversBuildConfig) -> list[_Cover]:
    rng = _rng(config.seed, "topic:", topic.key)
    genres = rng.sample(GENRES, config.genres_per_topic)
    langs = list(config.languages)
    weights = [LANGUAGE_WEIGHTS[lang] for lang in langs]
    covers: list[_Cover] = []
    for i in range(config.covers_per_topic):
        genre = genres[i % len(genres)]
        item_id = f"{topic.stem}-{genre.key}-{i // len(genres)}"
        crng = _rng(config.seed, "cover:", item_id)
        lang = crng.choices(langs, weights)[0]
        text = _cover_text(genre, topic, lang, crng)
        covers.append(_Cover(item_id, topic, genre, lang, text, _title(genre, topic, lang, crng), crng))
    return covers


def _render(
    cover: _Cover,
    textless: bool,
    config: CoversBuildConfig,
    fonts: dict[str, list[tuple[str, str, int]]],
    icons: dict[str, str],
    others: Sequence[Topic],
    roots: dict[str, str],
    split: str,
) -> tuple[Item, CoverJob]:
    rng = cover.rng
    aw, ah = rng.choices(ASPECTS, ASPECT_WEIGHTS)[0]
    long_side = config.size
    width, height = (
        (long_side, round(long_side * ah / aw)) if aw >= ah else (round(long_side * aw / ah), long_side)
    )
    background = rng.choice(BACKGROUNDS)
    copies = rng.choices((1, 2, 3), (0.6, 0.25, 0.15))[0]
    distractor = rng.choice(others) if others and rng.random() < 0.3 else None
    icon = icons.get(cover.genre.icon) if textless or rng.random() < 0.5 else None
    font_name, font_path, font_index = rng.choice(fonts[cover.lang])
    layout, style = rng.choice(LAYOUTS), rng.choice(TEXT_STYLES)
    lines = () if textless else _lines(cover.text, cover.lang)
    meta: dict[str, Any] = {
        "topic": cover.topic.key,
        "topic_names": dict(cover.topic.names),
        "category": cover.topic.concept.category,
        "genre": cover.genre.key,
        "title": cover.title,
        "title_lang": cover.lang,
        "has_text": not textless,
        "background": background,
        "emoji_copies": copies,
        "distractor": distractor.key if distractor else None,
        "genre_icon": icon is not None,
        "width": width,
        "height": height,
    }
    if not textless:
        meta.update(
            text_lang=cover.lang,
            rendered_text="\n".join(lines),
            font=font_name,
            layout=layout,
            text_style=style,
        )
    item = Item(
        id=cover.item_id,
        path=f"{IMAGES_DIR}/{cover.item_id}.jpg",
        captions=[cover.title] if split == "train" else [],
        ocr=None if textless else cover.text,
        source="rendered",
        meta=meta,
    )
    job = CoverJob(
        target=str(item.path),
        width=width,
        height=height,
        seed=rng.getrandbits(32),
        background=background,
        emoji=_emoji(cover.topic, config, roots, rng),
        copies=copies,
        distractor=_emoji(distractor, config, roots, rng) if distractor else None,
        icon=icon,
        lines=lines,
        font=None if textless else font_path,
        font_index=font_index,
        layout=layout,
        text_style=style,
        text_scale=rng.uniform(0.11, 0.2),
        quality=config.jpeg_quality,
    )
    return item, job


def _queries(
    split: str, topics: Sequence[Topic], covers: Sequence[_Cover], config: CoversBuildConfig
) -> tuple[list[Query], int]:
    by_topic: dict[str, list[_Cover]] = {}
    for c in covers:
        by_topic.setdefault(c.topic.key, []).append(c)
    all_ids = [c.item_id for c in covers]
    queries: list[Query] = []
    seen: set[str] = set()
    duplicates = 0
    for topic in topics:
        mine = by_topic.get(topic.key, [])
        for genre in {c.genre.key: c.genre for c in mine}.values():
            for lang in config.languages:
                key = f"{split}:{topic.key}:{genre.key}:{lang}"
                rng = _rng(config.seed, "query:", key)
                keywords = topic.keywords.get(lang, ())
                use_keyword = bool(keywords) and rng.random() < KEYWORD_QUERY_SHARE
                x = rng.choice(keywords) if use_keyword else topic.names[lang]
                text = rng.choice(genre.query[lang]).format(x=x.lower() if lang == "en" else x)
                if fold(text) in seen:
                    duplicates += 1
                    continue
                seen.add(fold(text))
                qrels = {c.item_id: 2 if c.genre.key == genre.key else 1 for c in mine}
                same_genre = sorted(
                    c.item_id for c in covers if c.genre.key == genre.key and c.topic is not topic
                )
                n_neg = rng.randint(3, 12)
                hard = rng.sample(same_genre, min(len(same_genre), n_neg // 2))
                rest = sorted(set(all_ids) - set(qrels) - set(hard))
                qrels.update({i: 0 for i in hard + rng.sample(rest, min(len(rest), n_neg - len(hard)))})
                digest = hashlib.sha256(key.encode()).hexdigest()[:8]
                meta = {
                    "lang": lang,
                    "topic": topic.key,
                    "genre": genre.key,
                    "kind": "keyword" if use_keyword else "name",
                }
                queries.append(Query(id=f"{split}-{lang}-{digest}", text=text, qrels=qrels, meta=meta))
    return queries, duplicates


def make_dataset(
    catalogue: Catalogue,
    config: CoversBuildConfig,
    fonts: dict[str, list[tuple[str, str, int]]],
    image_roots: dict[str, str] | None = None,
) -> tuple[Dataset, list[CoverJob], CoversReport]:
    """Splits, covers and queries of the benchmark and the images to draw (nothing is written).

    ``fonts``: :func:`~memesearch.data.covers.config.check_cover_fonts`; ``image_roots`` maps an emoji
    style to its ``emoji-datasource-<style>`` folder.
    """
    roots = dict(image_roots or {})
    topics = load_topics(catalogue, config)
    report = CoversReport(topics_available=len(topics))
    split_of = {t.key: assign_split(t.key, config.seed, config.fractions) for t in topics}
    if config.topics:
        if config.topics > len(topics):
            raise ConfigError(f"--topics {config.topics}: only {len(topics)} topics are available (0 = all)")
        topics = select_subset(
            ((t.key, t) for t in topics), split_of, config.topics, config.seed, config.fractions
        )
    by_key = {c.key: c for c in catalogue.concepts}
    icons: dict[str, str] = {}
    for g in GENRES:
        concept = by_key.get(g.icon)
        if concept is not None:
            style = next((s for s in config.styles if s in concept.styles), None)
            if style is not None:
                icons[g.icon] = f"{roots.get(style, '')}/img/{style}/64/{concept.image}"
    splits: dict[str, Split] = {}
    jobs: list[CoverJob] = []
    for split in SPLIT_NAMES:
        here = [t for t in topics if split_of[t.key] == split]
        report.topic_split.update((t.key, split) for t in here)
        covers = [c for t in here for c in _covers_of(t, config)]
        n_textless = round(config.textless_fraction * len(covers))
        ranked = sorted(covers, key=lambda c: unit_hash(config.seed, c.item_id, "textless:"))
        textless = {c.item_id for c in ranked[:n_textless]}
        items: list[Item] = []
        for c in covers:
            others = [t for t in here if t is not c.topic]
            item, job = _render(c, c.item_id in textless, config, fonts, icons, others, roots, split)
            items.append(item)
            jobs.append(job)
        queries, report.duplicate_queries[split] = _queries(split, here, covers, config)
        splits[split] = Split(name=split, items=items, queries=queries)
        log.info(
            "split %s: %d topics, %d covers (%d without text), %d queries",
            split,
            len(here),
            len(items),
            len(textless),
            len(queries),
        )
    return Dataset(name="covers", splits=splits), jobs, report
