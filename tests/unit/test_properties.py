"""Property-based tests (hypothesis): whatever bytes or text come in, the readers, the run/qrels readers, the
media sniffer, the query checks and the path codec answer with a result or a domain error
(:class:`memesearch.errors.MemesearchError`: one line for a person), never a traceback of another kind."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memesearch.data.formats import read_dataset
from memesearch.data.formats.media import detect_media_stream
from memesearch.data.formats.native import read_items, read_queries
from memesearch.errors import MemesearchError
from memesearch.eval.run_io import RUN_FORMATS, read_qrels, read_run
from memesearch.index.records import display_path, path_from_db, path_to_db
from memesearch.search.query_checks import QueryError, check_emotions, check_k, check_media, check_query

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text the way files give it: any characters, lone surrogates of undecodable bytes, the codec's escape.
PATH_CHARS = st.one_of(
    st.characters(blacklist_categories=("Cs",)),
    st.sampled_from(["\uffff", "!", "/", "\t", "\n"]),
    st.integers(0xDC80, 0xDCFF).map(chr),
)
PATHS = st.text(PATH_CHARS, max_size=40)

# Lines that look like the formats' rows: separators, numbers, JSON pieces, escapes and junk.
TOKENS = st.sampled_from(
    ["\t", "\\N", "0", "1", "2", "-1", "1.5", "nan", "q1", "d1", "{", "}", '"', ":", ",", "[", "]", "null",
     '{"id": "a"}', '{"query": "x", "relevant": ["a"]}', "query", "docid", "label", "\u7b11", " "]
)  # fmt: skip
LINES = st.lists(st.lists(st.one_of(TOKENS, st.text(max_size=6)), max_size=8).map("".join), max_size=8)
TEXT_FILES = LINES.map(lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass"))
BLOBS = st.one_of(st.binary(max_size=300), TEXT_FILES)


def _only_domain_errors(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except MemesearchError as err:
        assert str(err).strip(), "a domain error must say what is wrong"


def _with_file(data: bytes, name: str, fn: Callable[[Path], Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        _only_domain_errors(lambda: fn(path))


@SETTINGS
@given(PATHS, PATHS)
def test_the_path_codec_round_trips_is_valid_text_and_keeps_prefixes(a: str, b: str) -> None:
    text = path_to_db(a + b)
    text.encode("utf-8")
    assert path_from_db(text) == a + b
    assert text == path_to_db(a) + path_to_db(b)
    display_path(a).encode("utf-8")


@SETTINGS
@given(st.one_of(st.text(max_size=3000), st.none(), st.integers(), st.binary(max_size=10)))
def test_check_query_returns_stripped_text_or_a_query_error(value: Any) -> None:
    try:
        out = check_query(value)
    except QueryError as err:
        assert str(err)
    else:
        assert out == value.strip() and out


@SETTINGS
@given(st.one_of(st.integers(), st.text(max_size=8), st.floats(allow_nan=True), st.none()))
def test_check_k_takes_a_whole_number_in_range_or_says_why(value: Any) -> None:
    try:
        k = check_k(value)
    except QueryError as err:
        assert "k must" in str(err)
    else:
        assert 1 <= k <= 1000


@SETTINGS
@given(st.one_of(st.text(max_size=30), st.lists(st.text(max_size=10), max_size=4), st.none()))
def test_filters_answer_canonical_words_or_a_domain_error(value: Any) -> None:
    _only_domain_errors(lambda: check_media(value))
    _only_domain_errors(lambda: check_emotions(value))


@SETTINGS
@given(st.binary(max_size=600))
def test_the_media_sniffer_answers_a_type_or_none(data: bytes) -> None:
    assert detect_media_stream(io.BytesIO(data)) in (None, "image", "gif", "video")


@SETTINGS
@given(BLOBS)
def test_cbvs_readers_give_a_dataset_or_a_domain_error(data: bytes) -> None:
    _with_file(data, "test.tsv", lambda p: read_dataset(p, "cbvs"))
    _with_file(data, "train.tsv", lambda p: read_dataset(p, "cbvs-train"))
    _with_file(data, "test.tsv", lambda p: read_dataset(p, "cbvs", skip_bad=True))


@SETTINGS
@given(BLOBS)
def test_native_readers_give_records_or_a_domain_error(data: bytes) -> None:
    _with_file(data, "items.jsonl", read_items)
    _with_file(data, "queries.jsonl", read_queries)
    _with_file(data, "items.jsonl", lambda p: read_items(p, skip_bad=True))
    _with_file(data, "items.jsonl", lambda p: read_dataset(p, "native"))


@SETTINGS
@given(BLOBS, st.sampled_from(RUN_FORMATS))
def test_run_and_qrels_readers_give_results_or_a_domain_error(data: bytes, fmt: str) -> None:
    _with_file(data, "run.txt", lambda p: read_run(p, fmt))
    _with_file(data, "qrels.tsv", read_qrels)
