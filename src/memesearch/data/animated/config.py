"""What an animated benchmark build makes: :class:`AnimatedBuildConfig` and the fixed names of its output.

The option checks live here once (one-line :class:`~memesearch.errors.ConfigError` naming the option),
for the CLI, the Python API and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from memesearch.data.emoji.sources import STYLES
from memesearch.data.emoji.splits import DEFAULT_FRACTIONS, check_fractions, parse_view_counts
from memesearch.errors import ConfigError

DATASET_NAME = "animated"
IMAGES_DIR = "images"
#: The views, as in the emoji and collages benchmarks: train/val concepts in the train styles, test
#: concepts in the held-out style (unseen concepts, unseen drawings), train concepts in the held-out style.
VIEWS: tuple[str, ...] = ("train", "val", "test", "test-seen")
DEFAULT_COUNTS: tuple[tuple[str, int], ...] = (
    ("train", 600),
    ("val", 150),
    ("test", 300),
    ("test-seen", 100),
)
#: Animation containers written (chosen per item by a seeded hash): GIF, animated WebP, APNG.
FORMATS: tuple[str, ...] = ("gif", "webp", "png")
MIN_SIZE, MAX_SIZE = 96, 512


def parse_counts(text: str) -> tuple[tuple[str, int], ...]:
    """``"train=600,val=150,test=300,test-seen=100"`` -> pairs; views left out get 0 animations."""
    return parse_view_counts(text, VIEWS)


@dataclass(frozen=True, slots=True)
class AnimatedBuildConfig:
    """What to build: ``counts`` animations per view, ``size`` x ``size`` px, each showing
    ``min_concepts`` to ``max_concepts`` emoji in turn (``frames_per_concept`` frames each,
    ``frame_ms`` per frame); a ``text_fraction`` of them carry a caption (the name of the last emoji shown,
    en or zh) drawn only on the last emoji's frames. Concepts are split as in the emoji benchmark (same
    ``seed`` and ``fractions``, same split per concept)."""

    seed: int = 0
    size: int = 160
    counts: tuple[tuple[str, int], ...] = DEFAULT_COUNTS
    styles: tuple[str, ...] = ("google", "twitter")
    heldout_style: str = "facebook"
    languages: tuple[str, ...] = ("en", "zh")
    min_concepts: int = 2
    max_concepts: int = 3
    frames_per_concept: int = 2
    frame_ms: int = 500
    text_fraction: float = 0.5
    formats: tuple[str, ...] = FORMATS
    max_keyword_concepts: int = 50
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
        if not 2 <= self.min_concepts <= self.max_concepts <= 3:
            raise ConfigError(
                "emoji per animation must satisfy 2 <= min <= max <= 3, got "
                f"{self.min_concepts}-{self.max_concepts}"
            )
        if not 1 <= self.frames_per_concept <= 4:
            raise ConfigError(f"frames per emoji must be in 1..4, got {self.frames_per_concept}")
        if not 20 <= self.frame_ms <= 5000:
            raise ConfigError(f"--frame-ms must be in 20..5000, got {self.frame_ms}")
        if not 0.0 <= self.text_fraction <= 1.0:
            raise ConfigError(f"--text-fraction must be in [0, 1], got {self.text_fraction}")
        bad = [f for f in self.formats if f not in FORMATS]
        if not self.formats or bad:
            raise ConfigError(f"--formats must list some of {', '.join(FORMATS)}, got {self.formats}")
        for name, n in self.counts:
            if name not in VIEWS or n < 0:
                raise ConfigError(f"counts: view {name!r} must be one of {', '.join(VIEWS)} with N >= 0")
        if sum(n for _, n in self.counts) == 0:
            raise ConfigError("--counts asks for no animation at all; e.g. train=600,val=150,test=300")
        if not self.languages:
            raise ConfigError("at least one language is needed, e.g. en,zh")
        check_fractions(self.fractions)

    @property
    def train_styles(self) -> tuple[str, ...]:
        return tuple(s for s in dict.fromkeys(self.styles) if s != self.heldout_style)
