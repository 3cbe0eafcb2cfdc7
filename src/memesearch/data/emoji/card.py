"""The dataset card of the emoji benchmark: licences, sources, decisions and counts, as JSON and Markdown.

The card is written next to the dataset as ``card.json`` (machine-readable; the same dict is the
dataset's ``meta`` in ``dataset.json``) and ``CARD.md`` (for people). Its counts are computed from the
built :class:`~memesearch.data.records.Dataset`, never typed by hand. :func:`make_card` assembles it,
:func:`render_markdown` renders it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from memesearch.data.emoji.catalogue import Catalogue
from memesearch.data.emoji.config import DATASET_NAME, IMAGES_DIR, SOURCE_SIZE, BuildReport, EmojiBuildConfig
from memesearch.data.emoji.emotions import EMOJI_EMOTIONS, EMOTION_MAPPING_VERSION, SUBCATEGORY_EMOTIONS
from memesearch.data.emotions import EMOTIONS
from memesearch.data.records import Dataset


@dataclass(frozen=True, slots=True)
class StyleLicence:
    """The licence of one image style (the npm package's MIT licence covers code and metadata only)."""

    source: str
    licence: str
    redistributable: bool
    note: str


STYLE_LICENCES: dict[str, StyleLicence] = {
    "google": StyleLicence(
        source="Noto Emoji v2.048 (https://github.com/googlefonts/noto-emoji), npm emoji-datasource-google",
        licence="Apache-2.0",
        redistributable=True,
        note="Redistributable under Apache-2.0; keep the licence notice.",
    ),
    "twitter": StyleLicence(
        source="Twemoji fork v16.0.1 (https://github.com/jdecked/twemoji) via npm emoji-datasource-twitter",
        licence="CC-BY-4.0",
        redistributable=True,
        note=(
            'Redistributable under CC-BY-4.0 with attribution: "Twemoji graphics by Twitter, Inc. and other '
            'contributors (jdecked/twemoji), licensed under CC-BY 4.0".'
        ),
    ),
    "facebook": StyleLicence(
        source="Facebook emoji v9 via npm emoji-datasource-facebook",
        licence="proprietary (c) Facebook/Meta, no clear licence",
        redistributable=False,
        note="Not licensed for redistribution: used only as a local held-out test style; never publish it.",
    ),
    "apple": StyleLicence(
        source="Apple Color Emoji (macOS 15.5) via npm emoji-datasource-apple",
        licence="proprietary (c) Apple Inc., not licensed for commercial use",
        redistributable=False,
        note="Not licensed for redistribution or commercial use: local experiments only; never publish it.",
    ),
    **{
        f"fluent-{name}": StyleLicence(
            source=(
                "Microsoft Fluent UI Emoji (https://github.com/microsoft/fluentui-emoji), "
                f"{what} SVGs, via npm fluentui-emoji (icons/{folder})"
            ),
            licence="MIT",
            redistributable=True,
            note="Redistributable under MIT: keep 'Copyright (c) Microsoft Corporation' and the licence.",
        )
        for name, what, folder in (
            ("flat", "Flat", "flat"),
            ("color", "Color (gradient)", "modern"),
            ("high-contrast", "High Contrast (black and white)", "high-contrast"),
        )
    },
    **{
        f"openmoji-{name}": StyleLicence(
            source=f"OpenMoji 17 (https://openmoji.org), {what} SVGs, via npm openmoji ({name}/svg)",
            licence="CC-BY-SA-4.0",
            redistributable=True,
            note=(
                'Redistributable under CC-BY-SA-4.0 with attribution: "All emojis designed by OpenMoji - the '
                'open-source emoji and icon project. License: CC BY-SA 4.0". ShareAlike: adapted images '
                "must keep the licence; check what it asks of model weights trained on them before shipping."
            ),
        )
        for name, what in (("color", "colour"), ("black", "black line-art"))
    },
}

TEXT_SOURCES: dict[str, str] = {
    "emojibase-data": (
        "MIT (emojibase); labels and tags derived from Unicode CLDR annotations (Unicode License v3)"
    ),
    "emoji-datasource": "MIT (metadata: categories, subcategories, image file names; not the images)",
}

SPLIT_DESCRIPTIONS: dict[str, str] = {
    "train": "train concepts drawn in the train styles",
    "val": "validation concepts drawn in the train styles",
    "test": "test concepts (unseen) drawn in the held-out style (unseen)",
    "test-seen": "train concepts (seen) drawn in the held-out style (unseen)",
}


def split_statistics(dataset: Dataset) -> dict[str, Any]:
    """Counts per split: concepts, items per style, queries per language and kind, qrels, emotions."""
    out: dict[str, Any] = {}
    for name, split in dataset.splits.items():
        per_lang: Counter[str] = Counter()
        per_kind: Counter[str] = Counter()
        relevant: list[int] = []
        for q in split.queries:
            lang = str(q.meta.get("lang", "?"))
            per_lang[lang] += 1
            per_kind[f"{lang}/{q.meta.get('kind', '?')}"] += 1
            relevant.append(sum(1 for g in q.qrels.values() if g > 0))
        relevant.sort()
        emotions: Counter[str] = Counter(e for it in split.items for e in it.emotions)
        out[name] = {
            "description": SPLIT_DESCRIPTIONS.get(name, ""),
            "concepts": len({it.meta.get("concept") for it in split.items}),
            "items": len(split.items),
            "items_per_style": dict(sorted(Counter(str(it.source) for it in split.items).items())),
            "items_with_emotion": sum(1 for it in split.items if it.emotions),
            "queries": len(split.queries),
            "queries_per_language": dict(sorted(per_lang.items())),
            "queries_per_language_kind": dict(sorted(per_kind.items())),
            "positives": sum(relevant),
            "relevant_items_per_query": {
                "min": relevant[0] if relevant else 0,
                "median": relevant[len(relevant) // 2] if relevant else 0,
                "max": relevant[-1] if relevant else 0,
                "mean": round(sum(relevant) / len(relevant), 3) if relevant else 0.0,
            },
            "emotion_distribution": dict(sorted(emotions.items(), key=lambda kv: (-kv[1], kv[0]))),
        }
    return out


def _decisions(config: EmojiBuildConfig) -> list[str]:
    notes = [
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
    ] + (
        [
            f"SVG styles ({', '.join(config.svg_styles)}) are train-side only and rendered offline with "
            f"resvg at {config.size} px (longer side, centred), then composited like the PNGs. Their files "
            "are matched to the catalogue's concepts by code points (OpenMoji metadata) or by CLDR name "
            "(Fluent file names, a few aliases); skin-tone variants are left out; the unmatched files are "
            "counted under svg_styles. They only add train and val items: no concept changes split."
        ]
        if config.svg_styles
        else []
    )
    if config.val_style:
        notes.append(
            f"The val-heldout view draws the val concepts in {config.val_style}, a style used neither for "
            "training nor for test, so that model selection sees a style gap as the test view does."
        )
    return notes


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
    if cfg["val_style"] is None:
        del cfg["val_style"]  # a default build's card stays as before
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
        "svg_styles": report.svg_styles,
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


def render_markdown(card: dict[str, Any]) -> str:
    """The human-readable ``CARD.md`` of a card dict made by the builder."""
    cfg = card["config"]
    lines = [
        f"# {card['name']} — emoji image–text retrieval benchmark",
        "",
        card["description"],
        "",
        "## Build",
        "",
        f"- Command: `{card['command']}`",
        f"- Train styles: {', '.join(cfg['train_styles'])}; held-out style: {cfg['heldout_style']}; "
        f"image size {cfg['size']} px ({card['images']['note']}); seed {cfg['seed']}"
        + (f"; subset of {cfg['limit']} concepts" if cfg.get("limit") else ""),
        f"- Languages: {', '.join(cfg['languages'])}; split fractions train/val/test {cfg['fractions']}",
        f"- Built with memesearch {card['memesearch_version']} in {card['build_seconds']:.1f} s",
        "",
        "## Sources and licences",
        "",
        "| package | version |",
        "|---|---|",
    ]
    lines += [f"| {name} | {version} |" for name, version in card["sources"].items()]
    lines += ["", "| style | role | licence | redistributable | note |", "|---|---|---|---|---|"]
    for style, lic in card["licences"]["images"].items():
        role = "held-out (test)" if style == cfg["heldout_style"] else "train/val"
        redistributable = "yes" if lic["redistributable"] else "**no**"
        lines.append(f"| {style} | {role} | {lic['licence']} | {redistributable} | {lic['note']} |")
    lines += ["", "Text:"] + [f"- {k}: {v}" for k, v in card["licences"]["text"].items()]
    if card.get("svg_styles"):
        lines += [
            "",
            "SVG styles (files matched to the catalogue's concepts; unmatched files draw no concept of it):",
            "",
            "| style | SVG files | skin-tone variants left out | concepts matched | unmatched | e.g. |",
            "|---|---|---|---|---|---|",
        ]
        for style, st in card["svg_styles"].items():
            example = ", ".join(st["unmatched_files"][:5])
            lines.append(
                f"| {style} | {st['files']} | {st['skin_variants_left_out']} | {st['matched_concepts']} "
                f"| {st['unmatched']} | {example} |"
            )
    lines += [
        "",
        "## Splits",
        "",
        "| split | what | concepts | items | queries | positives | rel./query (median, max) |",
    ]
    lines += ["|---|---|---|---|---|---|---|"]
    for name, s in card["splits"].items():
        rel = s["relevant_items_per_query"]
        lines.append(
            f"| {name} | {s['description']} | {s['concepts']} | {s['items']} | {s['queries']} "
            f"| {s['positives']} | {rel['median']}, {rel['max']} |"
        )
    lines += ["", "Items per style and queries per language/kind:", ""]
    for name, s in card["splits"].items():
        styles = ", ".join(f"{k} {v}" for k, v in s["items_per_style"].items())
        kinds = ", ".join(f"{k} {v}" for k, v in s["queries_per_language_kind"].items())
        lines.append(f"- **{name}**: items {styles}; queries {kinds}")
    exc = card["excluded"]
    lines += ["", "Excluded from the held-out views (no image in the held-out style):", ""]
    views = [v for v in card["splits"] if v.startswith("test")]
    lines += [f"- {view}: {len(exc['no_heldout_image'].get(view, []))} concepts" for view in views]
    lines += [f"- train/val concepts with no image in any train style: {len(exc['no_train_image'])}"]
    lines += [
        f"- categories left out: {exc['skipped_categories']}; concepts without a name: {len(exc['no_text'])}",
        "",
        "## Emotions",
        "",
        card["emotions"]["description"],
        "",
        "| emotion | 中文 | " + " | ".join(card["splits"]) + " |",
        "|---|---|" + "---|" * len(card["splits"]),
    ]
    for en, zh in card["emotions"]["vocabulary"].items():
        counts = " | ".join(str(s["emotion_distribution"].get(en, 0)) for s in card["splits"].values())
        lines.append(f"| {en} | {zh} | {counts} |")
    lines += [
        "",
        "Subcategory defaults: "
        + "; ".join(
            f"{sub} → {', '.join(words) or '(none)'}"
            for sub, words in card["emotions"]["subcategory_defaults"].items()
        ),
    ]
    lines += ["", "## Decisions", ""] + [f"- {d}" for d in card["decisions"]]
    dropped = card["queries"]["dropped_generic_keywords"]
    lines += [
        "",
        f"Generic keywords dropped as queries (tag of more than {cfg['max_keyword_concepts']} concepts in "
        "the full catalogue): "
        + (
            ", ".join(
                f"{d['lang']}:{d['text']} ({d['concepts']}"
                + (f"; also the name of {d['name_of']}, dropped too" if d.get("name_of") else "")
                + ")"
                for d in dropped
            )
            or "none"
        ),
        "",
    ]
    return "\n".join(lines)
