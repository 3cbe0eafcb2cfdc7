"""The in-memory part of the animated build: which emoji go into which animation, then items and queries.

:func:`plan_animations` deals the concepts of each view out to its animations (nothing is drawn);
:func:`make_dataset` turns the plan into items and graded queries.

Splits follow the emoji benchmark exactly, as the collages benchmark does
(:func:`memesearch.data.collages.assemble.view_styles` / ``view_split``): a concept's split is
:func:`memesearch.data.emoji.splits.assign_split` of its key with the same seed and fractions;
``train``/``val``: train/val concepts drawn in the train styles; ``test``: test concepts in the held-out
style (unseen concepts, unseen drawings); ``test-seen``: train concepts in the held-out style. An
animation is drawn in one style, from its view's concepts only.

Concepts are dealt like cards (a seeded deck per view and style, reshuffled when it runs out), 2-3
distinct ones per animation, shown in turn. A ``text_fraction`` of the animations (seeded per id) carry a
caption: the CLDR name of the *last* emoji, in en or zh (seeded), drawn only on that emoji's frames — text
that the cover frame never shows. Queries are the emoji benchmark's (:func:`memesearch.data.emoji.assemble
.make_queries`): per language each concept's CLDR name (grade 2) and keywords (grade 1; keywords that tag
more than ``max_keyword_concepts`` emoji are left out), relevant = the animations that show the concept in
any frame; ``meta.later_only`` lists the relevant animations whose cover does not show it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memesearch.data.animated.config import DATASET_NAME, IMAGES_DIR, AnimatedBuildConfig
from memesearch.data.animated.render import AnimationJob, extension, fits
from memesearch.data.collages.assemble import deal, view_split, view_styles
from memesearch.data.collages.config import CATEGORIES
from memesearch.data.emoji.assemble import _fold, keyword_frequency, make_queries
from memesearch.data.emoji.card import STYLE_LICENCES
from memesearch.data.emoji.catalogue import Catalogue, EmojiConcept
from memesearch.data.emoji.config import SOURCE_SIZE
from memesearch.data.emoji.splits import assign_split, unit_hash
from memesearch.data.records import Dataset, Item, Split


@dataclass(slots=True)
class AnimatedPlan:
    """Every animation to draw, per view, with its item meta and the concepts of each view."""

    jobs: dict[str, list[AnimationJob]] = field(default_factory=dict)
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)  # animation id -> item meta
    concepts: dict[str, list[EmojiConcept]] = field(default_factory=dict)  # view -> its concepts
    concept_split: dict[str, str] = field(default_factory=dict)
    generic: set[tuple[str, str]] = field(default_factory=set)


def animation_id(view: str, index: int) -> str:
    return f"{view}-{index:05d}"


def _caption_for(
    concept: EmojiConcept, aid: str, config: AnimatedBuildConfig, languages: Sequence[str]
) -> tuple[str, str] | None:
    """``(text, lang)`` of the animation's caption, or None (no caption drawn, or no name that fits)."""
    if unit_hash(config.seed, aid, "text:") >= config.text_fraction:
        return None
    first = int(unit_hash(config.seed, aid, "text-lang:") * len(languages))
    for lang in [*languages[first:], *languages[:first]]:
        text = concept.labels.get(lang)
        if text and lang in ("en", "zh") and fits(text, lang, config.size):
            return text, lang
    return None


