"""What a memes benchmark build makes: :class:`MemesBuildConfig` and the fixed names of its output.

The option checks live here once (each a one-line :class:`~memesearch.errors.ConfigError` naming the
option, what was given and what is allowed), for the CLI, the Python API and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from memesearch.data.emoji.sources import STYLES
from memesearch.data.emoji.splits import DEFAULT_FRACTIONS, check_fractions
from memesearch.errors import ConfigError

DATASET_NAME = "memes"
IMAGES_DIR = "images"
CARD_JSON = "card.json"
CARD_MD = "CARD.md"
#: Languages the phrases can be drawn in (a font is known for each: :mod:`memesearch.data.memes.fonts`).
LANGUAGES: tuple[str, ...] = ("en", "zh")
#: Redistributable emoji styles (Apache-2.0, CC-BY-4.0) used for backgrounds and text-less stickers.
DEFAULT_STYLES: tuple[str, ...] = ("google", "twitter")
MIN_SIZE, MAX_SIZE = 96, 1024
#: CLDR categories whose emoji become phrase families: things people post about. Flags ("flag: Guinea"),
#: Symbols ("keycap: 1") and the skin-tone Component are not meme phrases.
CATEGORIES: tuple[str, ...] = (
    "Smileys & Emotion",
    "People & Body",
    "Animals & Nature",
    "Food & Drink",
    "Activities",
    "Travel & Places",
    "Objects",
)


@dataclass(frozen=True, slots=True)
class MemesBuildConfig:
    """What to build.

    ``size``: the longest side of the largest images in pixels (others are 3/4 of it; aspect ratios vary).
    ``textless_fraction``: the share of items per split that are plain emoji stickers without text.
    ``limit``: a seeded subset of that many phrase families (at least one per split, and at least 3 of
    them emotion families), for tests. ``max_keyword_concepts``: CLDR keywords tagging more emoji than
    this (``face``, ``脸``) are not queries (as in the emoji benchmark); 0 keeps all.
    """

    seed: int = 0
    limit: int | None = None
    size: int = 256
    languages: tuple[str, ...] = LANGUAGES
    textless_fraction: float = 0.3
    styles: tuple[str, ...] = DEFAULT_STYLES
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    max_keyword_concepts: int = 50

    def __post_init__(self) -> None:
        if not self.languages:
            raise ConfigError("--languages needs at least one of en, zh")
        bad = [lang for lang in self.languages if lang not in LANGUAGES]
        if bad:
            raise ConfigError(
                f"--languages: no font or phrases for {', '.join(map(repr, bad))}; choose from en, zh"
            )
        if len(set(self.languages)) != len(self.languages):
            raise ConfigError(f"--languages lists a language twice: {','.join(self.languages)}")
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ConfigError(f"--size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {self.size}")
        if not 0.0 <= self.textless_fraction < 1.0:
            raise ConfigError(
                f"--textless-fraction must be in [0, 1) (a share of the items), got {self.textless_fraction}"
            )
        if self.limit is not None and self.limit < 6:
            raise ConfigError(
                f"--limit must be at least 6 (3 emotion, 3 emoji families: one per split), got {self.limit}"
            )
        if not self.styles:
            raise ConfigError("--styles needs at least one emoji style, e.g. google,twitter")
        for style in self.styles:
            if style not in STYLES:
                raise ConfigError(f"unknown emoji style {style!r}; choose from {', '.join(STYLES)}")
        if self.max_keyword_concepts < 0:
            raise ConfigError(f"--max-keyword-concepts must be >= 0, got {self.max_keyword_concepts}")
        check_fractions(self.fractions)
