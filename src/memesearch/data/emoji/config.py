"""What an emoji benchmark build makes: :class:`EmojiBuildConfig`, the fixed names of its output, and
the :class:`BuildReport` of what it left out.

Sizes, backgrounds and the folder / file names of a built dataset (``images/``, ``msrvtt/``,
``card.json``, ``CARD.md``) are defined here once, for the assembly, the image writer, the card and
the build driver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memesearch.data.emoji.sources import ALL_STYLES, STYLES, SVG_STYLES
from memesearch.data.emoji.splits import DEFAULT_FRACTIONS, check_fractions
from memesearch.errors import ConfigError

DATASET_NAME = "emoji"
SIZES: tuple[int, ...] = (32, 64, 128, 256)
SOURCE_SIZE = 64
BACKGROUNDS: tuple[str, ...] = ("white", "transparent")
VIEW_NAMES: tuple[str, ...] = ("train", "val", "test", "test-seen")
CARD_JSON = "card.json"
CARD_MD = "CARD.md"
MSRVTT_DIR = "msrvtt"
IMAGES_DIR = "images"


@dataclass(frozen=True, slots=True)
class EmojiBuildConfig:
    """What to build. ``styles`` are the train styles; the held-out style is removed from them if listed.

    The SVG styles (:data:`~memesearch.data.emoji.sources.SVG_STYLES`: fluent-*, openmoji-*) are train
    styles only; the held-out style is one of the emoji-datasource styles, as before.

    ``max_keyword_concepts``: a keyword that tags more concepts than this in the full catalogue (e.g.
    en "flag" 274, "face" 162; zh 旗 265, 脸 128) is dropped as a query, since nearly any image of its
    family would satisfy it; 0 keeps every keyword. ``limit`` builds a seeded subset of that many
    concepts (every split represented), for tests.
    """

    styles: tuple[str, ...] = ("google", "twitter")
    heldout_style: str = "facebook"
    size: int = SOURCE_SIZE
    seed: int = 0
    limit: int | None = None
    languages: tuple[str, ...] = ("en", "zh")
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    max_keyword_concepts: int = 50
    background: str = "white"
    #: the style of the optional ``val-heldout`` view (val concepts drawn in a style used neither for
    #: training nor for test): selection can then see a style gap, as test does; None: no such view
    val_style: str | None = None

    def __post_init__(self) -> None:
        for style in self.styles:
            if style not in ALL_STYLES:
                raise ConfigError(f"unknown emoji style {style!r}; choose from {', '.join(ALL_STYLES)}")
        if self.heldout_style not in STYLES:
            what = "a train-only (SVG) style" if self.heldout_style in SVG_STYLES else "unknown"
            raise ConfigError(
                f"held-out style {self.heldout_style!r} is {what}; the held-out style is one of "
                f"{', '.join(STYLES)}"
            )
        if self.val_style is not None and (
            self.val_style not in STYLES
            or self.val_style == self.heldout_style
            or self.val_style in self.styles
        ):
            raise ConfigError(
                f"--val-style {self.val_style!r} must be one of {', '.join(STYLES)} that is neither the "
                f"held-out style ({self.heldout_style}) nor a train style ({', '.join(self.styles)})"
            )
        if not self.train_styles:
            raise ConfigError(
                f"no train style left: --styles {','.join(self.styles)} only lists the held-out style "
                f"{self.heldout_style!r}; add another style, e.g. --styles google,twitter"
            )
        if self.size not in SIZES:
            raise ConfigError(f"--size must be one of {', '.join(map(str, SIZES))}, got {self.size}")
        if self.background not in BACKGROUNDS:
            raise ConfigError(f"background must be one of {', '.join(BACKGROUNDS)}, got {self.background!r}")
        if self.limit is not None and self.limit < 3:
            raise ConfigError(f"--limit must be at least 3 (one concept per split), got {self.limit}")
        if self.max_keyword_concepts < 0:
            raise ConfigError(f"max_keyword_concepts must be >= 0, got {self.max_keyword_concepts}")
        if not self.languages:
            raise ConfigError("at least one language is needed, e.g. en,zh")
        check_fractions(self.fractions)

    @property
    def train_styles(self) -> tuple[str, ...]:
        return tuple(s for s in dict.fromkeys(self.styles) if s != self.heldout_style)

    @property
    def svg_styles(self) -> tuple[str, ...]:
        """The train styles drawn from SVGs (Fluent, OpenMoji)."""
        return tuple(s for s in self.train_styles if s in SVG_STYLES)

    @property
    def all_styles(self) -> tuple[str, ...]:
        return (*self.train_styles, self.heldout_style, *((self.val_style,) if self.val_style else ()))


@dataclass(slots=True)
class BuildReport:
    """What the build left out and why (recorded in the card)."""

    concept_split: dict[str, str] = field(default_factory=dict)
    no_heldout_image: dict[str, list[str]] = field(default_factory=dict)
    no_train_image: list[str] = field(default_factory=list)
    dropped_generic: list[dict[str, Any]] = field(default_factory=list)
    unmapped_subcategories: list[str] = field(default_factory=list)
    #: per SVG style: files, matched concepts, skin-tone variants left out, unmatched files
    svg_styles: dict[str, dict[str, Any]] = field(default_factory=dict)
