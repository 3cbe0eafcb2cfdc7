"""The bilingual emotion mapping of the emoji benchmark's Smileys & Emotion subcategories."""

from __future__ import annotations

from memesearch.data.emoji.emotions import (
    EMOJI_EMOTIONS,
    EMOTION_CATEGORY,
    SUBCATEGORY_EMOTIONS,
    emotions_for,
    to_chinese,
)
from memesearch.data.emotions import EMOTIONS

# The CLDR subcategories of "Smileys & Emotion" in Emoji 16.0 (emoji-datasource 16.0.0). The
# integration test checks the real packages against the mapping; this list guards the table itself.
CLDR_SUBCATEGORIES = [
    "face-smiling", "face-affection", "face-tongue", "face-hand", "face-neutral-skeptical", "face-sleepy",
    "face-unwell", "face-hat", "face-glasses", "face-concerned", "face-negative", "face-costume",
    "cat-face", "monkey-face", "heart", "emotion",
]  # fmt: skip


def test_every_subcategory_has_a_default() -> None:
    assert set(CLDR_SUBCATEGORIES) <= set(SUBCATEGORY_EMOTIONS)
    # every face subcategory carries an emotion; only "emotion" (speech balloons, hole, ...) defaults to none
    assert [s for s in CLDR_SUBCATEGORIES if not SUBCATEGORY_EMOTIONS[s]] == ["emotion"]


def test_every_word_is_in_the_bilingual_vocabulary() -> None:
    used = {w for ws in SUBCATEGORY_EMOTIONS.values() for w in ws} | {
        w for ws in EMOJI_EMOTIONS.values() for w in ws
    }
    assert used <= set(EMOTIONS)
    assert all(zh.strip() and zh != en for en, zh in EMOTIONS.items())
    assert len(set(EMOTIONS.values())) == len(EMOTIONS), "two English words share a Chinese word"
    unused = set(EMOTIONS) - used
    assert not unused, f"vocabulary words no emoji gets: {unused}"


def test_overrides_are_join_keys() -> None:
    for key, words in EMOJI_EMOTIONS.items():
        assert key == key.upper() and "FE0F" not in key
        assert all(int(cp, 16) for cp in key.split("-"))
        assert words and len(set(words)) == len(words)


def test_examples_from_the_issue() -> None:
    assert emotions_for("1F634", EMOTION_CATEGORY, "face-sleepy") == ["tired"]  # sleeping face
    assert to_chinese(emotions_for("1F634", EMOTION_CATEGORY, "face-sleepy")) == ["困"]
    assert emotions_for("1F620", EMOTION_CATEGORY, "face-negative") == ["angry"]  # angry face
    assert to_chinese(["angry"]) == ["生气"]


def test_override_replaces_the_subcategory_default() -> None:
    assert emotions_for("1F622", EMOTION_CATEGORY, "face-concerned") == ["sad"]  # crying face
    assert emotions_for("1F494", EMOTION_CATEGORY, "heart") == ["sad"]  # broken heart
    assert emotions_for("1F49C", EMOTION_CATEGORY, "heart") == ["love"]  # purple heart: the default


def test_other_categories_and_unknown_subcategories_get_none() -> None:
    assert emotions_for("1F415", "Animals & Nature", "animal-mammal") == []
    assert emotions_for("1F600", "Animals & Nature", "face-smiling") == []
    assert emotions_for("1FFFF", EMOTION_CATEGORY, "face-from-the-future") == []
    assert emotions_for("1F4AC", EMOTION_CATEGORY, "emotion") == []  # speech balloon
