"""The emoji catalogue: emoji-datasource entries joined with their emojibase (CLDR) names and keywords.

The join key of an emoji is its code point sequence in upper-case hex joined by ``-`` with the
variation selector FE0F removed (:func:`join_key`): emoji-datasource writes ``263A-FE0F`` where
emojibase writes ``263A``. The same key names the emoji's concept everywhere in the benchmark (split
assignment, item ids, image file names).

Only base emoji are concepts: skin-tone variants (``skin_variations``) are left out, so that one
concept is one meaning drawn once per style (the variants share their base's name and keywords and
would only add near-duplicate images). The five skin-tone swatches of the "Component" category are
left out too: they are modifiers, not emoji a person would search for.

Example::

    >>> join_key("263a-fe0f")
    '263A'
    >>> join_key("1F636-200D-1F32B-FE0F")
    '1F636-200D-1F32B'
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memesearch.errors import DataFormatError

log = logging.getLogger(__name__)

#: Categories whose entries are not concepts (skin-tone modifiers).
EXCLUDED_CATEGORIES: frozenset[str] = frozenset({"Component"})


def join_key(code_points: str) -> str:
    """The join key of a hex code point sequence: upper case, ``-``-joined, without FE0F."""
    parts = [p for p in code_points.strip().upper().replace(" ", "-").split("-") if p and p != "FE0F"]
    return "-".join(parts)


def normalize_text(text: str) -> str:
    """NFC, trimmed, inner whitespace collapsed: the form in which names and keywords are compared."""
    return " ".join(unicodedata.normalize("NFC", text).split())


@dataclass(frozen=True, slots=True)
class EmojiConcept:
    """One base emoji with its images' file name and its names and keywords per language.

    ``labels`` maps a language to the CLDR short name (emojibase ``label``), ``tags`` to the CLDR
    keywords (emojibase ``tags``); ``styles`` are the image styles that draw this emoji.
    """

    key: str
    unified: str
    char: str
    name: str
    category: str
    subcategory: str
    sort_order: int
    image: str
    styles: frozenset[str]
    labels: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def file_stem(self) -> str:
        """The lower-case key, used in item ids and image file names (``1f636-200d-1f32b``)."""
        return self.key.lower()


def _char_of(unified: str) -> str:
    return "".join(chr(int(cp, 16)) for cp in unified.split("-"))


def read_emoji_json(path: Path) -> list[dict[str, Any]]:
    """The entries of an emoji-datasource ``emoji.json`` (a JSON list of objects)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"cannot read emoji-datasource metadata: {exc}", path=path) from exc
    if not isinstance(data, list):
        raise DataFormatError("expected a JSON list of emoji entries", path=path)
    for i, entry in enumerate(data):
        missing = [k for k in ("unified", "image", "category", "subcategory") if k not in entry]
        if missing:
            raise DataFormatError(
                f"emoji entry lacks {', '.join(missing)}",
                path=path,
                record=str(i),
                hint="is this the emoji.json of an emoji-datasource package?",
            )
    return data


def read_emojibase(path: Path) -> dict[str, dict[str, Any]]:
    """An emojibase-data ``<locale>/data.json`` indexed by join key (skin variants not included)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"cannot read emojibase data: {exc}", path=path) from exc
    if not isinstance(data, list):
        raise DataFormatError("expected a JSON list of emojibase entries", path=path)
    out: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or "hexcode" not in entry or "label" not in entry:
            raise DataFormatError("emojibase entry lacks hexcode or label", path=path, record=str(i))
        out[join_key(entry["hexcode"])] = entry
    return out


@dataclass(slots=True)
class Catalogue:
    """All concepts, plus what the join left out (reported in the dataset card)."""

    concepts: list[EmojiConcept]
    languages: tuple[str, ...]
    skipped_categories: dict[str, int] = field(default_factory=dict)
    missing_text: dict[str, list[str]] = field(default_factory=dict)
    dropped_no_text: list[str] = field(default_factory=list)


def load_catalogue(
    emoji_json: Path,
    emojibase_root: Path,
    languages: Sequence[str] = ("en", "zh"),
    styles: Sequence[str] = (),
) -> Catalogue:
    """Join ``emoji.json`` with ``<emojibase_root>/<lang>/data.json`` for every language.

    A concept keeps the languages for which emojibase has a label (coverage is complete for en and zh
    in emojibase-data 17 vs emoji-datasource 16); a concept with no label in any language is dropped.
    ``styles`` restricts ``EmojiConcept.styles`` to the styles of interest (default: all four).
    """
    entries = read_emoji_json(emoji_json)
    texts: dict[str, dict[str, dict[str, Any]]] = {}
    for lang in languages:
        path = emojibase_root / lang / "data.json"
        if not path.is_file():
            available = sorted(p.name for p in emojibase_root.iterdir() if (p / "data.json").is_file())
            raise DataFormatError(
                f"emojibase-data has no locale {lang!r}",
                path=path,
                hint=f"available locales: {', '.join(available)}",
            )
        texts[lang] = read_emojibase(path)
    catalogue = Catalogue(concepts=[], languages=tuple(languages))
    wanted_styles = tuple(styles) or ("apple", "google", "twitter", "facebook")
    seen: set[str] = set()
    for entry in entries:
        category = str(entry["category"])
        if category in EXCLUDED_CATEGORIES:
            catalogue.skipped_categories[category] = catalogue.skipped_categories.get(category, 0) + 1
            continue
        unified = str(entry["unified"]).upper()
        key = join_key(unified)
        if key in seen:
            raise DataFormatError(f"two entries share the join key {key}", path=emoji_json, record=unified)
        seen.add(key)
        labels: dict[str, str] = {}
        tags: dict[str, tuple[str, ...]] = {}
        for lang in languages:
            text_entry = texts[lang].get(key)
            if text_entry is None or not str(text_entry.get("label", "")).strip():
                catalogue.missing_text.setdefault(lang, []).append(key)
                continue
            labels[lang] = normalize_text(str(text_entry["label"]))
            raw_tags = text_entry.get("tags") or []
            tags[lang] = tuple(dict.fromkeys(normalize_text(str(t)) for t in raw_tags if str(t).strip()))
        if not labels:
            catalogue.dropped_no_text.append(key)
            continue
        catalogue.concepts.append(
            EmojiConcept(
                key=key,
                unified=unified,
                char=_char_of(unified),
                name=str(entry.get("name") or labels.get("en", key)),
                category=category,
                subcategory=str(entry["subcategory"]),
                sort_order=int(entry.get("sort_order", len(catalogue.concepts))),
                image=str(entry["image"]),
                styles=frozenset(s for s in wanted_styles if entry.get(f"has_img_{s}")),
                labels=labels,
                tags=tags,
            )
        )
    catalogue.concepts.sort(key=lambda c: c.sort_order)
    for lang, keys in catalogue.missing_text.items():
        log.warning(
            "%d emoji have no %s name in emojibase-data (e.g. %s)", len(keys), lang, ", ".join(keys[:5])
        )
    return catalogue
