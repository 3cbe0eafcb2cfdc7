"""The memes benchmark: meme-like images with drawn en/zh text, text-less stickers and chat-like queries.

Built offline by ``memesearch datasets build memes --out DIR`` or :func:`build_memes_benchmark`, for
measuring search under realistic conditions: items carry no captions (the text is in the pixels only),
OCR has to read it, and queries mean the drawn text without repeating it. What lives where:

* :mod:`~memesearch.data.memes.config` — :class:`MemesBuildConfig`, option checks, output names;
* :mod:`~memesearch.data.memes.fonts` — the fonts by path and the Debian packages that install them;
* :mod:`~memesearch.data.memes.phrases` — phrase families (CLDR emoji, emotion vocabulary) and templates;
* :mod:`~memesearch.data.memes.render` — drawing one image (:class:`RenderJob`) with Pillow;
* :mod:`~memesearch.data.memes.assemble` — splits, items, graded queries, render jobs (in memory);
* :mod:`~memesearch.data.memes.card` — ``card.json`` / ``CARD.md``;
* :mod:`~memesearch.data.memes.build` — the driver writing it all to a folder.

The emoji images, CLDR text, split hashing, npm install and pooled image writer are the emoji
benchmark's (:mod:`memesearch.data.emoji`).
"""

from memesearch.data.memes.assemble import MemesReport, make_dataset
from memesearch.data.memes.build import build_memes_benchmark
from memesearch.data.memes.config import MemesBuildConfig
from memesearch.data.memes.fonts import FontMissingError, check_fonts, font_path
from memesearch.data.memes.phrases import PhraseFamily, emoji_families, emotion_families
from memesearch.data.memes.render import RenderJob, draw_meme, render_meme

__all__ = [
    "FontMissingError",
    "MemesBuildConfig",
    "MemesReport",
    "PhraseFamily",
    "RenderJob",
    "build_memes_benchmark",
    "check_fonts",
    "draw_meme",
    "emoji_families",
    "emotion_families",
    "font_path",
    "make_dataset",
    "render_meme",
]
