"""The in-memory part of the memes benchmark build: families, splits, items, graded queries, render jobs.

:func:`make_dataset` turns the emoji :class:`~memesearch.data.emoji.catalogue.Catalogue` and a
:class:`~memesearch.data.memes.config.MemesBuildConfig` into a :class:`~memesearch.data.records.Dataset`,
the :class:`~memesearch.data.memes.render.RenderJob` list and a :class:`MemesReport`; nothing is written.

Items (per split, ``images/<id>.png``):

* a **text meme** per (family, language): one drawable phrase of the family in that language
  (:mod:`memesearch.data.memes.phrases`), maybe put in a meme template and upper-cased, in one or two
  lines, over an emoji picture, a flat colour, a gradient or noise. An emoji family's picture is its own
  emoji; an emotion family's is an emoji of the same split labelled with that emotion (or no picture).
  Id ``<stem>-<lang>``.
* a **text-less sticker** (id ``<stem>-sticker``): the emoji alone on white, for a seeded share of the
  emoji families of each split chosen so that ``textless_fraction`` of the split's items have no text.

Every decision is drawn from ``random.Random(seed of the item id)``, so an item does not change when
another is added. Items carry no captions, no OCR and no emotions (the realistic condition); what was
drawn is in ``meta`` (``rendered_text``, ``font``, ``background``, ...) for reports, and the concept's
emotion labels in ``meta.emotion_labels``.

Queries (per split, one per unique (language, phrase) of the split's families): every phrase of a family
is a query **unless it was drawn** (as the bare phrase, or as the whole text) on an item of the split,
so a query shares the meaning of the images it finds but is never the phrase drawn on them: other
keywords, the name when a keyword is drawn, synonyms, prompts, the other language. Some queries are put
in a chat-like template ("sleepy sticker", "来个困的表情"). Grades:

* **2** — the items (text memes and stickers) of every family that holds the phrase;
* **1** — the items of the split's other families that share an emotion label with those families
  (a "so tired" meme for the query "sleeping face"); families without emotions have no grade-1 items.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memesearch.data.emoji.catalogue import Catalogue
from memesearch.data.emoji.splits import SPLIT_NAMES, assign_split, select_subset, unit_hash
from memesearch.data.memes.config import DATASET_NAME, IMAGES_DIR, MemesBuildConfig
from memesearch.data.memes.fonts import FONTS, is_cjk
from memesearch.data.memes.phrases import (
    QUERY_TEMPLATES,
    RENDER_TEMPLATES,
    Phrase,
    PhraseFamily,
    emoji_families,
    emotion_families,
    fold,
)
from memesearch.data.memes.render import RenderJob
from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import MemesearchError

log = logging.getLogger(__name__)

#: Aspect ratios (width, height) of text memes and their weights; stickers are square.
ASPECTS: tuple[tuple[int, int], ...] = ((1, 1), (4, 3), (3, 4))
ASPECT_WEIGHTS: tuple[float, ...] = (0.5, 0.25, 0.25)
#: Phrases longer than this (characters) are always drawn in two lines; shorter ones sometimes.
TWO_LINES_OVER: dict[str, int] = {"en": 16, "zh": 7}


@dataclass(slots=True)
class MemesReport:
    """What the assembly decided and left out (recorded in the card)."""

    concept_split: dict[str, str] = field(default_factory=dict)
    textless: dict[str, list[str]] = field(default_factory=dict)
    drawn_not_queried: dict[str, int] = field(default_factory=dict)
    families: dict[str, int] = field(default_factory=dict)


def _rng(seed: int, salt: str, key: str) -> random.Random:
    return random.Random(int(unit_hash(seed, key, salt) * 2**53))


def _split_lines(text: str, lang: str, rng: random.Random) -> tuple[str, ...]:
    """One line, or two at the space (en) / comma or middle (zh) nearest the middle."""
    if len(text) <= TWO_LINES_OVER[lang] and rng.random() >= 0.2:
        return (text,)
    if lang == "zh" and is_cjk(text):
        for mark in ("，", "：", "！"):
            head, sep, tail = text.partition(mark)
            if sep and head and tail:
                return (head + sep, tail)
        if len(text) < 2:
            return (text,)
        middle = (len(text) + 1) // 2
        return (text[:middle], text[middle:])
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    if not spaces:
        return (text,)
    cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
    return (text[:cut], text[cut + 1 :])


def _templated(family: PhraseFamily, phrase: Phrase, templates: Sequence[str], rng: random.Random) -> str:
    # Emotion synonyms ("困了", "lol") and prompts already read as phrases: only the bare word is templated.
    if phrase.role == "prompt" or (family.kind == "emotion" and phrase.role != "word"):
        return phrase.text
    return rng.choice(templates).format(phrase.text)


def _meme_item(
    family: PhraseFamily,
    lang: str,
    config: MemesBuildConfig,
    pictures: list[PhraseFamily],
    image_roots: dict[str, Path] | None,
    fonts: dict[str, Path],
) -> tuple[Item, RenderJob] | None:
    drawable = family.drawable(lang)
    if not drawable:
        return None
    item_id = f"{family.stem}-{lang}"
    rng = _rng(config.seed, "item:", item_id)
    phrase = rng.choice(drawable)
    text = _templated(family, phrase, RENDER_TEMPLATES[(family.kind, lang)], rng)
    style = "outline" if rng.random() < 0.6 else "dark"
    if lang == "en" and style == "outline" and rng.random() < 0.6:
        text = text.upper()  # the classic meme caps: what OCR reads is not the query's case
    lines = _split_lines(text, lang, rng)
    layout = rng.choice(
        ("top-bottom", "top", "bottom", "centre") if len(lines) == 2 else ("top", "bottom", "centre")
    )
    picture = family if family.kind == "emoji" else (rng.choice(pictures) if pictures else None)
    kinds, weights = ("emoji", "flat", "gradient", "noise"), (0.4, 0.2, 0.2, 0.2)
    background = rng.choices(kinds, weights)[0] if picture is not None else rng.choice(kinds[1:])
    long_side = config.size if rng.random() < 0.6 else round(config.size * 0.75)
    aw, ah = rng.choices(ASPECTS, ASPECT_WEIGHTS)[0]
    width, height = (
        (long_side, round(long_side * ah / aw)) if aw >= ah else (round(long_side * aw / ah), long_side)
    )
    font_lang = "zh" if is_cjk(text) else lang
    meta: dict[str, Any] = {
        "concept": family.key,
        "family": family.kind,
        "label": family.label,
        "has_text": True,
        "text_lang": lang,
        "rendered_text": "\n".join(lines),
        "rendered_phrase": phrase.text,
        "phrase_role": phrase.role,
        "font": FONTS[font_lang].name,
        "text_style": style,
        "layout": layout,
        "lines": len(lines),
        "background": background,
        "width": width,
        "height": height,
        "emotion_labels": list(family.emotions),
    }
    source = None
    if background == "emoji" and picture is not None and picture.emoji is not None:
        emoji_style = rng.choice(config.styles)
        meta["background_emoji"] = picture.key
        meta["emoji_style"] = emoji_style
        source = _emoji_path(picture, emoji_style, image_roots)
    item = Item(id=item_id, path=f"{IMAGES_DIR}/{item_id}.png", source="rendered", meta=meta)
    job = RenderJob(
        target=str(item.path),
        width=width,
        height=height,
        seed=rng.getrandbits(32),
        background=background,
        emoji_source=source,
        lines=lines,
        font=str(fonts[font_lang]),
        layout=layout,
        text_style=style,
    )
    return item, job


def _emoji_path(family: PhraseFamily, style: str, image_roots: dict[str, Path] | None) -> str:
    assert family.emoji is not None
    root = image_roots[style] if image_roots else Path()
    return str(root / "img" / style / "64" / family.emoji.image)


def _sticker(
    family: PhraseFamily, config: MemesBuildConfig, image_roots: dict[str, Path] | None
) -> tuple[Item, RenderJob]:
    item_id = f"{family.stem}-sticker"
    rng = _rng(config.seed, "item:", item_id)
    style = rng.choice(config.styles)
    side = config.size if rng.random() < 0.6 else round(config.size * 0.75)
    meta: dict[str, Any] = {
        "concept": family.key,
        "family": family.kind,
        "label": family.label,
        "has_text": False,
        "background": "emoji",
        "background_emoji": family.key,
        "emoji_style": style,
        "width": side,
        "height": side,
        "emotion_labels": list(family.emotions),
    }
    item = Item(id=item_id, path=f"{IMAGES_DIR}/{item_id}.png", source="sticker", meta=meta)
    job = RenderJob(
        str(item.path), side, side, rng.getrandbits(32), "emoji", _emoji_path(family, style, image_roots)
    )
    return item, job


def textless_count(n_emoji: int, n_families: int, languages: int, fraction: float) -> int:
    """How many emoji families become stickers so that ``fraction`` of the items are text-less.

    With ``T`` stickers (one item each) and ``L`` text memes per other family:
    ``T = f * (T + L * (N - T))``, so ``T = f L N / (1 + f (L - 1))``, at most the emoji families.
    """
    t = fraction * languages * n_families / (1 + fraction * (languages - 1))
    return min(n_emoji, round(t))


def _query_id(split: str, lang: str, folded: str) -> str:
    digest = hashlib.sha256(f"{lang}\0{folded}".encode()).hexdigest()[:12]
    return f"{split}-{lang}-{digest}"


def make_queries(
    split: str,
    families: Sequence[PhraseFamily],
    items_of: dict[str, list[str]],
    items: Sequence[Item],
    seed: int,
) -> tuple[list[Query], int]:
    """The split's graded queries (see the module docstring) and how many phrases were not queries
    because they were drawn."""
    drawn = {
        fold(str(it.meta[k]))
        for it in items
        if it.meta.get("has_text")
        for k in ("rendered_phrase", "rendered_text")
    }
    drawn |= {
        fold(str(it.meta["rendered_text"]).replace("\n", " ")) for it in items if it.meta.get("has_text")
    }
    table: dict[tuple[str, str], tuple[Phrase, PhraseFamily, list[str]]] = {}
    skipped: set[tuple[str, str]] = set()
    for family in families:
        if not items_of.get(family.key):
            continue
        for phrase in family.phrases:
            k = (phrase.lang, fold(phrase.text))
            if k[1] in drawn:
                skipped.add(k)
                continue
            _, _, keys = table.setdefault(k, (phrase, family, []))
            if family.key not in keys:
                keys.append(family.key)
    by_key = {f.key: f for f in families}
    queries: list[Query] = []
    for (lang, folded), (phrase, first, keys) in table.items():
        rng = _rng(seed, "query:", f"{split}:{lang}:{folded}")
        text = _templated(first, phrase, QUERY_TEMPLATES[(first.kind, lang)], rng)
        if fold(text) in drawn:
            text = phrase.text
        emotions = {e for key in keys for e in by_key[key].emotions}
        qrels: dict[str, int] = {}
        for family in families:
            if family.key in keys:
                grade = 2
            elif emotions & set(family.emotions):
                grade = 1
            else:
                continue
            qrels.update((item_id, grade) for item_id in items_of.get(family.key, ()))
        meta = {
            "lang": lang,
            "kind": phrase.role,
            "phrase": phrase.text,
            "concepts": len(keys),
            "family": first.kind,
        }
        queries.append(Query(id=_query_id(split, lang, folded), text=text, qrels=qrels, meta=meta))
    queries.sort(key=lambda q: (q.meta["lang"], q.text, q.id))
    ids = [q.id for q in queries]
    if len(set(ids)) != len(ids):  # a 48-bit collision: never seen, but a silent merge would corrupt qrels
        raise MemesearchError(f"query id collision in split {split}; change the id length")
    return queries, len(skipped)


def make_dataset(
    catalogue: Catalogue,
    config: MemesBuildConfig,
    fonts: dict[str, Path],
    image_roots: dict[str, Path] | None = None,
) -> tuple[Dataset, list[RenderJob], MemesReport]:
    """Splits, items and queries of the benchmark and the images to draw (nothing is written).

    ``fonts`` maps a language to its font file (:func:`memesearch.data.memes.fonts.check_fonts`);
    ``image_roots`` maps an emoji style to its ``emoji-datasource-<style>`` folder (without it the emoji
    paths are relative to the package folder).
    """
    languages = list(config.languages)
    emotions = emotion_families(languages)
    emojis = emoji_families(catalogue, languages, config.max_keyword_concepts)
    split_of = {f.key: assign_split(f.key, config.seed, config.fractions) for f in (*emotions, *emojis)}
    if config.limit is not None:
        n_emotion = min(
            len(emotions), max(3, round(config.limit * len(emotions) / (len(emotions) + len(emojis))))
        )
        emotions = select_subset(
            ((f.key, f) for f in emotions), split_of, n_emotion, config.seed, config.fractions
        )
        emojis = select_subset(
            ((f.key, f) for f in emojis), split_of, config.limit - n_emotion, config.seed, config.fractions
        )
    report = MemesReport(families={"emotion": len(emotions), "emoji": len(emojis)})
    splits: dict[str, Split] = {}
    jobs: list[RenderJob] = []
    for split in SPLIT_NAMES:
        families = [f for f in (*emotions, *emojis) if split_of[f.key] == split]
        report.concept_split.update((f.key, split) for f in families)
        emoji_here = [f for f in families if f.kind == "emoji"]
        n_textless = textless_count(len(emoji_here), len(families), len(languages), config.textless_fraction)
        ranked = sorted(emoji_here, key=lambda f: unit_hash(config.seed, f.key, "textless:"))
        textless = {f.key for f in ranked[:n_textless]}
        report.textless[split] = sorted(textless)
        items: list[Item] = []
        items_of: dict[str, list[str]] = {}
        for family in families:
            if family.key in textless:
                made = [_sticker(family, config, image_roots)]
            else:
                pictures = [f for f in emoji_here if set(f.emotions) & set(family.emotions)]
                made = [
                    m
                    for lang in languages
                    if (m := _meme_item(family, lang, config, pictures, image_roots, fonts)) is not None
                ]
            for item, job in made:
                items.append(item)
                items_of.setdefault(family.key, []).append(item.id)
                jobs.append(job)
        queries, skipped = make_queries(split, families, items_of, items, config.seed)
        report.drawn_not_queried[split] = skipped
        splits[split] = Split(name=split, items=items, queries=queries)
        log.info(
            "split %s: %d families, %d items (%d text-less), %d queries",
            split,
            len(families),
            len(items),
            len(textless),
            len(queries),
        )
    return Dataset(name=DATASET_NAME, splits=splits), jobs, report
