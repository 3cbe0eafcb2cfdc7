"""The in-memory part of the emoji benchmark build: splits, items, graded queries and the images to write.

:func:`make_dataset` turns a :class:`~memesearch.data.emoji.catalogue.Catalogue` and a
:class:`~memesearch.data.emoji.config.EmojiBuildConfig` into a
:class:`~memesearch.data.records.Dataset`, the :class:`~memesearch.data.emoji.images.ImageJob` list and
a :class:`~memesearch.data.emoji.config.BuildReport` of what was left out; nothing is written. The
views and the query grading are described in :mod:`memesearch.data.emoji.build`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from memesearch.data.emoji.card import STYLE_LICENCES
from memesearch.data.emoji.catalogue import Catalogue, EmojiConcept, normalize_text
from memesearch.data.emoji.config import DATASET_NAME, IMAGES_DIR, SOURCE_SIZE, BuildReport, EmojiBuildConfig
from memesearch.data.emoji.emotions import EMOTION_CATEGORY, SUBCATEGORY_EMOTIONS, emotions_for, to_chinese
from memesearch.data.emoji.images import ImageJob
from memesearch.data.emoji.splits import assign_split, select_subset
from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import MemesearchError

log = logging.getLogger(__name__)


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
    svg_files: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[Dataset, list[ImageJob], BuildReport]:
    """Splits, items and queries of the benchmark, and the images they need (nothing is written).

    ``image_roots`` maps a style to its ``emoji-datasource-<style>`` folder; without it the jobs'
    sources are relative to the package folder (``img/<style>/64/<file>``). ``svg_files`` maps an SVG
    style to ``{concept key: SVG path}`` (:func:`memesearch.data.emoji.svgstyles.index_svg_style`); a
    concept draws in an SVG style when it has a file there. The concept split does not depend on the
    styles, so adding styles never moves a concept.
    """
    svg = svg_files or {}
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
    if config.val_style:
        views["val-heldout"] = (by_split["val"], (config.val_style,))
    single_styles = {(config.heldout_style,), (config.val_style,)}
    jobs: dict[str, ImageJob] = {}
    splits: dict[str, Split] = {}
    for view, (view_concepts, styles) in views.items():
        items: list[Item] = []
        items_of: dict[str, list[str]] = {}
        for c in view_concepts:
            drawn = [s for s in styles if s in c.styles or c.key in svg.get(s, {})]
            if not drawn:
                if styles in single_styles:
                    report.no_heldout_image.setdefault(view, []).append(c.key)
                else:
                    report.no_train_image.append(c.key)
                continue
            for style in drawn:
                item = _item(c, style, languages)
                items.append(item)
                items_of.setdefault(c.key, []).append(item.id)
                assert item.path is not None
                if style in svg:
                    source = svg[style][c.key]
                else:
                    root = image_roots[style] if image_roots else Path()
                    source = str(root / "img" / style / str(SOURCE_SIZE) / c.image)
                jobs.setdefault(
                    item.path,
                    ImageJob(
                        source=source,
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
            "view %s: %d concepts have no %s image and are left out",
            view,
            len(keys),
            config.val_style if view == "val-heldout" else config.heldout_style,
        )
    dataset = Dataset(name=DATASET_NAME, splits=splits)
    return dataset, list(jobs.values()), report
