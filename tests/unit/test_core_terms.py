"""Title -> query-like core terms (jieba keyword extraction standing in for Baidu LAC, research/B §1.6)."""

from __future__ import annotations

import pytest

from memesearch.data.core_terms import (
    CONTEXT_LENGTH,
    CoreTermsConfig,
    core_terms,
    normalise_title,
    title_core_terms,
)
from memesearch.errors import ConfigError


def test_zh_title_keeps_its_core_words_in_title_order() -> None:
    title = "【搞笑合集】猫的100种搞笑瞬间，第3期 看到最后笑出声"
    core = title_core_terms(title)
    assert core == "搞笑 合集 猫"  # the one-character noun survives; punctuation, numbers, 的 do not
    words = core.split()
    assert [title.index(w) for w in words] == sorted(title.index(w) for w in words)


def test_zh_short_query_like_title_is_its_words() -> None:
    assert title_core_terms("大宅门演员表") == "大宅门 演员表"


def test_en_title_drops_stop_words_and_punctuation_and_is_lower_cased() -> None:
    core = title_core_terms("Funny Cat Compilation #3 – try not to laugh (you won’t believe the ending)")
    assert core == "funny cat compilation"
    assert (
        title_core_terms("A day with my mammoth: vlog #47 #large") == "day mammoth vlog"
    )  # "my": a stop word


def test_too_short_result_keeps_the_full_title() -> None:
    # nothing of 的了 is a keyword: the seed's rule keeps the whole (normalised) title
    assert title_core_terms("的了") == "的了"
    # one character is "not longer than 2": the title is kept even though 猫 is a keyword
    assert title_core_terms("猫！！") == "猫！！"
    assert title_core_terms("“Cat”") == "cat"  # 3 characters: the core term wins
    assert title_core_terms("“Ox”") == '"ox"'  # 2: the title, lower-cased with straight quotes


def test_max_chars_bounds_the_output() -> None:
    long_en = "Funny Cat Compilation #3 – try not to laugh (you won't believe the ending)"
    core = title_core_terms(long_en, max_chars=CONTEXT_LENGTH)
    assert len(core) <= CONTEXT_LENGTH and core in {"funny cat", "cat", "funny"}
    fallback = title_core_terms("的了的了的了的了的了的了的了的了", max_chars=CONTEXT_LENGTH)
    assert fallback == "的了的了的了的了的了的了"


def test_textrank_method_and_config_form_agree() -> None:
    title = "汉堡测评：这家店的汉堡到底值不值？"
    assert core_terms(title, CoreTermsConfig(method="textrank")) == title_core_terms(title, method="textrank")
    assert "汉堡" in title_core_terms(title, method="textrank")


def test_normalise_title() -> None:
    assert normalise_title("  ‘Top’   10 “Pizza”  ") == "'top' 10 \"pizza\""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"method": "lac"}, "method must be one of tfidf, textrank"), ({"top_k": 0}, "top_k must be >= 1")],
)
def test_bad_config_is_one_line(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CoreTermsConfig(**kwargs)  # type: ignore[arg-type]
