"""Bilingual emotion labels of the emoji benchmark, from the CLDR "Smileys & Emotion" subcategories.

Every emoji of the "Smileys & Emotion" category gets one or more emotion words from the fixed bilingual
vocabulary of :mod:`memesearch.data.emotions` (:data:`~memesearch.data.emotions.EMOTIONS`, English ->
Chinese; every one of its 30 words is used here). The words come from two hand-written tables:

* :data:`SUBCATEGORY_EMOTIONS` — a default per CLDR subcategory (``face-sleepy`` -> tired/困,
  ``face-negative`` -> angry/生气, ...). It has an entry for every subcategory of the category
  (Emoji 16.0); the ``emotion`` subcategory (speech balloons, hole, collision, ...) defaults to no
  emotion, because most of its symbols carry none.
* :data:`EMOJI_EMOTIONS` — finer words for single emoji, keyed by the join key (code points without
  FE0F), chosen where the CLDR name and keywords clearly say so (``1F622`` crying face -> sad/难过 inside
  ``face-concerned``; ``1F494`` broken heart -> sad inside ``heart``). An override replaces the default.

Emoji of other categories get no emotion. The tables are data, not inference: they are reviewed by hand
and versioned with the code (:data:`EMOTION_MAPPING_VERSION`), and the dataset card records the version.

Example::

    >>> emotions_for("1F634", "Smileys & Emotion", "face-sleepy")
    ['tired']
    >>> to_chinese(emotions_for("1F620", "Smileys & Emotion", "face-negative"))
    ['生气']
"""

from __future__ import annotations

from memesearch.data.emotions import EMOTIONS

EMOTION_MAPPING_VERSION = "1"

EMOTION_CATEGORY = "Smileys & Emotion"

#: Default emotions of each CLDR subcategory of "Smileys & Emotion".
SUBCATEGORY_EMOTIONS: dict[str, tuple[str, ...]] = {
    "face-smiling": ("happy",),
    "face-affection": ("love",),
    "face-tongue": ("playful",),
    "face-hand": ("playful",),
    "face-neutral-skeptical": ("neutral",),
    "face-sleepy": ("tired",),
    "face-unwell": ("sick",),
    "face-hat": ("happy",),
    "face-glasses": ("cool",),
    "face-concerned": ("worried",),
    "face-negative": ("angry",),
    "face-costume": ("playful",),
    "cat-face": ("happy",),
    "monkey-face": ("shy",),
    "heart": ("love",),
    "emotion": (),
}

