"""What a collages benchmark build makes: :class:`CollagesBuildConfig` and the fixed names of its output.

The option checks live here once (one-line :class:`~memesearch.errors.ConfigError` naming the option),
for the CLI, the Python API and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from memesearch.data.collages.compose import BACKGROUNDS
from memesearch.data.emoji.sources import STYLES
from memesearch.data.emoji.splits import DEFAULT_FRACTIONS, check_fractions, parse_view_counts
from memesearch.errors import ConfigError

DATASET_NAME = "collages"
IMAGES_DIR = "images"
#: The views, as in the emoji benchmark: train/val concepts in the train styles, test concepts in the
#: held-out style (unseen concepts, unseen drawings) and train concepts in the held-out style.
VIEWS: tuple[str, ...] = ("train", "val", "test", "test-seen")
DEFAULT_COUNTS: tuple[tuple[str, int], ...] = (
    ("train", 800),
    ("val", 100),
    ("test", 300),
    ("test-seen", 100),
)
MIN_SIZE, MAX_SIZE = 128, 1024
#: CLDR categories whose emoji are pasted: things and characters (flags, keycaps and symbols look alike
#: or are not objects).
CATEGORIES: tuple[str, ...] = (
    "Smileys & Emotion",
    "People & Body",
    "Animals & Nature",
    "Food & Drink",
    "Activities",
    "Travel & Places",
    "Objects",
)


def parse_counts(text: str) -> tuple[tuple[str, int], ...]:
    """``"train=800,val=100,test=300,test-seen=100"`` -> pairs; views left out get 0 collages."""
    return parse_view_counts(text, VIEWS)


@dataclass(frozen=True, slots=True)
class CollagesBuildConfig:
    """What to build: ``counts`` collages per view, each ``size`` x ``size`` px with ``min_objects`` to
    ``max_objects`` emoji on a background drawn from ``backgrounds``. Concepts are split as in the emoji
    benchmark (same ``seed`` and ``fractions``, same split per concept)."""

    seed: int = 0
    size: int = 256
    counts: tuple[tuple[str, int], ...] = DEFAULT_COUNTS
    styles: tuple[str, ...] = ("google", "twitter")
    heldout_style: str = "facebook"
    languages: tuple[str, ...] = ("en", "zh")
    min_objects: int = 2
    max_objects: int = 6
    backgrounds: tuple[str, ...] = BACKGROUNDS
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS

    def __post_init__(self) -> None:
        for style in (*self.styles, self.heldout_style):
            if style not in STYLES:
                raise ConfigError(f"unknown emoji style {style!r}; choose from {', '.join(STYLES)}")
        if not self.train_styles:
            raise ConfigError(
                f"no train style left: --styles {','.join(self.styles)} only lists the held-out style "
                f"{self.heldout_style!r}; add another style, e.g. --styles google,twitter"
            )
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ConfigError(f"--size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {self.size}")
        if not 1 <= self.min_objects <= self.max_objects <= 8:
            raise ConfigError(
                "objects per collage must satisfy 1 <= min <= max <= 8, got "
                f"{self.min_objects}-{self.max_objects}"
            )
        for name, n in self.counts:
            if name not in VIEWS or n < 0:
                raise ConfigError(f"counts: view {name!r} must be one of {', '.join(VIEWS)} with N >= 0")
        if sum(n for _, n in self.counts) == 0:
            raise ConfigError("--counts asks for no collage at all; e.g. train=800,val=100,test=300")
        bad = [b for b in self.backgrounds if b not in BACKGROUNDS]
        if not self.backgrounds or bad:
            raise ConfigError(
                f"--backgrounds must list some of {', '.join(BACKGROUNDS)}, got {self.backgrounds}"
            )
        if not self.languages:
            raise ConfigError("at least one language is needed, e.g. en,zh")
        check_fractions(self.fractions)

    @property
    def train_styles(self) -> tuple[str, ...]:
        return tuple(s for s in dict.fromkeys(self.styles) if s != self.heldout_style)
