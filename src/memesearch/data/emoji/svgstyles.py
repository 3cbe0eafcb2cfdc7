"""SVG emoji styles (Fluent, OpenMoji): which file draws which concept, and rendering an SVG offline.

The styles are listed in :data:`memesearch.data.emoji.sources.SVG_STYLES`. A file is matched to a
concept of the catalogue (an emoji-datasource base emoji, :mod:`memesearch.data.emoji.catalogue`):

* OpenMoji: by code points. ``data/openmoji.json`` gives each file's ``hexcode``; entries with a
  ``skintone`` are skin-tone variants and are left out, like the PNG styles' variants; the join key
  drops FE0F as everywhere else.
* Fluent: by name, since the package ships no metadata. A file is ``<slug>.svg`` or, for emoji with
  skin tones, ``<slug>-default.svg`` (the yellow base) beside ``<slug>-<tone>.svg`` variants (left
  out). ``<slug>`` is the CLDR short name folded to ``[a-z0-9-]`` (:func:`slug`), looked up among the
  slugs of the catalogue's names: the emojibase en label first, then emoji-datasource's name and short
  names. A slug shared by two concepts is ambiguous and never used. :data:`FLUENT_ALIASES` names the
  few files whose slug is not a CLDR name (``person-elf`` is CLDR "elf").

Files that match no concept are counted and listed as unmatched in the dataset card. Rendering
(:func:`render_svg`) uses resvg (``resvg-py``), which needs no system library: the SVG is drawn with
its longer side at the build size, centred on a transparent square.

Example::

    >>> slug("one o’clock")
    'one-oclock'
    >>> slug("piñata")
    'pinata'
"""

from __future__ import annotations

import io
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from memesearch.data.emoji.catalogue import Catalogue, join_key, read_emoji_json, read_emojibase
from memesearch.data.emoji.sources import SVG_STYLES
from memesearch.errors import ConfigError, DataFormatError, MemesearchError

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

#: Fluent skin-tone suffixes (a file ``<slug><suffix>.svg`` beside ``<slug>-default.svg`` is a variant).
FLUENT_TONES: tuple[str, ...] = ("-medium-light", "-medium-dark", "-medium", "-light", "-dark")

#: Fluent file slugs that are not a CLDR short name, mapped to the join key of the emoji they draw.
FLUENT_ALIASES: dict[str, str] = {
    "blackbird": "1F426-200D-2B1B",  # black bird
    "keycap-asterisk": "002A-20E3",  # keycap: *
    "keycap-hashtag": "0023-20E3",  # keycap: #
    "knocked-out-face": "1F635",  # face with crossed-out eyes
    "man-blonde-hair": "1F471-200D-2642",  # man: blond hair
    "man-deaf": "1F9CF-200D-2642",  # deaf man
    "man-merpeople": "1F9DC-200D-2642",  # merman
    "man-with-bunny-ears": "1F46F-200D-2642",  # men with bunny ears
    "person-blonde-hair": "1F471",  # person: blond hair
    "person-deaf": "1F9CF",  # deaf person
    "person-elf": "1F9DD",  # elf
    "person-fairy": "1F9DA",  # fairy
    "person-genie": "1F9DE",  # genie
    "person-mage": "1F9D9",  # mage
    "person-merpeople": "1F9DC",  # merperson
    "person-superhero": "1F9B8",  # superhero
    "person-supervillain": "1F9B9",  # supervillain
    "person-vampire": "1F9DB",  # vampire
    "person-with-bunny-ears": "1F46F",  # people with bunny ears
    "person-wrestling": "1F93C",  # people wrestling
    "person-zombie": "1F9DF",  # zombie
    "phoenix-bird": "1F426-200D-1F525",  # phoenix
    "red-triangle": "1F53A",  # red triangle pointed up (beside red-triangle-pointed-down)
    "stuffedbread": "1F959",  # stuffed flatbread
    "stuffedbread-flat": "1F959",  # the same, as named in the flat folder
    "woman-blonde-hair": "1F471-200D-2640",  # woman: blond hair
    "woman-deaf": "1F9CF-200D-2640",  # deaf woman
    "woman-merpeople": "1F9DC-200D-2640",  # mermaid
    "woman-with-bunny-ears": "1F46F-200D-2640",  # women with bunny ears
}