def plan_animations(
    catalogue: Catalogue, config: AnimatedBuildConfig, roots: dict[str, Path], languages: Sequence[str]
) -> AnimatedPlan:
    """The jobs of every view (``roots`` maps a style to its ``emoji-datasource-<style>`` folder)."""
    plan = AnimatedPlan()
    concepts = [c for c in catalogue.concepts if c.category in CATEGORIES]
    plan.concept_split = {c.key: assign_split(c.key, config.seed, config.fractions) for c in concepts}
    if config.max_keyword_concepts > 0:  # over the full catalogue, as the emoji benchmark does
        df = keyword_frequency(catalogue.concepts, languages)
        plan.generic = {k for k, n in df.items() if n > config.max_keyword_concepts}
    styles_of = view_styles(config)  # type: ignore[arg-type]  # the same fields as a collages config
    for view, count in config.counts:
        if count == 0:
            continue  # a view asked for no animations is left out, not written empty
        pool = [c for c in concepts if plan.concept_split[c.key] == view_split(view)]
        plan.concepts[view] = pool
        jobs: list[AnimationJob] = []
        rng = random.Random(f"animated:{config.seed}:{view}")
        decks: dict[str, list[EmojiConcept]] = {}
        styles = [s for s in styles_of[view] if any(s in c.styles for c in pool)]
        for i in range(count if styles else 0):
            aid = animation_id(view, i)
            style = styles[i % len(styles)]
            drawn = [c for c in pool if style in c.styles]
            k = min(rng.randint(config.min_concepts, config.max_concepts), len(drawn))
            chosen = deal(rng, decks, style, drawn, k)
            fmt = config.formats[int(unit_hash(config.seed, aid, "fmt:") * len(config.formats))]
            caption = _caption_for(chosen[-1], aid, config, languages)
            job = AnimationJob(
                target=f"{IMAGES_DIR}/{view}/{aid}{extension(fmt)}",
                seed=int(unit_hash(config.seed, aid, "animation:") * 2**32),
                size=config.size,
                fmt=fmt,
                frame_ms=config.frame_ms,
                frames_per_concept=config.frames_per_concept,
                emoji=tuple(
                    (c.key, str(roots[style] / "img" / style / str(SOURCE_SIZE) / c.image)) for c in chosen
                ),
                text=None if caption is None else caption[0],
                text_lang=None if caption is None else caption[1],
            )
            jobs.append(job)
            fpc = config.frames_per_concept
            plan.meta[aid] = {
                "style": style,
                "format": fmt,
                "concepts": [c.key for c in chosen],
                "frame_concepts": [c.key for c in chosen for _ in range(fpc)],
                "frames": len(chosen) * fpc,
                "frame_ms": config.frame_ms,
                "text": job.text,
                "text_lang": job.text_lang,
                "text_frame": None if job.text is None else (len(chosen) - 1) * fpc,
                "size": [config.size, config.size],
                "licence": STYLE_LICENCES[style].licence,
                "redistributable": STYLE_LICENCES[style].redistributable,
            }
        plan.jobs[view] = jobs
    return plan


def make_dataset(plan: AnimatedPlan, languages: Sequence[str]) -> Dataset:
    """Items and graded queries of every view. The caption is kept in ``meta.text`` only (not as the item's
    OCR text), so an index must read it from the frames."""
    splits: dict[str, Split] = {}
    for view, jobs in plan.jobs.items():
        items: list[Item] = []
        items_of: dict[str, list[str]] = {}
        for job in jobs:
            aid = Path(job.target).stem
            meta = plan.meta[aid]
            for key in meta["concepts"]:
                items_of.setdefault(key, []).append(aid)
            items.append(Item(id=aid, path=job.target, media="gif", source=meta["style"], meta=dict(meta)))
        queries = make_queries(view, plan.concepts.get(view, []), items_of, languages, plan.generic)
        # which relevant animations show the query's emoji only after the cover (what the cover cannot find)
        keys_of: dict[tuple[str, str], set[str]] = {}
        for c in plan.concepts.get(view, []):
            for lang in languages:
                texts = [c.labels[lang]] if lang in c.labels else []
                for text in [*texts, *c.tags.get(lang, ())]:
                    keys_of.setdefault((lang, _fold(text)), set()).add(c.key)
        cover = {Path(job.target).stem: plan.meta[Path(job.target).stem]["concepts"][0] for job in jobs}
        for q in queries:
            keys = keys_of.get((str(q.meta.get("lang")), _fold(q.text)), set())
            q.meta["later_only"] = sorted(i for i in q.qrels if cover[i] not in keys)
        splits[view] = Split(name=view, items=items, queries=queries)
    return Dataset(name=DATASET_NAME, splits=splits)


__all__ = ["AnimatedPlan", "animation_id", "make_dataset", "plan_animations"]
