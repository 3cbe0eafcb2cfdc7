"""Emotion words for memes: the bilingual vocabulary, filter-value parsing, and a zero-shot tagger.

The vocabulary is the emoji benchmark's 30 emotion words (:data:`memesearch.data.emoji.emotions.EMOTIONS`,
English -> Chinese). This module adds, per word, the *synonyms* accepted in filters
(``--emotion mad`` / ``生气`` / ``Angry`` all mean ``angry``; :func:`normalize_emotion`) and the *prompts*
used for zero-shot tagging (English and Chinese descriptions, written from the meaning of each word
before any measurement; :data:`EMOTION_VOCABULARY`).

Zero-shot tagging (:class:`EmotionTagger`): every prompt is embedded with the text encoder, the prompts
of one emotion are averaged and renormalised into one unit vector per emotion ``(E, D)``. An item's
vector ``(D,)`` — an image embedding of the ``starter`` encoder, which maps images into ``e5-small``'s
text space, or a text embedding (OCR text) — is compared with them by cosine; a softmax over the 30
emotions at temperature ``T`` gives probabilities, and the ``top_k`` emotions whose probability is at
least ``min_score`` become the item's tags (an item may get none: most memes have no face).

Measured on the emoji benchmark (gold = the items' emotion words; emoji outside "Smileys & Emotion"
have none, so a tag on them is a false tag), all numbers written to ``docs/results/emotion_tagger.json``
by::

    python scripts/measure_emotion_tagger.py --dataset data/emoji

Choices (never on test): prompt kind ``passage`` (image top-1 on *train*: passage 0.201, query 0.188 —
also what the starter's QI gate uses for emotion words); temperature 0.05 and text threshold 0.06 (best
text F1 on *val* among settings tagging <= 5 % of the texts without gold emotions); image threshold: none
— no threshold gives a single correct image tag on val, so **image tags are off by default**
(:data:`DEFAULT_MIN_SCORE_IMAGE` = ``None``). With 30 emotions the uniform probability is 0.033, so a
text tag at >= 0.06 is about twice as likely as chance.

=======================================  ======  ======  =========  ======  =====  ===========
input (split, texts/images with gold)     top-1  recall@2  P @thr.   R       F1     false tags
=======================================  ======  ======  =========  ======  =====  ===========
captions en, val (32 of 422)              0.625   0.684   0.350      0.368   0.359  6.2 %
captions zh, val (32 of 422)              0.562   0.632   0.714      0.263   0.385  0.5 %
captions en, test (30 of 383)             0.500   0.647   0.178      0.235   0.203  9.6 %
captions zh, test (30 of 383)             0.400   0.412   0.250      0.088   0.130  1.4 %
starter images, val (32 of 422)           0.031   0.105   (off)
starter images, test (30 of 383)          0.100   0.235   (off)
starter images, test-seen (115 of 1266)   0.113   0.198   (off)
starter images, train (234 of 2592)       0.201   0.241   (off)
=======================================  ======  ======  =========  ======  =====  ===========

(chance top-1 is about 0.04.) Texts work: the text encoder itself places "气死我了" next to "angry".
The ``starter`` image tower does not: its vectors barely align with the emotion prompts (cosines around
0-0.2) and on unseen concepts (val, test) image top-1 is at chance level — the tower was trained with the
emotion words fed in through the QI gate, so it never had to encode them itself. Image tagging is kept
as an opt-in (``image_min_score=...``) for image encoders that do carry the signal (CLIP-style towers);
re-run the script with such an encoder before turning it on.

Example::

    >>> normalize_emotion(" Mad ")
    'angry'
    >>> normalize_emotion("困")
    'tired'
    >>> from memesearch.models import create_encoder                     # doctest: +SKIP
    >>> tagger = EmotionTagger(create_encoder("e5-small"))               # doctest: +SKIP
    >>> tagger.tag_texts(["I am so angry right now", "困死了，想睡觉", None])  # doctest: +SKIP
    [[('angry', 0.0867)], [('tired', 0.0776)], []]
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from memesearch.data.emoji.emotions import EMOTIONS
from memesearch.errors import ConfigError, DataFormatError, UnknownNameError

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.models.encoders.base import Encoder, TextKind

logger = logging.getLogger(__name__)

#: Bump when the prompt table or the tagging rule changes (part of :attr:`EmotionTagger.version`).
TAGGER_VERSION = "1"


@dataclass(frozen=True)
class EmotionWord:
    """One emotion of the vocabulary.

    Attributes:
        emotion: the canonical English word (what the index stores and filters compare).
        zh: the canonical Chinese word.
        synonyms: other words accepted by :func:`normalize_emotion` (English and Chinese).
        prompts: descriptions embedded for zero-shot tagging (English and Chinese).
    """

    emotion: str
    zh: str
    synonyms: tuple[str, ...]
    prompts: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"emotion", "zh", "synonyms"}`` — what the web UI and the HTTP API show."""
        return {"emotion": self.emotion, "zh": self.zh, "synonyms": list(self.synonyms)}


