"""What a covers benchmark build makes: :class:`CoversBuildConfig`, the fonts, and the fixed output names.

The option checks live here once (each a one-line :class:`~memesearch.errors.ConfigError` naming the
option), for the CLI, the Python API and the tests.

Default size, and why: 600 topics x 6 covers = 3,600 covers at 224 px (long side), about 2,500 of them
in train, 360 in val and 720 in test (topics split 70/10/20). That builds in under 2 minutes on 2 cores
(42-65 s measured) and is sized for a small model to train on in about 30 minutes on 2 cores (the target of
issue 13's small offline UniCLIP preset); ``--topics 0`` takes every usable topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from memesearch.data.emoji.sources import STYLES
from memesearch.data.emoji.splits import DEFAULT_FRACTIONS, check_fractions
from memesearch.data.memes.fonts import FontMissingError, FontSpec
from memesearch.errors import ConfigError

DATASET_NAME = "covers"
IMAGES_DIR = "images"
CBVS_DIR = "cbvs"
#: CBVS files written next to the native manifest: the training file (title, url, ocr) of train and the
#: test file (query, docid, url, label) of val and test.
CBVS_FILES: dict[str, str] = {"train": "train.tsv", "val": "val.txt", "test": "test.txt"}
LANGUAGES: tuple[str, ...] = ("en", "zh")
DEFAULT_STYLES: tuple[str, ...] = ("google", "twitter")
MIN_SIZE, MAX_SIZE = 96, 1024
#: CLDR categories whose emoji are cover topics: things videos are about.
TOPIC_CATEGORIES: tuple[str, ...] = (
    "Animals & Nature",
    "Food & Drink",
    "Activities",
    "Travel & Places",
    "Objects",
)

_DEJAVU = ("fonts-dejavu-core", "Bitstream Vera / DejaVu licence (free, redistributable)")
_WQY = ("fonts-wqy-microhei", "Apache-2.0 or GPL-3.0 with font exception")
#: Fonts of the cover text per language: (spec, TrueType collection index). Latin text uses three DejaVu
#: faces; Chinese uses WenQuanYi Micro Hei and its Mono face (both draw Latin letters too).
FONTS: dict[str, tuple[tuple[FontSpec, int], ...]] = {
    "en": (
        (FontSpec("DejaVu Sans Bold", "dejavu/DejaVuSans-Bold.ttf", *_DEJAVU), 0),
        (FontSpec("DejaVu Serif Bold", "dejavu/DejaVuSerif-Bold.ttf", *_DEJAVU), 0),
        (FontSpec("DejaVu Sans Mono Bold", "dejavu/DejaVuSansMono-Bold.ttf", *_DEJAVU), 0),
    ),
    "zh": (
        (FontSpec("WenQuanYi Micro Hei", "wqy/wqy-microhei.ttc", *_WQY), 0),
        (FontSpec("WenQuanYi Micro Hei Mono", "wqy/wqy-microhei.ttc", *_WQY), 1),
    ),
}


def check_cover_fonts(languages: tuple[str, ...]) -> dict[str, list[tuple[str, str, int]]]:
    """``{lang: [(font name, path, index), ...]}``, or a one-line :class:`FontMissingError` naming the
    Debian package of the first missing font."""
    found: dict[str, list[tuple[str, str, int]]] = {}
    for lang in languages:
        for spec, index in FONTS[lang]:
            path: Path = spec.path()
            if not path.is_file():
                raise FontMissingError(
                    f"the {lang} font {spec.name} is missing ({path}): install the Debian package "
                    f"{spec.package} (`sudo apt-get install {spec.package}`), or set MEMESEARCH_FONT_DIR "
                    f"to a folder holding {path.name}"
                )
            found.setdefault(lang, []).append((spec.name, str(path), index))
    return found


@dataclass(frozen=True, slots=True)
class CoversBuildConfig:
    """What to build.

    ``topics``: how many topics (CLDR emoji of :data:`TOPIC_CATEGORIES`, a seeded sample; 0 = all);
    ``covers_per_topic``: covers per topic, spread over ``genres_per_topic`` genres (so a query of a
    (topic, genre) finds ``covers_per_topic / genres_per_topic`` covers at grade 2); ``size``: the long
    side of a cover in pixels; ``textless_fraction``: the share of covers per split without text.
    """

    seed: int = 0
    topics: int = 600
    covers_per_topic: int = 6
    genres_per_topic: int = 3
    size: int = 224
    languages: tuple[str, ...] = LANGUAGES
    textless_fraction: float = 0.3
    styles: tuple[str, ...] = DEFAULT_STYLES
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        if not self.languages:
            raise ConfigError("--languages needs at least one of en, zh")
        bad = [lang for lang in self.languages if lang not in LANGUAGES]
        if bad:
            raise ConfigError(f"--languages: no fonts or texts for {', '.join(map(repr, bad))}; use en, zh")
        if len(set(self.languages)) != len(self.languages):
            raise ConfigError(f"--languages lists a language twice: {','.join(self.languages)}")
        if self.topics != 0 and self.topics < 3:
            raise ConfigError(f"--topics must be 0 (all) or at least 3 (one per split), got {self.topics}")
        if not 1 <= self.genres_per_topic <= self.covers_per_topic:
            raise ConfigError(
                f"--covers-per-topic ({self.covers_per_topic}) must be at least the genres per topic "
                f"({self.genres_per_topic}), which must be at least 1"
            )
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ConfigError(f"--size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {self.size}")
        if not 0.0 <= self.textless_fraction < 1.0:
            raise ConfigError(
                f"--textless-fraction must be in [0, 1) (a share of the covers), got {self.textless_fraction}"
            )
        if not self.styles:
            raise ConfigError("--styles needs at least one emoji style, e.g. google,twitter")
        for style in self.styles:
            if style not in STYLES:
                raise ConfigError(f"unknown emoji style {style!r}; choose from {', '.join(STYLES)}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"JPEG quality must be in [1, 100], got {self.jpeg_quality}")
        check_fractions(self.fractions)