#: Per-emoji overrides (join key -> emotions), from the CLDR names and keywords (comments give the name).
EMOJI_EMOTIONS: dict[str, tuple[str, ...]] = {
    # face-smiling
    "1F605": ("happy", "embarrassed"),  # grinning face with sweat (苦笑)
    "1F643": ("playful",),  # upside-down face
    "1FAE0": ("embarrassed",),  # melting face
    "1F609": ("playful",),  # winking face
    "1F60A": ("happy", "shy"),  # smiling face with smiling eyes (羞涩微笑)
    # face-affection
    "1F929": ("excited",),  # star-struck
    "263A": ("happy",),  # smiling face
    "1F972": ("grateful", "happy"),  # smiling face with tear
    # face-tongue
    "1F60B": ("craving",),  # face savoring food
    "1F911": ("excited",),  # money-mouth face
    # face-hand
    "1F917": ("happy", "love"),  # smiling face with open hands (hug)
    "1FAE2": ("surprised",),  # face with open eyes and hand over mouth
    "1FAE3": ("shy",),  # face with peeking eye
    "1F92B": ("silent",),  # shushing face
    "1F914": ("thinking",),  # thinking face
    "1FAE1": ("respect",),  # saluting face
    # face-neutral-skeptical
    "1F910": ("silent",),  # zipper-mouth face
    "1F928": ("skeptical",),  # face with raised eyebrow
    "1F636": ("silent",),  # face without mouth
    "1FAE5": ("shy", "sad"),  # dotted line face (introvert, depressed)
    "1F636-200D-1F32B": ("confused",),  # face in clouds
    "1F60F": ("smug",),  # smirking face
    "1F612": ("annoyed",),  # unamused face
    "1F644": ("annoyed",),  # face with rolling eyes
    "1F62C": ("embarrassed",),  # grimacing face
    "1F62E-200D-1F4A8": ("tired",),  # face exhaling (sigh)
    "1F925": ("embarrassed",),  # lying face
    "1FAE8": ("surprised", "fear"),  # shaking face
    # face-sleepy
    "1F60C": ("relieved",),  # relieved face
    "1F614": ("sad",),  # pensive face
    "1F924": ("craving",),  # drooling face
    # face-unwell
    "1F922": ("disgust", "sick"),  # nauseated face
    "1F92E": ("disgust", "sick"),  # face vomiting
    "1F974": ("dizzy",),  # woozy face
    "1F635": ("dizzy",),  # face with crossed-out eyes
    "1F635-200D-1F4AB": ("dizzy", "confused"),  # face with spiral eyes
    "1F92F": ("surprised",),  # exploding head (mind blown)
    # face-hat
    "1F973": ("excited", "happy"),  # partying face
    "1F978": ("playful",),  # disguised face
    # face-glasses
    "1F913": ("playful",),  # nerd face
    "1F9D0": ("thinking", "skeptical"),  # face with monocle
    # face-concerned
    "1F615": ("confused",),  # confused face
    "1FAE4": ("confused", "skeptical"),  # face with diagonal mouth
    "1F641": ("sad",),  # slightly frowning face
    "2639": ("sad",),  # frowning face
    "1F62E": ("surprised",),  # face with open mouth
    "1F62F": ("surprised",),  # hushed face
    "1F632": ("surprised",),  # astonished face
    "1F633": ("embarrassed", "shy"),  # flushed face
    "1F97A": ("pleading",),  # pleading face
    "1F979": ("grateful", "sad"),  # face holding back tears
    "1F626": ("surprised", "fear"),  # frowning face with open mouth
    "1F627": ("suffering", "fear"),  # anguished face
    "1F628": ("fear",),  # fearful face
    "1F630": ("worried", "fear"),  # anxious face with sweat
    "1F625": ("sad", "relieved"),  # sad but relieved face
    "1F622": ("sad",),  # crying face
    "1F62D": ("sad",),  # loudly crying face
    "1F631": ("fear",),  # face screaming in fear
    "1F616": ("confused", "annoyed"),  # confounded face
    "1F623": ("suffering",),  # persevering face
    "1F61E": ("sad",),  # disappointed face
    "1F613": ("embarrassed", "worried"),  # downcast face with sweat (汗)
    "1F629": ("tired", "sad"),  # weary face
    "1F62B": ("tired",),  # tired face
    "1F971": ("tired",),  # yawning face
    # face-negative
    "1F624": ("angry",),  # face with steam from nose
    "1F608": ("mischievous",),  # smiling face with horns
    "1F480": ("fear",),  # skull
    "2620": ("fear",),  # skull and crossbones
    # face-costume
    "1F479": ("angry",),  # ogre
    "1F47A": ("angry",),  # goblin
    # cat-face
    "1F63B": ("love",),  # smiling cat with heart-eyes
    "1F63C": ("smug",),  # cat with wry smile
    "1F63D": ("love",),  # kissing cat
    "1F640": ("surprised", "fear"),  # weary cat
    "1F63F": ("sad",),  # crying cat
    "1F63E": ("angry",),  # pouting cat
    # monkey-face
    "1F648": ("shy", "embarrassed"),  # see-no-evil monkey
    "1F64A": ("silent",),  # speak-no-evil monkey
    # heart
    "1F494": ("sad",),  # broken heart
    # emotion (default: none)
    "1F48B": ("love",),  # kiss mark
    "1F4AF": ("excited",),  # hundred points
    "1F4A2": ("angry",),  # anger symbol
    "1F5EF": ("angry",),  # right anger bubble
    "1F4A5": ("surprised",),  # collision
    "1F4AB": ("dizzy",),  # dizzy
    "1F4A6": ("embarrassed",),  # sweat droplets (汗)
    "1F4AD": ("thinking",),  # thought balloon
    "1F4A4": ("tired",),  # ZZZ
}


def emotions_for(key: str, category: str, subcategory: str) -> list[str]:
    """English emotion words of one emoji (``[]`` outside "Smileys & Emotion").

    ``key`` is the join key (upper-case hex code points joined by ``-``, FE0F removed). An unknown
    subcategory of "Smileys & Emotion" (a future Emoji version) gets no emotion; the build reports it.
    """
    if category != EMOTION_CATEGORY:
        return []
    if key in EMOJI_EMOTIONS:
        return list(EMOJI_EMOTIONS[key])
    return list(SUBCATEGORY_EMOTIONS.get(subcategory, ()))


def to_chinese(emotions: list[str]) -> list[str]:
    """The Chinese words of English emotion words from :data:`memesearch.data.emotions.EMOTIONS`."""
    return [EMOTIONS[e] for e in emotions]
