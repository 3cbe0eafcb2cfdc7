"""Phrase families: the concepts of the memes benchmark and the texts (en, zh) that mean each of them.

A family is one concept; every text in it means that concept, so any of them may be drawn on an image
and any other may be the query that finds it:

* an **emoji family** per CLDR emoji of :data:`~memesearch.data.memes.config.CATEGORIES` (key = the
  emoji's join key, e.g. ``1F634``): its CLDR short name (role ``name``) and keywords (role ``keyword``)
  in each language, from emojibase-data through :func:`memesearch.data.emoji.catalogue.load_catalogue`.
  Keywords tagging more than ``max_keyword_concepts`` emoji of the full catalogue (``face``, ``脸``) and
  English keywords under 3 letters (``no``, ``me``) are left out: they mean nothing on their own.
  Its emotions are the emoji benchmark's labels (:func:`memesearch.data.emoji.emotions.emotions_for`).
* an **emotion family** per word of the bilingual vocabulary :mod:`memesearch.data.emotions` (key =
  ``emotion:<word>``): the word (role ``word``), its synonyms (role ``synonym``) and its prompts (role
  ``prompt``: "a tired, sleepy face", "困了，想睡觉"), split into en and zh by script.

:data:`RENDER_ROLES` says which roles may be drawn (prompts such as "a tired, sleepy face" read as
descriptions, not meme text, so only Chinese prompts like 气死我了 are drawn); the templates turn a bare
phrase into meme text ("so tired", "好困") or a chat-like query ("sleepy sticker", "来个困的表情").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memesearch.data.emoji.assemble import keyword_frequency
from memesearch.data.emoji.catalogue import Catalogue, EmojiConcept, normalize_text
from memesearch.data.emoji.emotions import emotions_for
from memesearch.data.emotions import EMOTION_VOCABULARY
from memesearch.data.memes.config import CATEGORIES
from memesearch.data.memes.fonts import is_cjk

EMOTION_PREFIX = "emotion:"
MIN_EN_KEYWORD = 3

#: Roles that may be drawn on an image, per family kind and language.
RENDER_ROLES: dict[tuple[str, str], frozenset[str]] = {
    ("emoji", "en"): frozenset({"name", "keyword"}),
    ("emoji", "zh"): frozenset({"name", "keyword"}),
    ("emotion", "en"): frozenset({"word", "synonym"}),
    ("emotion", "zh"): frozenset({"word", "synonym", "prompt"}),
}

#: Meme-text templates per (family kind, language); "{}" is the phrase. The first keeps it bare.
RENDER_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("emoji", "en"): ("{}", "{}!!", "me rn: {}", "{} mood", "today: {}"),
    ("emoji", "zh"): ("{}", "{}！", "今日：{}", "我：{}"),
    ("emotion", "en"): ("{}", "so {}", "feeling {} today", "me: {}", "{}!!"),
    ("emotion", "zh"): ("{}", "好{}", "我{}了", "真的{}"),
}

#: Chat-like query templates per (family kind, language).
QUERY_TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("emoji", "en"): ("{}", "{}", "{} meme", "{} sticker", "{} reaction"),
    ("emoji", "zh"): ("{}", "{}", "{}表情包", "来个{}的表情"),
    ("emotion", "en"): ("{}", "{}", "feeling {}", "{} meme", "a sticker for {}"),
    ("emotion", "zh"): ("{}", "{}", "{}表情包", "来个{}的表情", "我{}"),
}


def fold(text: str) -> str:
    """The form in which texts are compared (NFC, collapsed spaces, case-folded)."""
    return normalize_text(text).casefold()


@dataclass(frozen=True, slots=True)
class Phrase:
    """One text of a family: what it says, its language, and its role (name, keyword, word, ...)."""

    text: str
    lang: str
    role: str


@dataclass(frozen=True, slots=True)
class PhraseFamily:
    """One concept: its key, kind (``emoji`` / ``emotion``), texts, emotions and (emoji) picture."""

    key: str
    kind: str
    label: str
    phrases: tuple[Phrase, ...]
    emotions: tuple[str, ...]
    emoji: EmojiConcept | None = None

    @property
    def stem(self) -> str:
        """The key as used in item ids and file names (``1f634``, ``emotion-tired``)."""
        return self.key.lower().replace(":", "-")

    def texts(self, lang: str) -> list[Phrase]:
        return [p for p in self.phrases if p.lang == lang]

    def drawable(self, lang: str) -> list[Phrase]:
        """The phrases of ``lang`` that may be drawn on an image (:data:`RENDER_ROLES`)."""
        roles = RENDER_ROLES[(self.kind, lang)]
        return [p for p in self.texts(lang) if p.role in roles]


def _unique(phrases: list[Phrase]) -> tuple[Phrase, ...]:
    seen: set[tuple[str, str]] = set()
    out: list[Phrase] = []
    for p in phrases:
        k = (p.lang, fold(p.text))
        if k[1] and k not in seen:
            seen.add(k)
            out.append(p)
    return tuple(out)


def emoji_families(
    catalogue: Catalogue, languages: Sequence[str], max_keyword_concepts: int
) -> list[PhraseFamily]:
    """One family per catalogue emoji in :data:`CATEGORIES`, in CLDR order (generic keywords left out)."""
    df = keyword_frequency(catalogue.concepts, languages)  # over the full catalogue, as the emoji benchmark
    families: list[PhraseFamily] = []
    for c in catalogue.concepts:
        if c.category not in CATEGORIES:
            continue
        phrases: list[Phrase] = []
        for lang in languages:
            if lang in c.labels:
                phrases.append(Phrase(c.labels[lang], lang, "name"))
            for tag in c.tags.get(lang, ()):
                if max_keyword_concepts and df.get((lang, fold(tag)), 0) > max_keyword_concepts:
                    continue
                if lang == "en" and len(tag) < MIN_EN_KEYWORD:
                    continue
                phrases.append(Phrase(tag, lang, "keyword"))
        unique = _unique(phrases)
        if not unique:
            continue
        families.append(
            PhraseFamily(
                key=c.key,
                kind="emoji",
                label=c.labels.get("en") or next(iter(c.labels.values())),
                phrases=unique,
                emotions=tuple(emotions_for(c.key, c.category, c.subcategory)),
                emoji=c,
            )
        )
    return families


def emotion_families(languages: Sequence[str]) -> list[PhraseFamily]:
    """One family per emotion word of the vocabulary, in vocabulary order."""
    families: list[PhraseFamily] = []
    for word in EMOTION_VOCABULARY:
        candidates = [Phrase(word.emotion, "en", "word"), Phrase(word.zh, "zh", "word")]
        candidates += [Phrase(s, "zh" if is_cjk(s) else "en", "synonym") for s in word.synonyms]
        candidates += [Phrase(s, "zh" if is_cjk(s) else "en", "prompt") for s in word.prompts]
        phrases = _unique([p for p in candidates if p.lang in languages])
        families.append(
            PhraseFamily(
                key=EMOTION_PREFIX + word.emotion,
                kind="emotion",
                label=word.emotion,
                phrases=phrases,
                emotions=(word.emotion,),
            )
        )
    return families