# Synonyms and prompts per emotion (English word: (synonyms, prompts)). Prompts: the bare English and
# Chinese words plus one descriptive phrase in each language, so that both languages weigh the same.
# A synonym must name exactly one emotion (checked by the tests); ambiguous internet slang is left out.
_TABLE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "happy": (
        ("joy", "joyful", "glad", "cheerful", "smile", "smiling", "laugh", "laughing", "lol",
         "高兴", "快乐", "愉快", "笑", "哈哈", "开森"),
        ("happy", "a happy, smiling face", "开心", "开心地笑"),
    ),
    "excited": (
        ("thrilled", "hyped", "excitement", "激动", "嗨", "兴奋死了"),
        ("excited", "an excited, thrilled face", "兴奋", "超级激动"),
    ),
    "love": (
        ("loving", "in love", "adore", "affection", "heart", "hearts", "crush",
         "喜欢", "爱心", "爱你", "喜爱", "心动"),
        ("love", "a loving face full of hearts", "爱", "喜欢你，爱你"),
    ),
    "playful": (
        ("silly", "cheeky", "teasing", "goofy", "tongue out", "顽皮", "淘气", "搞怪", "吐舌头"),
        ("playful", "a playful, silly face sticking out its tongue", "调皮", "调皮搞怪"),
    ),
    "craving": (
        ("hungry", "yummy", "drooling", "delicious", "嘴馋", "流口水", "想吃", "饿", "好吃"),
        ("craving", "a hungry face craving delicious food", "馋", "好馋，流口水"),
    ),
    "shy": (
        ("bashful", "timid", "blushing", "羞涩", "腼腆", "脸红", "不好意思"),
        ("shy", "a shy, bashful face", "害羞", "害羞脸红"),
    ),
    "embarrassed": (
        ("awkward", "embarrassing", "cringe", "sweat", "难堪", "窘", "汗", "囧", "社死"),
        ("embarrassed", "an awkward, embarrassed face", "尴尬", "好尴尬啊"),
    ),
    "surprised": (
        ("surprise", "shocked", "shock", "astonished", "amazed", "wow", "omg", "吃惊", "震惊", "惊呆",
         "惊呆了", "哇"),
        ("surprised", "a shocked, astonished face", "惊讶", "震惊，吃惊"),
    ),
    "fear": (
        ("scared", "afraid", "frightened", "terrified", "fearful", "horror", "恐惧", "吓", "怕", "吓死了",
         "恐怖"),
        ("scared", "a frightened face screaming in fear", "害怕", "吓死我了"),
    ),
    "worried": (
        ("anxious", "nervous", "concerned", "worry", "anxiety", "焦虑", "紧张", "担忧", "着急"),
        ("worried", "an anxious, worried face", "担心", "焦虑不安"),
    ),
    "sad": (
        ("unhappy", "crying", "cry", "upset", "sorrow", "depressed", "heartbroken", "tears", "伤心", "哭",
         "悲伤", "哭了", "心碎", "难过了"),
        ("sad", "a sad, crying face", "难过", "伤心地哭了"),
    ),
    "suffering": (
        ("pain", "anguish", "hurt", "agony", "painful", "痛", "煎熬", "折磨", "难熬"),
        ("suffering", "a face in pain and anguish", "痛苦", "好痛苦"),
    ),
    "angry": (
        ("mad", "furious", "rage", "anger", "pissed",
         "愤怒", "发火", "气", "恼火", "气死了", "生气了", "火大"),
        ("angry", "an angry, furious face", "生气", "气死我了"),
    ),
    "annoyed": (
        ("irritated", "unamused", "eye roll", "annoying", "fed up", "烦", "烦躁", "无语", "白眼", "翻白眼",
         "郁闷"),
        ("annoyed", "an annoyed face rolling its eyes", "不爽", "无语，翻白眼"),
    ),
    "disgust": (
        ("disgusted", "disgusting", "gross", "yuck", "eww", "嫌弃", "反胃", "作呕", "呕"),
        ("disgusted", "a disgusted face, about to throw up", "恶心", "好恶心，想吐"),
    ),
    "sick": (
        ("ill", "unwell", "nauseous", "fever", "生病", "病", "不舒服", "发烧"),
        ("sick", "a sick, unwell face", "难受", "生病了，不舒服"),
    ),
    "dizzy": (
        ("woozy", "dazed", "头晕", "晕乎乎", "晕了", "眩晕"),
        ("dizzy", "a dizzy, dazed face", "晕", "头晕，晕乎乎"),
    ),
    "tired": (
        ("sleepy", "exhausted", "weary", "sleep", "drowsy", "yawn", "zzz", "累", "困了", "疲惫", "想睡",
         "犯困", "好困", "睡觉", "累了"),
        ("tired", "a tired, sleepy face", "困", "困了，想睡觉"),
    ),
    "relieved": (
        ("relief", "phew", "at ease", "放松", "松了口气", "安心", "欣慰"),
        ("relieved", "a relieved, calm face", "释然", "松了一口气"),
    ),
    "neutral": (
        ("expressionless", "meh", "blank", "indifferent", "deadpan", "面无表情", "淡定", "平静", "冷漠"),
        ("neutral", "an expressionless, neutral face", "无感", "面无表情"),
    ),
    "silent": (
        ("quiet", "shush", "shh", "zip it", "mute", "安静", "闭嘴", "不说话", "嘘"),
        ("silent", "a face keeping its mouth shut, staying quiet", "沉默", "闭嘴，不说话"),
    ),
    "thinking": (
        ("thoughtful", "pondering", "wondering", "hmm", "think", "想想", "琢磨", "思索", "想一想"),
        ("thinking", "a thoughtful face, thinking hard", "思考", "让我想想"),
    ),
    "confused": (
        ("puzzled", "baffled", "perplexed", "lost", "huh", "迷惑", "懵", "疑惑", "懵逼", "一脸懵"),
        ("confused", "a confused, puzzled face", "困惑", "一脸懵，看不懂"),
    ),
    "skeptical": (
        ("doubtful", "suspicious", "sceptical", "doubt", "really?", "质疑", "不信", "怀疑脸", "狐疑"),
        ("skeptical", "a doubtful face raising an eyebrow", "怀疑", "真的吗？我不信"),
    ),
    "smug": (
        ("smirk", "smirking", "proud", "self-satisfied", "嘚瑟", "得意洋洋", "骄傲", "自豪"),
        ("smug", "a smug, smirking face", "得意", "得意洋洋"),
    ),
    "cool": (
        ("awesome", "chill", "badass", "帅", "酷酷", "帅气", "耍酷"),
        ("cool", "a cool face wearing sunglasses", "酷", "太酷了"),
    ),
    "mischievous": (
        ("evil", "devilish", "naughty", "sly", "evil grin", "阴险", "坏", "奸笑", "腹黑"),
        ("mischievous", "a mischievous, evil grin", "坏笑", "不怀好意地坏笑"),
    ),
    "grateful": (
        ("thankful", "thanks", "thank you", "touched", "moved", "感谢", "感激", "谢谢", "感恩"),
        ("grateful", "a grateful, touched face with happy tears", "感动", "感动哭了，谢谢"),
    ),
    "pleading": (
        ("begging", "beg", "please", "puppy eyes", "求求", "求求你", "委屈", "可怜巴巴", "拜托"),
        ("pleading", "a pleading face with puppy eyes, begging", "可怜", "可怜巴巴，求求你"),
    ),
    "respect": (
        ("salute", "respectful", "admire", "admiration", "尊敬", "致敬", "佩服", "敬礼", "膜拜"),
        ("respect", "a saluting face showing respect", "敬意", "致敬，佩服"),
    ),
}  # fmt: skip

