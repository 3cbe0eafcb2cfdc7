"""Lexical branch: BM25 (bm25s) over caption + OCR text with our tokeniser."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from memesearch.data.records import Item
from memesearch.errors import ConfigError, DataFormatError
from memesearch.models.lexical import (
    BM25Config,
    LexicalIndex,
    UnknownItemError,
    lexical_text,
)
from memesearch.text import EmptyQueryError, TextConfig

ZH = {
    "overtime": "今天又是加班的一天",
    "weather": "今天天气真好，出去玩吧",
    "worker": "加油打工人",
    "weekend": "周末不加班，躺平",
    "boss": "老板说今天要加班到十点，加班",
}
EN = {
    "monday": "When you realize it's Monday again",
    "mood": "monday mood: coffee coffee coffee",
    "cat": "cat falls off the table",
    "fine": "This is fine.",
    "dog": "this dog is fine with everything",
}


def build(corpus: dict[str, str | None], config: BM25Config | None = None) -> LexicalIndex:
    return LexicalIndex(config).build(list(corpus), list(corpus.values()))


def naive_bm25(docs: list[list[str]], query: list[str], *, k1: float, b: float, method: str) -> list[float]:
    """Ten-line BM25 straight from the formula (distinct query terms), the oracle for bm25s."""
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    df = Counter(t for d in docs for t in set(d))
    out = []
    for d in docs:
        tf = Counter(d)
        s = 0.0
        for t in dict.fromkeys(query):
            ratio = (n - df[t] + 0.5) / (df[t] + 0.5)
            idf = math.log(1 + ratio) if method == "lucene" else math.log(max(ratio, 1.0))
            s += idf * tf[t] / (tf[t] + k1 * (1 - b + b * len(d) / avgdl))
        out.append(s)
    return out


def test_exact_chinese_ocr_phrase_ranks_first() -> None:
    index = build(ZH)
    hits = index.search("今天又是加班的一天", k=5)
    assert hits[0][0] == "overtime"
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)  # "ideal" calibration: the text is the query
    # a single word finds exactly the items containing it ("加油" is not "加班")
    assert {item for item, _ in index.search("加班", k=10)} == {"overtime", "weekend", "boss"}


def test_exact_english_phrase_ranks_first() -> None:
    index = build(EN)
    assert index.search("this is fine", k=3)[0][0] == "fine"
    assert index.search("Monday MOOD!", k=3)[0][0] == "mood"
    assert index.search("cats", k=3) == []  # no stemming: no shared term, nothing returned


def test_mixed_language_corpus_and_emoji_queries() -> None:
    index = build({"a": "今天好emo啊😂", "b": "so emo today", "c": "开心😂😂"})
    assert [i for i, _ in index.search("emo", k=5)] == ["b", "a"]  # same tf, "b" is the shorter text
    assert {i for i, _ in index.search("😂", k=5)} == {"a", "c"}
    assert index.search("😂", k=1)[0][0] == "c"  # tf 2 in a short text


@pytest.mark.parametrize("method", ["lucene", "robertson"])
@pytest.mark.parametrize(("k1", "b"), [(1.5, 0.75), (0.9, 0.4), (1.2, 1.0)])
def test_scores_match_naive_bm25(method: str, k1: float, b: float) -> None:
    corpus = {**ZH, **EN}
    index = build(corpus, BM25Config(k1=k1, b=b, method=method))  # type: ignore[arg-type]
    docs = [index.tokens(i) or [] for i in index.item_ids]
    queries = ["今天加班", "this is fine", "coffee monday 今天", "加班 加班 fine", "nothing matches"]
    raw = index.score(queries, calibrated=False)
    for qi, query in enumerate(queries):
        expected = naive_bm25(docs, index.query_terms(query), k1=k1, b=b, method=method)
        np.testing.assert_allclose(raw[qi], expected, rtol=1e-5, atol=1e-6)


def test_calibration_ideal_and_max() -> None:
    corpus = {**ZH, **EN}
    ideal = build(corpus)
    best = build(corpus, BM25Config(calibration="max"))
    queries = ["今天加班", "this is fine", "coffee", "unknownword cat"]
    raw = ideal.score(queries, calibrated=False).astype(np.float64)
    cal = ideal.score(queries).astype(np.float64)
    cal_max = best.score(queries).astype(np.float64)
    assert np.all((cal >= 0) & (cal <= 1))
    for qi, query in enumerate(queries):
        terms = ideal.query_terms(query)
        # ideal document: the query's distinct terms once each, scored with the collection's statistics
        n, avgdl = ideal.n_docs, ideal.avgdl
        k1, b = 1.5, 0.75
        docs = [ideal.tokens(i) or [] for i in ideal.item_ids]
        df = Counter(t for d in docs for t in set(d))
        ideal_score = sum(
            math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) / (1 + k1 * (1 - b + b * len(terms) / avgdl))
            for t in terms
        )
        np.testing.assert_allclose(cal[qi], np.minimum(raw[qi] / ideal_score, 1.0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(cal_max[qi], raw[qi] / raw[qi].max(), rtol=1e-5, atol=1e-6)
    # a query word no item contains lowers the calibrated score of the items matching the other word
    cat_only = ideal.score(["cat"])[0, ideal.item_ids.index("cat")]
    assert cal[3, ideal.item_ids.index("cat")] < cat_only
    assert cal_max[3].max() == pytest.approx(1.0)


def test_items_without_text_are_explicit_and_do_not_change_the_statistics() -> None:
    with_missing = {**EN, "blank": "   ", "none": None, "punct": "?!…", "empty": ""}
    index = build(with_missing)
    assert index.n_docs == len(EN)
    assert index.has_text.tolist() == [True] * len(EN) + [False] * 4
    scores = index.score(["this is fine", "coffee"], calibrated=False)
    assert np.isnan(scores[:, len(EN) :]).all()
    # the items with text score exactly as in an index that never saw the text-less ones
    np.testing.assert_array_equal(
        scores[:, : len(EN)], build(EN).score(["this is fine", "coffee"], calibrated=False)
    )
    assert all(item not in {"blank", "none", "punct", "empty"} for item, _ in index.search("fine", k=10))
    assert index.tokens("none") is None and index.tokens("punct") is None


def test_index_where_no_item_has_text() -> None:
    index = build({"a": None, "b": " "})
    assert index.n_docs == 0
    assert np.isnan(index.score(["cat"])).all()
    assert index.search("cat") == []


def test_queries_empty_or_without_terms() -> None:
    index = build(EN)
    with pytest.raises(EmptyQueryError, match="empty"):
        index.search("   ")
    with pytest.raises(EmptyQueryError, match="query #1"):
        index.score(["fine", ""])
    # punctuation only: not an error, just no term to match
    assert np.all(index.score(["?!"]) == 0)
    assert index.search("?!") == []
    # repeating a query word does not count it twice
    np.testing.assert_array_equal(index.score(["fine fine fine"]), index.score(["fine"]))


def test_score_selects_and_orders_columns() -> None:
    index = build(EN)
    full = index.score(["coffee monday"])
    sub = index.score(["coffee monday"], item_ids=["mood", "monday"])
    np.testing.assert_array_equal(sub[0], full[0, [1, 0]])
    with pytest.raises(UnknownItemError, match="nope"):
        index.score(["coffee"], item_ids=["nope"])
    with pytest.raises(TypeError):
        index.score("coffee")  # type: ignore[arg-type]


def test_search_ties_keep_index_order_and_k_limits() -> None:
    index = build({"x": "cat", "y": "dog", "z": "cat"})
    assert [i for i, _ in index.search("cat", k=5)] == ["x", "z"]
    assert len(index.search("cat", k=1)) == 1
    with pytest.raises(ValueError, match="k must be"):
        index.search("cat", k=0)


def test_add_and_remove_equal_a_fresh_build() -> None:
    corpus = {**ZH, **EN, "none": None}
    queries = ["今天加班", "this is fine", "coffee"]
    first = dict(list(corpus.items())[:4])
    rest = dict(list(corpus.items())[4:])
    index = build(first)
    index.add(list(rest), list(rest.values()))
    fresh = build(corpus)
    assert index.item_ids == fresh.item_ids
    np.testing.assert_array_equal(index.score(queries), fresh.score(queries))

    index.remove(["overtime", "cat"])
    reduced = {k: v for k, v in corpus.items() if k not in {"overtime", "cat"}}
    np.testing.assert_array_equal(index.score(queries), build(reduced).score(queries))

    index.add(["dog"], ["今天加班"], replace=True)
    assert index.item_ids.index("dog") == list(reduced).index("dog")  # replaced in place
    assert index.search("今天加班", k=1)[0][0] == "dog"

    with pytest.raises(DataFormatError, match="duplicate item id 'dog'"):
        index.add(["dog"], ["again"])
    with pytest.raises(UnknownItemError):
        index.remove(["never-added"])


def test_build_validates_input() -> None:
    with pytest.raises(ValueError, match="2 item ids but 1 texts"):
        LexicalIndex().build(["a", "b"], ["x"])
    with pytest.raises(DataFormatError, match="duplicate"):
        LexicalIndex().build(["a", "a"], ["x", "y"])
    with pytest.raises(DataFormatError, match="must be a string or None"):
        LexicalIndex().build(["a"], [3])  # type: ignore[list-item]


def test_from_items_uses_captions_and_ocr() -> None:
    items = [
        Item(id="1", captions=["a cat on a keyboard"], ocr="今天又是加班的一天"),
        Item(id="2", captions=["a dog"]),
        Item(id="3"),
    ]
    assert lexical_text(items[2]) is None
    index = LexicalIndex.from_items(items)
    assert index.search("加班")[0][0] == "1"
    assert index.search("keyboard")[0][0] == "1"
    assert index.has_text.tolist() == [True, True, False]


def test_save_and_load_round_trip_without_pickle(tmp_path: Path) -> None:
    config = BM25Config(k1=1.2, b=0.6, calibration="max", text=TextConfig(stopwords=("en",)))
    index = build({**ZH, **EN, "none": None}, config)
    out = index.save(tmp_path / "lexical")
    queries = ["今天加班", "this is fine", "coffee 😂"]
    loaded = LexicalIndex.load(out)
    assert loaded.config == config
    assert loaded.item_ids == index.item_ids
    np.testing.assert_array_equal(loaded.score(queries), index.score(queries))
    # every array file loads with pickling disabled; the manifest is plain JSON
    for npy in out.rglob("*.npy"):
        np.load(npy, allow_pickle=False)
    manifest = json.loads((out / "lexical.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "memesearch-lexical" and manifest["n_docs"] == len(ZH) + len(EN)
    # saving again replaces the directory; the loaded index can be extended
    loaded.add(["new"], ["brand new text"])
    loaded.save(out)
    assert "new" in LexicalIndex.load(out).item_ids
    assert not [p for p in tmp_path.iterdir() if p.name != "lexical"]  # no temp dirs left behind


def test_load_rejects_what_is_not_an_index(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"no lexical\.json"):
        LexicalIndex.load(tmp_path)
    (tmp_path / "lexical.json").write_text('{"format": "other", "version": 1}', encoding="utf-8")
    with pytest.raises(DataFormatError, match="expected format"):
        LexicalIndex.load(tmp_path)


def test_config_validation_and_round_trip() -> None:
    cfg = BM25Config(k1=0.9, b=0.4, method="robertson", calibration="max", text=TextConfig(hmm=False))
    assert BM25Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="method"):
        BM25Config(method="atire")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="b must be"):
        BM25Config(b=1.5)
    with pytest.raises(ConfigError, match="calibration"):
        BM25Config(calibration="zscore")  # type: ignore[arg-type]
