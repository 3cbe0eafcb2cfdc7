"""The dataset card of the emoji benchmark: licences, sources, decisions and counts, as JSON and Markdown.

The card is written next to the dataset as ``card.json`` (machine-readable; the same dict is the
dataset's ``meta`` in ``dataset.json``) and ``CARD.md`` (for people). Its counts are computed from the
built :class:`~memesearch.data.records.Dataset`, never typed by hand.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

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