#: The vocabulary, in the order of :data:`~memesearch.data.emoji.emotions.EMOTIONS`.
EMOTION_VOCABULARY: tuple[EmotionWord, ...] = tuple(
    EmotionWord(emotion=en, zh=zh, synonyms=_TABLE[en][0], prompts=_TABLE[en][1])
    for en, zh in EMOTIONS.items()
)

#: The canonical English emotion words, in vocabulary order.
EMOTION_WORDS: tuple[str, ...] = tuple(w.emotion for w in EMOTION_VOCABULARY)


def _key(word: str) -> str:
    # case- and spacing-insensitive: "Eye-Roll", " eye  roll " and "eye_roll" are the same key
    return re.sub(r"[\s_\-]+", " ", word.strip().casefold()).strip()


@functools.cache
def _lookup() -> dict[str, str]:
    """Normalised word -> canonical English word (the English word, the Chinese word, synonyms)."""
    table: dict[str, str] = {}
    for entry in EMOTION_VOCABULARY:
        for word in (entry.emotion, entry.zh, *entry.synonyms):
            key = _key(word)
            if table.get(key, entry.emotion) != entry.emotion:
                raise RuntimeError(  # a bug in the table, caught by the tests
                    f"emotion synonym {word!r} names both {table[key]!r} and {entry.emotion!r}"
                )
            table[key] = entry.emotion
    return table


