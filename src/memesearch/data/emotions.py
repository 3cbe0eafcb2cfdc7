"""The bilingual emotion vocabulary: 30 emotion words in English and Chinese, their synonyms and prompts.

This module is the one home of the emotion words. Every part of memesearch that names an emotion takes it
from here: the emoji benchmark's labels (:mod:`memesearch.data.emoji.emotions` maps CLDR subcategories to
these words), the zero-shot tagger (:class:`memesearch.enrich.emotion.EmotionTagger` embeds the prompts),
the index and search filters (:func:`normalize_emotion`), and what the CLI, the HTTP API and the web page
show (:data:`EMOTIONS`, :func:`emotion_vocabulary`).

Per word (:class:`EmotionWord`, :data:`EMOTION_VOCABULARY`):

* the canonical English word (what the index stores and filters compare) and the canonical Chinese word
  (:data:`EMOTIONS`, English -> Chinese);
* the *synonyms* accepted in filters (``--emotion mad`` / ``生气`` / ``Angry`` all mean ``angry``;
  :func:`normalize_emotion`, :func:`normalize_emotions`);
* the *prompts* used for zero-shot tagging (English and Chinese descriptions, written from the meaning of
  each word before any measurement).

Example::

    >>> normalize_emotion(" Mad ")
    'angry'
    >>> normalize_emotion("困")
    'tired'
    >>> normalize_emotions("mad, 困")
    ['angry', 'tired']
    >>> chinese_word("mad")
    '生气'
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memesearch.errors import UnknownNameError


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


# Per emotion, in vocabulary order: English word: (Chinese word, synonyms, prompts). Prompts: the bare
# English and Chinese words plus one descriptive phrase in each language, so that both languages weigh the
# same. A synonym must name exactly one emotion (checked by the tests); ambiguous internet slang is left out.
_TABLE: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "happy": (
        "开心",
        ("joy", "joyful", "glad", "cheerful", "smile", "smiling", "laugh", "laughing", "lol",
         "高兴", "快乐", "愉快", "笑", "哈哈", "开森"),
        ("happy", "a happy, smiling face", "开心", "开心地笑"),
    ),
    "excited": (
        "兴奋",
        ("thrilled", "hyped", "excitement", "激动", "嗨", "兴奋死了"),
        ("excited", "an excited, thrilled face", "兴奋", "超级激动"),
    ),
    "love": (
        "爱",
        ("loving", "in love", "adore", "affection", "heart", "hearts", "crush",
         "喜欢", "爱心", "爱你", "喜爱", "心动"),
        ("love", "a loving face full of hearts", "爱", "喜欢你，爱你"),
    ),
    "playful": (
        "调皮",
        ("silly", "cheeky", "teasing", "goofy", "tongue out", "顽皮", "淘气", "搞怪", "吐舌头"),
        ("playful", "a playful, silly face sticking out its tongue", "调皮", "调皮搞怪"),
    ),
    "craving": (
        "馋",
        ("hungry", "yummy", "drooling", "delicious", "嘴馋", "流口水", "想吃", "饿", "好吃"),
        ("craving", "a hungry face craving delicious food", "馋", "好馋，流口水"),
    ),
    "shy": (
        "害羞",
        ("bashful", "timid", "blushing", "羞涩", "腼腆", "脸红", "不好意思"),
        ("shy", "a shy, bashful face", "害羞", "害羞脸红"),
    ),
    "embarrassed": (
        "尴尬",
        ("awkward", "embarrassing", "cringe", "sweat", "难堪", "窘", "汗", "囧", "社死"),
        ("embarrassed", "an awkward, embarrassed face", "尴尬", "好尴尬啊"),
    ),
    "surprised": (
        "惊讶",
        ("surprise", "shocked", "shock", "astonished", "amazed", "wow", "omg", "吃惊", "震惊", "惊呆",
         "惊呆了", "哇"),
        ("surprised", "a shocked, astonished face", "惊讶", "震惊，吃惊"),
    ),
    "fear": (
        "害怕",
        ("scared", "afraid", "frightened", "terrified", "fearful", "horror", "恐惧", "吓", "怕", "吓死了",
         "恐怖"),
        ("scared", "a frightened face screaming in fear", "害怕", "吓死我了"),
    ),
    "worried": (
        "担心",
        ("anxious", "nervous", "concerned", "worry", "anxiety", "焦虑", "紧张", "担忧", "着急"),
        ("worried", "an anxious, worried face", "担心", "焦虑不安"),
    ),
    "sad": (
        "难过",
        ("unhappy", "crying", "cry", "upset", "sorrow", "depressed", "heartbroken", "tears", "伤心", "哭",
         "悲伤", "哭了", "心碎", "难过了"),
        ("sad", "a sad, crying face", "难过", "伤心地哭了"),
    ),
    "suffering": (
        "痛苦",
        ("pain", "anguish", "hurt", "agony", "painful", "痛", "煎熬", "折磨", "难熬"),
        ("suffering", "a face in pain and anguish", "痛苦", "好痛苦"),
    ),
    "angry": (
        "生气",
        ("mad", "furious", "rage", "anger", "pissed",
         "愤怒", "发火", "气", "恼火", "气死了", "生气了", "火大"),
        ("angry", "an angry, furious face", "生气", "气死我了"),
    ),
    "annoyed": (
        "不爽",
        ("irritated", "unamused", "eye roll", "annoying", "fed up", "烦", "烦躁", "无语", "白眼", "翻白眼",
         "郁闷"),
        ("annoyed", "an annoyed face rolling its eyes", "不爽", "无语，翻白眼"),
    ),
    "disgust": (
        "恶心",
        ("disgusted", "disgusting", "gross", "yuck", "eww", "嫌弃", "反胃", "作呕", "呕"),
        ("disgusted", "a disgusted face, about to throw up", "恶心", "好恶心，想吐"),
    ),
    "sick": (
        "难受",
        ("ill", "unwell", "nauseous", "fever", "生病", "病", "不舒服", "发烧"),
        ("sick", "a sick, unwell face", "难受", "生病了，不舒服"),
    ),
    "dizzy": (
        "晕",
        ("woozy", "dazed", "头晕", "晕乎乎", "晕了", "眩晕"),
        ("dizzy", "a dizzy, dazed face", "晕", "头晕，晕乎乎"),
    ),
    "tired": (
        "困",
        ("sleepy", "exhausted", "weary", "sleep", "drowsy", "yawn", "zzz", "累", "困了", "疲惫", "想睡",
         "犯困", "好困", "睡觉", "累了"),
        ("tired", "a tired, sleepy face", "困", "困了，想睡觉"),
    ),
    "relieved": (
        "释然",
        ("relief", "phew", "at ease", "放松", "松了口气", "安心", "欣慰"),
        ("relieved", "a relieved, calm face", "释然", "松了一口气"),
    ),
    "neutral": (
        "无感",
        ("expressionless", "meh", "blank", "indifferent", "deadpan", "面无表情", "淡定", "平静", "冷漠"),
        ("neutral", "an expressionless, neutral face", "无感", "面无表情"),
    ),
    "silent": (
        "沉默",
        ("quiet", "shush", "shh", "zip it", "mute", "安静", "闭嘴", "不说话", "嘘"),
        ("silent", "a face keeping its mouth shut, staying quiet", "沉默", "闭嘴，不说话"),
    ),
    "thinking": (
        "思考",
        ("thoughtful", "pondering", "wondering", "hmm", "think", "想想", "琢磨", "思索", "想一想"),
        ("thinking", "a thoughtful face, thinking hard", "思考", "让我想想"),
    ),
    "confused": (
        "困惑",
        ("puzzled", "baffled", "perplexed", "lost", "huh", "迷惑", "懵", "疑惑", "懵逼", "一脸懵"),
        ("confused", "a confused, puzzled face", "困惑", "一脸懵，看不懂"),
    ),
    "skeptical": (
        "怀疑",
        ("doubtful", "suspicious", "sceptical", "doubt", "really?", "质疑", "不信", "怀疑脸", "狐疑"),
        ("skeptical", "a doubtful face raising an eyebrow", "怀疑", "真的吗？我不信"),
    ),
    "smug": (
        "得意",
        ("smirk", "smirking", "proud", "self-satisfied", "嘚瑟", "得意洋洋", "骄傲", "自豪"),
        ("smug", "a smug, smirking face", "得意", "得意洋洋"),
    ),
    "cool": (
        "酷",
        ("awesome", "chill", "badass", "帅", "酷酷", "帅气", "耍酷"),
        ("cool", "a cool face wearing sunglasses", "酷", "太酷了"),
    ),
    "mischievous": (
        "坏笑",
        ("evil", "devilish", "naughty", "sly", "evil grin", "阴险", "坏", "奸笑", "腹黑"),
        ("mischievous", "a mischievous, evil grin", "坏笑", "不怀好意地坏笑"),
    ),
    "grateful": (
        "感动",
        ("thankful", "thanks", "thank you", "touched", "moved", "感谢", "感激", "谢谢", "感恩"),
        ("grateful", "a grateful, touched face with happy tears", "感动", "感动哭了，谢谢"),
    ),
    "pleading": (
        "可怜",
        ("begging", "beg", "please", "puppy eyes", "求求", "求求你", "委屈", "可怜巴巴", "拜托"),
        ("pleading", "a pleading face with puppy eyes, begging", "可怜", "可怜巴巴，求求你"),
    ),
    "respect": (
        "敬意",
        ("salute", "respectful", "admire", "admiration", "尊敬", "致敬", "佩服", "敬礼", "膜拜"),
        ("respect", "a saluting face showing respect", "敬意", "致敬，佩服"),
    ),
}  # fmt: skip

#: The vocabulary, in the order of the emoji benchmark's labels.
EMOTION_VOCABULARY: tuple[EmotionWord, ...] = tuple(
    EmotionWord(emotion=en, zh=zh, synonyms=synonyms, prompts=prompts)
    for en, (zh, synonyms, prompts) in _TABLE.items()
)

#: The canonical English emotion words, in vocabulary order.
EMOTION_WORDS: tuple[str, ...] = tuple(w.emotion for w in EMOTION_VOCABULARY)

#: The canonical words as a mapping, English word -> Chinese word, in vocabulary order.
EMOTIONS: dict[str, str] = {w.emotion: w.zh for w in EMOTION_VOCABULARY}


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
