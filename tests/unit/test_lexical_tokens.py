"""What keeps a search process from loading jieba's dictionary: passage tokens cached on disk, and query
tokenisers that read the dictionary on demand — both give exactly the tokens of the plain tokeniser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memesearch.models.lexical_live import LiveLexicon
from memesearch.models.lexical_tokens import TokenCache
from memesearch.text import TextConfig, Tokenizer

TEXTS = [
    "今天又是加班的一天!!",
    "中华人民共和国成立了",
    "我想吃火锅，你呢？",
    "打工人打工魂，打工都是人上人",
    "yyds 绝绝子 😂😂",
    "周杰伦的新歌太好听了吧",
    "Don't PANIC 今晚吃啥",
    "困死了，想睡觉",
    "栗子龙卷风大作战",  # words outside the dictionary: jieba's HMM joins them
]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEMESEARCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("mode", ["search", "default"])
@pytest.mark.parametrize("hmm", [True, False])
def test_the_on_demand_dictionary_gives_the_same_tokens(cache: Path, mode: str, hmm: bool) -> None:
    config = TextConfig(jieba_mode=mode, hmm=hmm)  # type: ignore[arg-type]
    plain, lookup = Tokenizer(config), Tokenizer(config, lookup=True)
    assert lookup.lookup
    for text in TEXTS:
        assert lookup(text) == plain(text), text
    assert list((cache / "jieba").glob("freq-*.sqlite"))


def test_a_word_list_keeps_the_loaded_dictionary(cache: Path) -> None:
    config = TextConfig(user_words=("栗子龙卷风",))
    lookup = Tokenizer(config, lookup=True)
    assert not lookup.lookup and "栗子龙卷风" in lookup("栗子龙卷风大作战")


def test_the_token_cache_reads_back_what_it_wrote(cache: Path) -> None:
    tok = Tokenizer()
    first = TokenCache(tok)
    assert first.tokenize_many(TEXTS) == [tok(t) for t in TEXTS]
    assert first.path.is_file() and first.path.parent == cache / "tokens"

    class Refuses(Tokenizer):
        def __call__(self, text: str) -> list[str]:
            raise AssertionError(f"tokenised again: {text}")

    second = TokenCache(Refuses())  # same config -> same file; every passage is found there
    assert second.path == first.path
    assert second.tokenize_many(TEXTS) == [tok(t) for t in TEXTS]
    other = TokenCache(Tokenizer(TextConfig(stopwords=("en",))))
    assert other.path != first.path


def test_a_cached_lexicon_scores_like_a_plain_one(cache: Path) -> None:
    keys = list(range(len(TEXTS)))
    plain, cached = LiveLexicon(), LiveLexicon(token_cache=True)
    plain.add(keys, TEXTS)
    cached.add(keys, TEXTS)
    again = LiveLexicon(token_cache=True)  # a second process: tokens from the file
    again.add(keys, TEXTS)
    for query in ["加班", "打工人", "吃火锅", "panic", "睡觉 today", "龙卷风"]:
        k0, s0 = plain.score_docs(query)
        for lex in (cached, again):
            k1, s1 = lex.score_docs(query)
            assert k1.tolist() == k0.tolist()
            np.testing.assert_allclose(s1, s0, rtol=0, atol=0)