def normalize_emotion(word: str) -> str:
    """The canonical English emotion word for ``word`` (English, Chinese or a synonym, any case/spacing).

    Raises :class:`~memesearch.errors.UnknownNameError` listing the valid words when ``word`` is unknown.

    >>> normalize_emotion("Angry"), normalize_emotion("生气"), normalize_emotion("mad")
    ('angry', 'angry', 'angry')
    """
    if not isinstance(word, str):
        raise UnknownNameError(f"an emotion must be a word (str), got {type(word).__name__}; {_valid_text()}")
    key = _key(word)
    if not key:
        raise UnknownNameError(f"empty emotion word {word!r}; {_valid_text()}")
    found = _lookup().get(key)
    if found is not None:
        return found
    close = difflib.get_close_matches(key, list(_lookup()), n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]!r}, i.e. {_lookup()[close[0]]!r}?)" if close else ""
    raise UnknownNameError(f"unknown emotion {word!r}{hint}; {_valid_text()}")


def normalize_emotions(words: str | Sequence[str] | None) -> list[str]:
    """Canonical words for a filter value: ``None`` -> ``[]``; ``"mad, 困"`` -> ``["angry", "tired"]``.

    A string may hold several words separated by commas (``,`` or ``，``); duplicates are dropped, the
    first occurrence's order is kept.
    """
    if words is None:
        return []
    parts = re.split(r"[,，]", words) if isinstance(words, str) else list(words)
    out: list[str] = []
    for part in parts:
        if isinstance(part, str) and not part.strip():
            continue
        emotion = normalize_emotion(part)
        if emotion not in out:
            out.append(emotion)
    return out


def _valid_text() -> str:
    words = ", ".join(f"{w.emotion} ({w.zh})" for w in EMOTION_VOCABULARY)
    return f"valid emotions: {words}; synonyms such as 'mad' or '愤怒' are accepted too"


def emotion_vocabulary() -> list[dict[str, Any]]:
    """The vocabulary as JSON-ready dicts ``{"emotion", "zh", "synonyms"}`` (for the web UI and API)."""
    return [w.to_dict() for w in EMOTION_VOCABULARY]


