"""Text normalisation and tokenisation: Chinese (jieba), English, mixed strings, emoji, stopwords."""

from __future__ import annotations

import subprocess
import sys

import pytest

from memesearch.errors import ConfigError
from memesearch.text import (
    EmptyQueryError,
    TextConfig,
    Tokenizer,
    is_blank,
    normalize_text,
    require_query,
    tokenize,
)


def test_chinese_is_segmented_by_jieba() -> None:
    assert tokenize("今天又是加班的一天") == ["今天", "又", "是", "加班", "的", "一天"]
    # Chinese punctuation separates runs and is dropped
    assert tokenize("我不想上班。。。真的！") == ["我", "不想", "上班", "真的"]


def test_search_mode_adds_inner_words_default_mode_does_not() -> None:
    search = tokenize("中华人民共和国")
    default = tokenize("中华人民共和国", TextConfig(jieba_mode="default"))
    assert default == ["中华人民共和国"]
    assert "中华人民共和国" in search
    assert {"人民", "共和国"} <= set(search)


def test_english_punctuation_case_and_apostrophes() -> None:
    assert tokenize("Hello, World!!! It's   fine...") == ["hello", "world", "its", "fine"]
    # typographic and ASCII apostrophes give the same token, and so does the word without it
    assert tokenize("don’t") == tokenize("don't") == tokenize("DONT") == ["dont"]
    assert tokenize("well-known_cat #mood") == ["well", "known", "cat", "mood"]


def test_full_width_forms_are_normalised() -> None:
    assert normalize_text("ＨＥＬＬＯ，１２３！") == "hello,123!"
    assert tokenize("ＨＥＬＬＯ　ｗｏｒｌｄ") == ["hello", "world"]


def test_mixed_chinese_english_and_digits() -> None:
    tokens = tokenize("今天好emo啊 996福报 OK的")
    assert tokens == ["今天", "好", "emo", "啊", "996", "福报", "ok", "的"]


def test_emoji_are_tokens_without_skin_tone_or_variation_selector() -> None:
    assert tokenize("😂😂 lol") == ["😂", "😂", "lol"]
    assert tokenize("👍🏽") == tokenize("👍") == ["👍"]
    assert tokenize("❤️") == tokenize("❤") == ["❤"]
    assert tokenize("🇨🇳") == ["🇨🇳"]  # a flag is one token, not two regional letters
    family = "👨\u200d👩\u200d👧"
    assert tokenize(f"{family}!") == [family]
    assert tokenize("太开心了😂😂") == ["太", "开心", "了", "😂", "😂"]


def test_emoji_can_be_dropped() -> None:
    assert tokenize("😂 lol 👍🏽", TextConfig(keep_emoji=False)) == ["lol"]


def test_stopwords_are_optional() -> None:
    text = "The cat is on the mat 我的猫"
    assert "the" in tokenize(text)
    assert "的" in tokenize(text)
    filtered = Tokenizer(TextConfig(stopwords=("en", "zh")))(text)
    assert "the" not in filtered and "is" not in filtered and "的" not in filtered
    assert {"cat", "mat", "猫"} <= set(filtered)


def test_user_words_stay_whole() -> None:
    assert "打工人" not in tokenize("打工人打工魂")
    assert "打工人" in Tokenizer(TextConfig(user_words=("打工人",)))("打工人打工魂")


def test_blank_and_punctuation_only_text() -> None:
    assert tokenize("") == []
    assert tokenize("   \n\t") == []
    assert tokenize("?!…。，") == []
    assert is_blank(None) and is_blank("  ") and not is_blank(" a ")


def test_require_query_rejects_empty_queries() -> None:
    assert require_query(" cat ") == " cat "
    for bad in ("", "   ", "\n"):
        with pytest.raises(EmptyQueryError, match="empty"):
            require_query(bad)


def test_tokenizer_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="string"):
        tokenize(None)  # type: ignore[arg-type]


def test_jieba_loads_quietly_and_leaves_its_logger_as_found() -> None:
    # a fresh interpreter, so that jieba really loads its dictionary here
    code = (
        "import logging, jieba\n"
        "before = logging.getLogger('jieba').level\n"
        "from memesearch.text import tokenize\n"
        "print(tokenize('今天又是加班的一天'))\n"
        "print(logging.getLogger('jieba').level == before)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["['今天', '又', '是', '加班', '的', '一天']", "True"]
    assert "prefix dict" not in proc.stderr and "Loading model" not in proc.stderr
    assert proc.stderr == ""


def test_text_config_validation_and_round_trip() -> None:
    cfg = TextConfig(stopwords=("en",), user_words=("打工人",), jieba_mode="default")
    assert TextConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="stopword"):
        TextConfig(stopwords=("fr",))
    with pytest.raises(ConfigError, match="jieba_mode"):
        TextConfig(jieba_mode="fast")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown text config key"):
        TextConfig.from_dict({"lowercase": True, "stemmer": "porter"})
