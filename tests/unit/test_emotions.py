"""The bilingual emotion vocabulary (memesearch.data.emotions): words, synonyms, filter-value parsing."""

from __future__ import annotations

import json
import re

import pytest

from memesearch.data.emotions import (
    EMOTION_VOCABULARY,
    EMOTION_WORDS,
    EMOTIONS,
    _lookup,
    chinese_word,
    emotion_vocabulary,
    normalize_emotion,
    normalize_emotions,
)
from memesearch.errors import UnknownNameError

CJK = re.compile(r"[\u4e00-\u9fff]")

# -- vocabulary and parsing ------------------------------------------------------------------------


def test_vocabulary_is_the_benchmark_vocabulary() -> None:
    assert [(w.emotion, w.zh) for w in EMOTION_VOCABULARY] == list(EMOTIONS.items())
    assert tuple(EMOTIONS) == EMOTION_WORDS
    for word in EMOTION_VOCABULARY:  # prompts in both languages, so neither language dominates
        assert any(CJK.search(p) for p in word.prompts), word.emotion
        assert any(not CJK.search(p) for p in word.prompts), word.emotion


def test_no_word_names_two_emotions() -> None:
    _lookup.cache_clear()
    table = _lookup()  # raises when a synonym is listed under two emotions
    spellings = [s for w in EMOTION_VOCABULARY for s in (w.emotion, w.zh, *w.synonyms)]
    assert len(table) == len({s.strip().casefold() for s in spellings})


@pytest.mark.parametrize(("english", "chinese"), list(EMOTIONS.items()))
def test_every_word_in_both_languages(english: str, chinese: str) -> None:
    assert normalize_emotion(english) == english
    assert normalize_emotion(chinese) == english
    assert normalize_emotion(f"  {english.upper()} ") == english
    assert normalize_emotion(f" {chinese}\t") == english


@pytest.mark.parametrize(
    ("word", "emotion"),
    [
        ("mad", "angry"),
        ("Furious", "angry"),
        ("生气", "angry"),
        ("愤怒", "angry"),
        ("sleepy", "tired"),
        ("SLEEPY ", "tired"),
        ("困了", "tired"),
        ("开心", "happy"),
        ("高兴", "happy"),
        ("scared", "fear"),
        ("eye-roll", "annoyed"),
        ("eye_roll", "annoyed"),
        ("eye   roll", "annoyed"),
        ("Thank You", "grateful"),
    ],
)
def test_synonyms(word: str, emotion: str) -> None:
    assert normalize_emotion(word) == emotion


def test_unknown_word_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        normalize_emotion("hangry-ish")
    message = str(info.value)
    assert "'hangry-ish'" in message
    for english, chinese in EMOTIONS.items():
        assert english in message and chinese in message
    with pytest.raises(UnknownNameError, match="did you mean 'angry'"):
        normalize_emotion("angyr")
    with pytest.raises(UnknownNameError, match="empty emotion word"):
        normalize_emotion("   ")
    with pytest.raises(UnknownNameError, match="got int"):
        normalize_emotion(3)  # type: ignore[arg-type]


def test_normalize_several() -> None:
    assert normalize_emotions("mad, 困，Angry") == ["angry", "tired"]
    assert normalize_emotions(["开心", "sad"]) == ["happy", "sad"]
    assert normalize_emotions(None) == [] and normalize_emotions(" , ") == []
    with pytest.raises(UnknownNameError):
        normalize_emotions("happy, nope")


def test_vocabulary_for_the_web_ui_is_json() -> None:
    vocabulary = emotion_vocabulary()
    assert [v["emotion"] for v in vocabulary] == list(EMOTIONS)
    assert all(set(v) == {"emotion", "zh", "synonyms"} for v in vocabulary)
    assert json.loads(json.dumps(vocabulary, ensure_ascii=False)) == vocabulary


def test_chinese_word() -> None:
    assert chinese_word("angry") == "生气"
    assert chinese_word(" Mad ") == "生气" and chinese_word("困了") == "困"
    assert [chinese_word(w) for w in EMOTION_WORDS] == list(EMOTIONS.values())
    with pytest.raises(UnknownNameError, match="valid emotions: happy"):
        chinese_word("hangry")


def test_one_home() -> None:
    # the emoji benchmark's labels, the tagger and the enrich package all use this one vocabulary
    import memesearch.data.emoji
    import memesearch.data.emoji.emotions
    import memesearch.enrich

    assert memesearch.data.emoji.EMOTIONS is EMOTIONS
    assert memesearch.data.emoji.emotions.EMOTIONS is EMOTIONS
    assert memesearch.enrich.normalize_emotion is normalize_emotion
    assert memesearch.enrich.EMOTION_WORDS is EMOTION_WORDS