def chinese_word(emotion: str) -> str:
    """The canonical Chinese word of an emotion (any accepted spelling): ``"mad"`` -> ``"生气"``."""
    return EMOTIONS[normalize_emotion(emotion)]


# ------------------------------------------------------------------------------------------------
# zero-shot tagging

#: Softmax temperature over cosine similarities (chosen on val; see the module docstring).
DEFAULT_TEMPERATURE = 0.05
#: Minimum probability of a tag from a text embedding (chosen on val; see the module docstring).
DEFAULT_MIN_SCORE_TEXT = 0.06
#: Minimum probability of a tag from an image embedding; ``None`` = no image tags. Off by default: with the
#: ``starter`` image tower no threshold gave a single correct tag on val (see the module docstring).
DEFAULT_MIN_SCORE_IMAGE: float | None = None
#: e5 prefix the prompts are embedded with (chosen on train; see the module docstring).
DEFAULT_PROMPT_KIND: TextKind = "passage"
#: e5 prefix of texts given to :meth:`EmotionTagger.tag_texts` (OCR text is item-side text, a passage).
DEFAULT_TEXT_KIND: TextKind = "passage"

Source = Literal["image", "text"]


def prompt_table_hash() -> str:
    """SHA-256 (first 16 hex digits) of the vocabulary and prompts — changes when any prompt changes."""
    data = [[w.emotion, list(w.prompts)] for w in EMOTION_VOCABULARY]
    return hashlib.sha256(json.dumps(data, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


class EmotionTagger:
    """Zero-shot emotion tags for image or text embeddings in a text encoder's space.

    Args:
        text_encoder: embeds the prompts (and the texts of :meth:`tag_texts`); for image tags it must be
            the space the image vectors live in — the ``starter`` encoder (its texts go to ``e5-small``)
            or ``e5-small`` itself for ``starter`` image vectors.
        top_k: at most this many tags per item.
        min_score: minimum softmax probability of a tag, for images and texts alike (overrides the two
            below); ``None``: use ``image_min_score`` and ``text_min_score``.
        image_min_score: threshold for image embeddings; ``None`` turns image tags off. Default
            :data:`DEFAULT_MIN_SCORE_IMAGE` (off: measured useless with the ``starter`` tower).
        text_min_score: threshold for text embeddings (:meth:`tag_texts`); ``None`` turns text tags off.
            Default :data:`DEFAULT_MIN_SCORE_TEXT`.
        margin: when set, a tag after the first is kept only if its probability is at least the first
            tag's probability minus ``margin`` (``None``: no such rule).
        temperature: softmax temperature over the cosine similarities (smaller = peakier).
        prompt_kind: the text kind (e5 prefix) the prompts are embedded with.
        text_kind: the text kind of the texts given to :meth:`tag_texts`.

    The prompt vectors are computed once here (120 short texts; ~3 s with ``e5-small`` on 2 cores).
    Tagging itself is one ``(N, D) @ (D, E)`` product, so one tagger serves any number of items.

    Example::

        >>> starter = create_encoder("starter")                                    # doctest: +SKIP
        >>> tagger = EmotionTagger(starter)                                         # doctest: +SKIP
        >>> tagger.tag_texts(["气死我了", None])                                     # doctest: +SKIP
        [[('angry', 0.0622)], []]
        >>> tagger.tag_embeddings(starter.encode_image(["sleepy.png"]))  # off by default  # doctest: +SKIP
        [[]]
    """

    def __init__(
        self,
        text_encoder: Encoder,
        *,
        top_k: int = 2,
        min_score: float | None = None,
        margin: float | None = None,
        image_min_score: float | None = DEFAULT_MIN_SCORE_IMAGE,
        text_min_score: float | None = DEFAULT_MIN_SCORE_TEXT,
        temperature: float = DEFAULT_TEMPERATURE,
        prompt_kind: TextKind = DEFAULT_PROMPT_KIND,
        text_kind: TextKind = DEFAULT_TEXT_KIND,
    ) -> None:
        for name, kind in (("prompt_kind", prompt_kind), ("text_kind", text_kind)):
            if kind not in ("query", "passage"):
                raise ConfigError(f"{name} must be 'query' or 'passage', got {kind!r}")
        if not text_encoder.supports_text:
            raise ConfigError(f"encoder {text_encoder.name!r} cannot embed texts; pass a text encoder")
        self.text_encoder = text_encoder
        self.prompt_kind: TextKind = prompt_kind
        self.emotions: tuple[str, ...] = EMOTION_WORDS
        self._configure(
            top_k=top_k,
            min_score=min_score,
            margin=margin,
            image_min_score=image_min_score,
            text_min_score=text_min_score,
            temperature=temperature,
            text_kind=text_kind,
        )
        self.emotion_vectors = self._embed_prompts()  # (E, D) unit rows, one per emotion

    def _configure(
        self,
        *,
        top_k: int,
        min_score: float | None,
        margin: float | None,
        image_min_score: float | None,
        text_min_score: float | None,
        temperature: float,
        text_kind: TextKind,
    ) -> None:
        """Check and set the selection parameters (everything but the prompt vectors)."""
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= len(EMOTION_VOCABULARY):
            raise ConfigError(f"top_k must be an integer in 1..{len(EMOTION_VOCABULARY)}, got {top_k!r}")
        for name, value in (("min_score", min_score), ("image_min_score", image_min_score),
                            ("text_min_score", text_min_score), ("margin", margin)):  # fmt: skip
            if value is not None and not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"{name} must be a number in [0, 1] or None, got {value!r}")
        if not float(temperature) > 0:
            raise ConfigError(f"temperature must be positive, got {temperature!r}")
        if text_kind not in ("query", "passage"):
            raise ConfigError(f"text_kind must be 'query' or 'passage', got {text_kind!r}")
        if min_score is not None:
            image_min_score = text_min_score = min_score
        self.top_k = top_k
        # per source: the minimum probability of a tag, or None = that source is not tagged
        self.min_scores: dict[Source, float | None] = {
            "image": None if image_min_score is None else float(image_min_score),
            "text": None if text_min_score is None else float(text_min_score),
        }
        self.margin = None if margin is None else float(margin)
        self.temperature = float(temperature)
        self.text_kind: TextKind = text_kind

    def with_options(self, **changes: Any) -> EmotionTagger:
        """A copy with other selection parameters, sharing the prompt vectors (nothing is re-embedded).

        Accepts ``top_k``, ``min_score``, ``margin``, ``image_min_score``, ``text_min_score``,
        ``temperature`` and ``text_kind``; unchanged ones are kept (``min_score`` sets both thresholds).

        >>> strict = tagger.with_options(text_min_score=0.1, top_k=1)   # doctest: +SKIP
        """
        options: dict[str, Any] = {
            "top_k": self.top_k,
            "min_score": None,
            "margin": self.margin,
            "image_min_score": self.min_scores["image"],
            "text_min_score": self.min_scores["text"],
            "temperature": self.temperature,
            "text_kind": self.text_kind,
        }
        unknown = sorted(set(changes) - set(options))
        if unknown:
            raise ConfigError(
                f"with_options cannot change {unknown} (the prompt vectors depend on them: build a new "
                f"EmotionTagger); it accepts {sorted(options)}"
            )
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._configure(**(options | changes))
        return copy

    def _embed_prompts(self) -> np.ndarray:
        prompts = [p for w in EMOTION_VOCABULARY for p in w.prompts]
        owner = np.array([i for i, w in enumerate(EMOTION_VOCABULARY) for _ in w.prompts])
        logger.info("embedding %d emotion prompts with %s", len(prompts), self.text_encoder.name)
        vectors = self.text_encoder.encode_text(prompts, kind=self.prompt_kind, progress=False)  # (P, D)
        table = np.zeros((len(EMOTION_VOCABULARY), vectors.shape[1]), dtype=np.float64)
        np.add.at(table, owner, vectors)  # sum of each emotion's prompts -> (E, D)
        table /= np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-12)
        return table.astype(np.float32)

    @property
    def version(self) -> str:
        """Identifies what the tags depend on (encoder, prompts, parameters): a cache key."""

        def show(value: float | None) -> str:
            return "off" if value is None else f"{value:g}"

        params = (
            f"k={self.top_k};min_image={show(self.min_scores['image'])};min_text={show(self.min_scores['text'])};"
            f"margin={show(self.margin)};T={self.temperature:g};prompt={self.prompt_kind};text={self.text_kind}"
        )
        return (
            f"emotion-tagger-{TAGGER_VERSION};{self.text_encoder.name};prompts={prompt_table_hash()};{params}"
        )

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Softmax-over-emotions probabilities ``(N, E)`` of ``(N, D)`` vectors (normalised here).

        Columns follow :attr:`emotions`. All-zero vectors get the uniform distribution.
        """
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim == 1:
            matrix = matrix[None, :]
        if matrix.ndim != 2 or matrix.shape[1] != self.emotion_vectors.shape[1]:
            raise DataFormatError(
                f"expected embeddings of shape (N, {self.emotion_vectors.shape[1]}), got {matrix.shape}",
                hint=f"embed the items with an encoder in the space of {self.text_encoder.name!r}",
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        cosine = (matrix / np.maximum(norms, 1e-12)) @ self.emotion_vectors.T  # (N, E)
        logits = cosine.astype(np.float64) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)  # stable softmax
        weights = np.exp(logits)
        return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)

    def tag_embeddings(
        self, vectors: np.ndarray, *, source: Source = "image"
    ) -> list[list[tuple[str, float]]]:
        """Tags of ``(N, D)`` embeddings: per item up to ``top_k`` ``(emotion, probability)``, best first.

        Only emotions with probability >= the ``source``'s threshold (and within ``margin`` of the best)
        are kept, so an item may get ``[]``. ``source`` says whether the vectors are image (default) or
        text embeddings (the thresholds were measured separately); a source whose threshold is ``None``
        gets ``[]`` for every item — by default images (:data:`DEFAULT_MIN_SCORE_IMAGE`).
        """
        if source not in self.min_scores:
            raise ConfigError(f"source must be 'image' or 'text', got {source!r}")
        probs = self.probabilities(vectors) if len(vectors) else np.zeros((0, len(self.emotions)))
        min_score = self.min_scores[source]
        if min_score is None:
            return [[] for _ in range(len(probs))]
        return [self._select(row, min_score) for row in probs]

    @property
    def tags_images(self) -> bool:
        """Whether :meth:`tag_embeddings` gives image tags (False when the image threshold is ``None``)."""
        return self.min_scores["image"] is not None

    def tag_texts(self, texts: Sequence[str | None]) -> list[list[tuple[str, float]]]:
        """Tags of texts (e.g. OCR text), embedded as ``text_kind``; ``None`` or blank texts get ``[]``."""
        if isinstance(texts, str):
            raise DataFormatError("texts must be a list of strings, got a single str", hint="wrap it: [text]")
        items = list(texts)
        for index, text in enumerate(items):
            if text is not None and not isinstance(text, str):
                raise DataFormatError(f"texts[{index}] is a {type(text).__name__}, expected a str or None")
        present = [i for i, t in enumerate(items) if t is not None and t.strip()]
        out: list[list[tuple[str, float]]] = [[] for _ in items]
        if not present or self.min_scores["text"] is None:
            return out
        vectors = self.text_encoder.encode_text(
            [str(items[i]).strip() for i in present], kind=self.text_kind, progress=False
        )
        for i, tags in zip(present, self.tag_embeddings(vectors, source="text"), strict=True):
            out[i] = tags
        return out

    def _select(self, probs: np.ndarray, min_score: float) -> list[tuple[str, float]]:
        order = np.argsort(-probs, kind="stable")[: self.top_k]
        best = float(probs[order[0]])
        tags: list[tuple[str, float]] = []
        for j in order:
            p = float(probs[j])
            if p < min_score or (tags and self.margin is not None and p < best - self.margin):
                break
            tags.append((self.emotions[j], p))
        return tags

    def __repr__(self) -> str:
        return f"EmotionTagger({self.version})"
