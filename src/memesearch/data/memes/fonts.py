"""The fonts the memes benchmark draws with, found by path, with the Debian package that installs each.

* Latin (en): DejaVu Sans Bold, ``/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf``
  (``fonts-dejavu-core``);
* Chinese (zh): WenQuanYi Micro Hei, ``/usr/share/fonts/truetype/wqy/wqy-microhei.ttc``
  (``fonts-wqy-microhei``); it draws Latin letters too, so a mixed phrase uses it.

``MEMESEARCH_FONT_DIR`` (a folder holding the same file names) overrides the Debian folders, for
machines where the fonts live elsewhere. A missing font is a :class:`FontMissingError` naming the
package to install, raised before any work starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from memesearch.errors import MemesearchError

FONT_DIR_ENV = "MEMESEARCH_FONT_DIR"


class FontMissingError(MemesearchError):
    """A font the build needs is not installed."""


@dataclass(frozen=True, slots=True)
class FontSpec:
    """One font: its file under the Debian fonts folder, the package shipping it, its licence."""

    name: str
    relpath: str
    package: str
    licence: str

    def path(self) -> Path:
        """Where the font is looked for (``$MEMESEARCH_FONT_DIR/<file name>`` when that is set)."""
        override = os.environ.get(FONT_DIR_ENV)
        if override:
            return Path(override).expanduser() / Path(self.relpath).name
        return Path("/usr/share/fonts/truetype") / self.relpath


FONTS: dict[str, FontSpec] = {
    "en": FontSpec(
        name="DejaVu Sans Bold",
        relpath="dejavu/DejaVuSans-Bold.ttf",
        package="fonts-dejavu-core",
        licence="Bitstream Vera / DejaVu licence (free, redistributable)",
    ),
    "zh": FontSpec(
        name="WenQuanYi Micro Hei",
        relpath="wqy/wqy-microhei.ttc",
        package="fonts-wqy-microhei",
        licence="Apache-2.0 or GPL-3.0 with font exception",
    ),
}


def font_path(lang: str) -> Path:
    """The font file for phrases in ``lang``; :class:`FontMissingError` (one line) when it is absent.

    >>> font_path("en").name  # doctest: +SKIP
    'DejaVuSans-Bold.ttf'
    """
    spec = FONTS[lang]
    path = spec.path()
    if not path.is_file():
        raise FontMissingError(
            f"the {lang} font {spec.name} is missing ({path}): install the Debian package {spec.package} "
            f"(`sudo apt-get install {spec.package}`, or `make system`), or set {FONT_DIR_ENV} to a folder "
            f"holding {path.name}"
        )
    return path


def check_fonts(languages: tuple[str, ...] | list[str]) -> dict[str, Path]:
    """``{lang: font path}`` for every language, or the :class:`FontMissingError` of the first missing one."""
    return {lang: font_path(lang) for lang in languages}


def is_cjk(text: str) -> bool:
    """True when ``text`` holds a CJK ideograph or CJK punctuation (drawn with the Chinese font)."""
    return any("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for ch in text)
