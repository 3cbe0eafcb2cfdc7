"""The emoji benchmark (SPEC §4.4): emoji drawn in several styles, with CLDR names and keywords in en and zh.

Built offline from npm packages (emoji-datasource-<style>, emojibase-data; fluentui-emoji and openmoji for
the SVG train styles) by ``memesearch datasets build emoji --out DIR`` or :func:`build_emoji_benchmark`. See
:mod:`memesearch.data.emoji.build` for the views, queries and images, and the written ``CARD.md``
for counts and licences.
"""

from memesearch.data.emoji.assemble import make_dataset
from memesearch.data.emoji.build import BuildResult, build_emoji_benchmark
from memesearch.data.emoji.catalogue import EmojiConcept, join_key, load_catalogue
from memesearch.data.emoji.config import EmojiBuildConfig
from memesearch.data.emoji.emotions import SUBCATEGORY_EMOTIONS, emotions_for
from memesearch.data.emoji.sources import ALL_STYLES, STYLES, SVG_STYLES, default_npm_cache, ensure_packages
from memesearch.data.emoji.splits import assign_split
from memesearch.data.emotions import EMOTIONS  # the benchmark's labels are the one vocabulary

__all__ = [
    "ALL_STYLES",
    "EMOTIONS",
    "STYLES",
    "SUBCATEGORY_EMOTIONS",
    "SVG_STYLES",
    "BuildResult",
    "EmojiBuildConfig",
    "EmojiConcept",
    "assign_split",
    "build_emoji_benchmark",
    "default_npm_cache",
    "emotions_for",
    "ensure_packages",
    "join_key",
    "load_catalogue",
    "make_dataset",
]