def slug(name: str) -> str:
    """A name folded the way Fluent names its files: accents and apostrophes dropped, ``&`` -> ``and``,
    lower case, every other run of non-alphanumerics -> ``-``."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("’", "").replace("'", "").replace("&", "and")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


@dataclass(slots=True)
class StyleIndex:
    """The files of one SVG style: ``files`` maps a concept key to its SVG (absolute path); ``unmatched``
    lists the names of the base files that draw no concept of the catalogue; ``skin_variants`` counts the
    skin-tone files left out; ``total`` is every SVG of the style's folder."""

    style: str
    files: dict[str, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    skin_variants: int = 0
    total: int = 0

    def summary(self) -> dict[str, object]:
        """The card's record of this style: counts and the unmatched file names."""
        return {
            "files": self.total,
            "skin_variants_left_out": self.skin_variants,
            "matched_concepts": len(self.files),
            "unmatched": len(self.unmatched),
            "unmatched_files": sorted(self.unmatched),
        }


def name_table(names: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, int]]:
    """``{slug: (concept key, rank)}`` from ``{key: names in order of preference}``: rank 0 when the slug is
    the concept's first (CLDR) name, 1 for another of its names. A slug shared by two concepts at its best
    rank is ambiguous and dropped."""
    ranked: dict[str, tuple[int, set[str]]] = {}
    for key, candidates in names.items():
        for i, name in enumerate(candidates):
            s, rank = slug(name), min(i, 1)
            if not s:
                continue
            best, keys = ranked.get(s, (rank, set()))
            if rank < best:
                ranked[s] = (rank, {key})
            elif rank == best:
                keys.add(key)
                ranked[s] = (rank, keys)
    return {s: (next(iter(keys)), rank) for s, (rank, keys) in ranked.items() if len(keys) == 1}


def concept_names(catalogue: Catalogue, emoji_json: Path, emojibase_root: Path) -> dict[str, list[str]]:
    """``{concept key: names}`` for matching Fluent files: the emojibase en label (read whatever the build's
    languages), then emoji-datasource's ``name`` and ``short_names``."""
    en = read_emojibase(emojibase_root / "en" / "data.json")
    extra = {join_key(str(e["unified"])): e for e in read_emoji_json(emoji_json)}
    out: dict[str, list[str]] = {}
    for c in catalogue.concepts:
        names = [str(en[c.key]["label"])] if c.key in en else []
        entry = extra.get(c.key, {})
        names += [str(n) for n in [entry.get("name"), *entry.get("short_names", [])] if n]
        out[c.key] = names or [c.name]
    return out


def index_fluent(style: str, folder: Path, names: Mapping[str, Iterable[str]]) -> StyleIndex:
    """Match the SVGs of a Fluent style folder to concepts by name (see the module docstring).

    A concept claimed by two files goes to the better match (an alias, then a CLDR name, then another
    name); the other file is unmatched.
    """
    index = StyleIndex(style=style)
    table = name_table(names)
    known = set(names)
    stems = {p.stem for p in folder.glob("*.svg")}
    index.total = len(stems)
    claims: dict[str, list[tuple[int, str]]] = {}
    for stem in sorted(stems):
        if stem.endswith("-default"):
            base = stem.removesuffix("-default")
        else:
            tone = next((t for t in FLUENT_TONES if stem.endswith(t)), None)
            if tone is not None and f"{stem.removesuffix(tone)}-default" in stems:
                index.skin_variants += 1
                continue
            base = stem
        if base in FLUENT_ALIASES:
            key, rank = FLUENT_ALIASES[base], -1
        else:
            key, rank = table.get(base, ("", 0))
        if key not in known:
            index.unmatched.append(stem)
            continue
        claims.setdefault(key, []).append((rank, stem))
    for key, files in claims.items():
        files.sort()
        index.files[key] = str(folder / f"{files[0][1]}.svg")
        for _, stem in files[1:]:
            log.warning("Fluent files %s and %s.svg both match %s; keeping the first", files[0][1], stem, key)
            index.unmatched.append(stem)
    index.unmatched.sort()
    return index


