"""The in-memory part of the collages build: which emoji go into which collage, then items and queries.

:func:`plan_collages` deals the concepts of each view out to its collages (nothing is drawn);
:func:`make_dataset` turns the drawn truth (what each collage really holds) into items and queries.

Splits follow the emoji benchmark exactly: a concept's split is
:func:`memesearch.data.emoji.splits.assign_split` of its key with the same seed and fractions, and the
views pair concepts with styles as there — ``train``/``val``: train/val concepts drawn in the train
styles; ``test``: test concepts drawn in the held-out style (unseen concepts, unseen drawings);
``test-seen``: train concepts in the held-out style. A collage is drawn in one style, and its emoji
come from its view's concepts only, so no test concept ever appears in a train collage.

Concepts are dealt like cards: each (view, style) has a seeded shuffled deck of its concepts, each
collage takes the next 2-6 distinct ones, and the deck is reshuffled when it runs out — every concept
appears about equally often. Queries name one emoji: its CLDR name in each language (as the emoji
benchmark's grade-2 queries; keywords are not used), relevant (grade 2) = the collages that contain it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from memesearch.data.collages.compose import CollageJob, PastedEmoji
from memesearch.data.collages.config import CATEGORIES, DATASET_NAME, IMAGES_DIR, CollagesBuildConfig
from memesearch.data.emoji.assemble import make_queries
from memesearch.data.emoji.card import STYLE_LICENCES
from memesearch.data.emoji.catalogue import Catalogue, EmojiConcept
from memesearch.data.emoji.config import SOURCE_SIZE
from memesearch.data.emoji.splits import assign_split, unit_hash
from memesearch.data.records import Dataset, Item, Split
from memesearch.objects.regions import Region


@dataclass(slots=True)
class CollagePlan:
    """Every collage to draw, per view, with the style it is drawn in and the concepts of each view."""

    jobs: dict[str, list[CollageJob]] = field(default_factory=dict)
    style_of: dict[str, str] = field(default_factory=dict)  # collage id -> style
    concepts: dict[str, list[EmojiConcept]] = field(default_factory=dict)  # view -> its concepts
    concept_split: dict[str, str] = field(default_factory=dict)


def view_styles(config: CollagesBuildConfig) -> dict[str, tuple[str, ...]]:
    """The styles each view is drawn in (as in the emoji benchmark)."""
    held = (config.heldout_style,)
    return {"train": config.train_styles, "val": config.train_styles, "test": held, "test-seen": held}


def view_split(view: str) -> str:
    """The concept split a view draws from (``test-seen`` shows train concepts)."""
    return "train" if view == "test-seen" else view


def collage_id(view: str, index: int) -> str:
    return f"{view}-{index:05d}"


def deal(
    rng: random.Random, decks: dict[str, list[EmojiConcept]], style: str, drawn: list[EmojiConcept], k: int
) -> list[EmojiConcept]:
    """``k`` distinct concepts off the top of ``style``'s deck, refilled with ``drawn`` and reshuffled by
    ``rng`` whenever it runs out (so every concept comes up about equally often); ``k <= len(drawn)``."""
    chosen: list[EmojiConcept] = []
    while len(chosen) < k:
        deck = decks.setdefault(style, [])
        if not deck:
            deck.extend(drawn)
            rng.shuffle(deck)
        c = deck.pop()
        if all(c.key != o.key for o in chosen):
            chosen.append(c)
    return chosen


def plan_collages(catalogue: Catalogue, config: CollagesBuildConfig, roots: dict[str, Path]) -> CollagePlan:
    """The jobs of every view (``roots`` maps a style to its ``emoji-datasource-<style>`` folder)."""
    plan = CollagePlan()
    concepts = [c for c in catalogue.concepts if c.category in CATEGORIES]
    plan.concept_split = {c.key: assign_split(c.key, config.seed, config.fractions) for c in concepts}
    styles_of = view_styles(config)
    for view, count in config.counts:
        if count == 0:
            continue  # a view asked for no collages is left out, not written empty
        pool = [c for c in concepts if plan.concept_split[c.key] == view_split(view)]
        plan.concepts[view] = pool
        jobs: list[CollageJob] = []
        rng = random.Random(f"collages:{config.seed}:{view}")
        decks: dict[str, list[EmojiConcept]] = {}
        styles = [s for s in styles_of[view] if any(s in c.styles for c in pool)]
        for i in range(count if styles else 0):
            cid = collage_id(view, i)
            style = styles[i % len(styles)]
            drawn = [c for c in pool if style in c.styles]
            k = min(rng.randint(config.min_objects, config.max_objects), len(drawn))
            chosen = deal(rng, decks, style, drawn, k)
            emoji = tuple(
                PastedEmoji(
                    key=c.key,
                    label=c.labels.get("en") or c.name,
                    source=str(roots[style] / "img" / style / str(SOURCE_SIZE) / c.image),
                )
                for c in chosen
            )
            jobs.append(
                CollageJob(
                    target=f"{IMAGES_DIR}/{view}/{cid}.png",
                    seed=int(unit_hash(config.seed, cid, "collage:") * 2**32),
                    size=config.size,
                    background=config.backgrounds[
                        int(unit_hash(config.seed, cid, "bg:") * len(config.backgrounds))
                    ],
                    emoji=emoji,
                )
            )
            plan.style_of[cid] = style
        plan.jobs[view] = jobs
    return plan


def make_dataset(
    plan: CollagePlan,
    truth: dict[str, list[tuple[str, Region]]],
    config: CollagesBuildConfig,
    languages: Sequence[str],
) -> Dataset:
    """Items (with their ``objects``) and name queries of every view, from what was really drawn.

    ``truth`` maps a job's target path to ``(concept key, Region)`` of each emoji it pasted.
    """
    splits: dict[str, Split] = {}
    for view, jobs in plan.jobs.items():
        items: list[Item] = []
        items_of: dict[str, list[str]] = {}
        for job in jobs:
            cid = Path(job.target).stem
            style = plan.style_of[cid]
            pasted = truth[job.target]
            for key, _ in pasted:
                items_of.setdefault(key, []).append(cid)
            items.append(
                Item(
                    id=cid,
                    path=job.target,
                    media="image",
                    source=style,
                    objects=[region for _, region in pasted],
                    meta={
                        "style": style,
                        "background": job.background,
                        "concepts": [key for key, _ in pasted],
                        "size": [job.size, job.size],
                        "licence": STYLE_LICENCES[style].licence,
                        "redistributable": STYLE_LICENCES[style].redistributable,
                    },
                )
            )
        # Names only (grade 2): the emoji benchmark's query maker, its concepts without keywords.
        named = [replace(c, tags={}) for c in plan.concepts.get(view, [])]
        queries = make_queries(view, named, items_of, languages, set())
        splits[view] = Split(name=view, items=items, queries=queries)
    return Dataset(name=DATASET_NAME, splits=splits)
