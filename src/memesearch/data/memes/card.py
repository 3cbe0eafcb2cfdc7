"""The dataset card of the memes benchmark, as JSON (``card.json``, also the dataset's ``meta``) and
Markdown (``CARD.md``). Every count is computed from the built dataset (:func:`split_statistics`),
never typed by hand; :func:`make_card` assembles the card, :func:`render_markdown` renders it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from memesearch.data.emoji.card import STYLE_LICENCES, TEXT_SOURCES
from memesearch.data.memes.assemble import MemesReport
from memesearch.data.memes.config import DATASET_NAME, IMAGES_DIR, MemesBuildConfig
from memesearch.data.memes.fonts import FONTS
from memesearch.data.memes.phrases import fold
from memesearch.data.records import Dataset, Split


def drawn_overlap(split: Split) -> dict[str, Any]:
    """How often a query's phrase is written on the text memes it finds at grade 2.

    ``pairs``: (query, grade-2 text meme) pairs; ``equal``: the query text equals the drawn text;
    ``contained``: the query's phrase appears inside the drawn text (e.g. the keyword "sleep" inside the
    drawn name "sleeping face"). Both are compared case-folded with line breaks as spaces.
    """
    items = split.item_index()
    pairs = equal = contained = 0
    for q in split.queries:
        phrase = fold(str(q.meta.get("phrase", q.text)))
        for item_id, grade in q.qrels.items():
            meta = items[item_id].meta
            if grade < 2 or not meta.get("has_text"):
                continue
            drawn = fold(str(meta["rendered_text"]).replace("\n", " "))
            pairs += 1
            equal += fold(q.text) == drawn
            contained += phrase in drawn
    return {
        "pairs": pairs,
        "equal": equal,
        "contained": contained,
        "contained_fraction": round(contained / pairs, 4) if pairs else 0.0,
    }


def split_statistics(dataset: Dataset) -> dict[str, Any]:
    """Counts per split: families, items by language / background / layout, queries by language / kind."""
    out: dict[str, Any] = {}
    for split in dataset:
        text_items = [it for it in split.items if it.meta.get("has_text")]
        rel = sorted(len(q.relevant(2)) for q in split.queries)
        grades: Counter[int] = Counter(g for q in split.queries for g in q.qrels.values())
        out[split.name] = {
            "families": dict(sorted(Counter(str(it.meta["family"]) for it in split.items).items())),
            "concepts": len({it.meta["concept"] for it in split.items}),
            "items": len(split.items),
            "text_items_per_language": dict(
                sorted(Counter(str(it.meta["text_lang"]) for it in text_items).items())
            ),
            "textless_items": len(split.items) - len(text_items),
            "two_line_items": sum(1 for it in text_items if it.meta["lines"] == 2),
            "backgrounds": dict(sorted(Counter(str(it.meta["background"]) for it in split.items).items())),
            "layouts": dict(sorted(Counter(str(it.meta["layout"]) for it in text_items).items())),
            "text_styles": dict(sorted(Counter(str(it.meta["text_style"]) for it in text_items).items())),
            "sizes": dict(
                sorted(Counter(f"{it.meta['width']}x{it.meta['height']}" for it in split.items).items())
            ),
            "queries": len(split.queries),
            "queries_per_language": dict(sorted(Counter(str(q.meta["lang"]) for q in split.queries).items())),
            "queries_per_kind": dict(sorted(Counter(str(q.meta["kind"]) for q in split.queries).items())),
            "grade_2": grades[2],
            "grade_1": grades[1],
            "grade_2_items_per_query": {
                "min": rel[0] if rel else 0,
                "median": rel[len(rel) // 2] if rel else 0,
                "max": rel[-1] if rel else 0,
            },
            "drawn_overlap": drawn_overlap(split),
        }
    return out


def _decisions(config: MemesBuildConfig) -> list[str]:
    return [
        "A concept is a phrase family: a CLDR emoji (its name and keywords) or a word of the bilingual "
        "emotion vocabulary (the word, its synonyms and prompts). Split by family with "
        f'sha256("<seed>:<key>") as the emoji benchmark, fractions {list(config.fractions)}: no family '
        "in two splits.",
        "Text memes: one per (family, language), a drawable phrase maybe put in a meme template and "
        "upper-cased, in one or two lines, over an emoji picture (an emotion family borrows an emoji of its "
        "split labelled with that emotion), a flat colour, a gradient or noise; sides "
        f"{config.size} or {round(config.size * 0.75)} px, aspect 1:1, 4:3 or 3:4.",
        f"Text-less stickers: the emoji alone on white, for a seeded share of each split's emoji families so "
        f"that {config.textless_fraction:.0%} of the items have no text.",
        "Items carry no captions, OCR or emotions (the realistic condition): what was drawn is in "
        "meta.rendered_text / meta.font / meta.background for reports only, the labels in "
        "meta.emotion_labels.",
        "Queries: every phrase of the split's families that was NOT drawn on one of its items (other "
        "keywords, the name when a keyword is drawn, synonyms, the other language), some in a chat-like "
        "template; grade 2 = items of the families holding the phrase, grade 1 = items of other families "
        "of the split sharing an emotion label with them.",
        f"CLDR keywords tagging more than {config.max_keyword_concepts} emoji, and English keywords under 3 "
        "letters, are not phrases.",
    ]


def make_card(
    dataset: Dataset,
    config: MemesBuildConfig,
    report: MemesReport,
    sources: dict[str, str],
    command: str,
) -> dict[str, Any]:
    """The dataset card as a JSON-ready dict (also stored as the dataset's ``meta``)."""
    from memesearch._version import __version__

    cfg = asdict(config)
    for key in ("languages", "styles", "fractions"):
        cfg[key] = list(cfg[key])
    per_split: Counter[str] = Counter(report.concept_split.values())
    return {
        "name": DATASET_NAME,
        "description": (
            "Meme-like images rendered offline: a phrase (en, zh) drawn over an emoji, a colour, a gradient "
            "or noise, mixed with text-less emoji stickers; chat-like queries that mean the drawn text "
            "without repeating it; split by concept. Items carry no captions: search must read the pixels."
        ),
        "memesearch_version": __version__,
        "command": command,
        "config": cfg,
        "sources": sources,
        "licences": {
            "images": {s: asdict(STYLE_LICENCES[s]) for s in config.styles},
            "fonts": {lang: asdict(FONTS[lang]) for lang in config.languages},
            "text": TEXT_SOURCES,
        },
        "images": {"format": "PNG", "mode": "RGB", "layout": f"{IMAGES_DIR}/<id>.png"},
        "concepts": {"families": report.families, "per_split": dict(sorted(per_split.items()))},
        "splits": split_statistics(dataset),
        "queries": {
            "grades": {
                "2": "the item's drawn text or picture is the query's concept",
                "1": "the item's concept shares an emotion label with the query's concept",
            },
            "drawn_not_queried": report.drawn_not_queried,
        },
        "decisions": _decisions(config),
    }


def render_markdown(card: dict[str, Any]) -> str:
    """The human-readable ``CARD.md`` of a card dict made by the builder."""
    cfg = card["config"]
    lines = [
        f"# {card['name']} — text-meme search benchmark",
        "",
        card["description"],
        "",
        "## Build",
        "",
        f"- Command: `{card['command']}`",
        f"- Seed {cfg['seed']}; size {cfg['size']} px; languages {', '.join(cfg['languages'])}; text-less "
        f"fraction {cfg['textless_fraction']}; emoji styles {', '.join(cfg['styles'])}"
        + (f"; subset of {cfg['limit']} families" if cfg.get("limit") else ""),
        f"- Families: {card['concepts']['families']}; built with memesearch {card['memesearch_version']}"
        + (f" in {card['build_seconds']:.1f} s" if "build_seconds" in card else ""),
        "",
        "## Splits",
        "",
        "| split | concepts | items | text items (per language) | text-less | queries (per language) "
        "| grade 2 | grade 1 | query phrase inside drawn text |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in card["splits"].items():
        text = ", ".join(f"{k} {v}" for k, v in s["text_items_per_language"].items())
        queries = ", ".join(f"{k} {v}" for k, v in s["queries_per_language"].items())
        ov = s["drawn_overlap"]
        lines.append(
            f"| {name} | {s['concepts']} | {s['items']} | {text} | {s['textless_items']} | {s['queries']} "
            f"({queries}) | {s['grade_2']} | {s['grade_1']} | {ov['contained']}/{ov['pairs']} |"
        )
    lines += ["", "Per split: backgrounds, layouts, text styles, query kinds:", ""]
    for name, s in card["splits"].items():
        parts = [
            ", ".join(f"{k} {v}" for k, v in s[field].items())
            for field in ("backgrounds", "layouts", "text_styles", "queries_per_kind")
        ]
        lines.append(f"- **{name}**: {'; '.join(parts)}; two-line items {s['two_line_items']}")
    lines += ["", "## Sources and licences", "", "| source | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in card["sources"].items()]
    lines += [""] + [
        f"- emoji style {k}: {v['licence']} — {v['note']}" for k, v in card["licences"]["images"].items()
    ]
    lines += [
        f"- font ({k}) {v['name']}: Debian {v['package']}, {v['licence']}"
        for k, v in card["licences"]["fonts"].items()
    ]
    lines += [f"- {k}: {v}" for k, v in card["licences"]["text"].items()]
    lines += ["", "## Decisions", ""] + [f"- {d}" for d in card["decisions"]] + [""]
    return "\n".join(lines)