def index_openmoji(style: str, folder: Path, metadata: Path, keys: Iterable[str]) -> StyleIndex:
    """Match the SVGs of an OpenMoji style folder to concepts by the hexcodes of ``data/openmoji.json``."""
    try:
        entries = json.loads(metadata.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"cannot read OpenMoji metadata: {exc}", path=metadata) from exc
    if not isinstance(entries, list):
        raise DataFormatError("expected a JSON list of OpenMoji entries", path=metadata)
    known = set(keys)
    index = StyleIndex(style=style)
    on_disk = {p.stem for p in folder.glob("*.svg")}
    index.total = len(on_disk)
    described: set[str] = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "hexcode" not in entry:
            raise DataFormatError("OpenMoji entry lacks hexcode", path=metadata, record=str(i))
        hexcode = str(entry["hexcode"])
        described.add(hexcode)
        if hexcode not in on_disk:
            continue
        if entry.get("skintone"):
            index.skin_variants += 1
            continue
        key = join_key(hexcode)
        if key not in known or key in index.files:
            index.unmatched.append(hexcode)
            continue
        index.files[key] = str(folder / f"{hexcode}.svg")
    index.unmatched.extend(sorted(on_disk - described))  # files the metadata does not describe
    return index


def index_svg_style(style: str, package_root: Path, names: Mapping[str, Iterable[str]]) -> StyleIndex:
    """The :class:`StyleIndex` of ``style`` read from its installed npm package at ``package_root``.

    ``names`` maps every concept key of the catalogue to its names (en label first), used by Fluent.
    """
    if style not in SVG_STYLES:
        raise ConfigError(f"{style!r} is not an SVG style; SVG styles: {', '.join(SVG_STYLES)}")
    package, folder = SVG_STYLES[style]
    if package == "openmoji":
        index = index_openmoji(style, package_root / folder, package_root / "data" / "openmoji.json", names)
    else:
        index = index_fluent(style, package_root / folder, names)
    log.info(
        "style %s: %d files, %d concepts matched, %d skin-tone variants left out, %d unmatched",
        style,
        index.total,
        len(index.files),
        index.skin_variants,
        len(index.unmatched),
    )
    return index


def render_svg(source: str | Path, size: int) -> Image.Image:
    """Render an SVG file to an RGBA ``size`` x ``size`` image: its longer side drawn at ``size`` px by
    resvg, centred on a transparent square."""
    from PIL import Image

    try:
        import resvg_py
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise MemesearchError(
            "rendering SVG emoji styles needs resvg-py: pip install resvg-py (see requirements.lock)"
        ) from exc
    try:
        data = bytes(resvg_py.svg_to_bytes(svg_path=str(source), width=size))
        im = Image.open(io.BytesIO(data)).convert("RGBA")
        if im.height > size:  # taller than wide: fit the height instead
            data = bytes(resvg_py.svg_to_bytes(svg_path=str(source), height=size))
            im = Image.open(io.BytesIO(data)).convert("RGBA")
    except ValueError as exc:
        raise DataFormatError(f"cannot render SVG: {exc}", path=Path(source)) from exc
    if im.size != (size, size):
        canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        canvas.paste(im, ((size - im.width) // 2, (size - im.height) // 2))
        im = canvas
    return im
