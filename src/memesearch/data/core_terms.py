"""Title -> query-like core terms: the training-text preprocessing of CBVS / UniCLIP (research/B §1.6).

The seed passed each video title through Baidu LAC in ``rank`` mode, kept the words of LAC's top
importance level joined by spaces, and used that string instead of the title **when it is longer than
2 characters** (else, and on any failure, the full title); the text was then lower-cased, curly quotes
were normalised, and the tokenizer cut it to a context of 12 tokens. LAC needs PaddlePaddle, which cannot
be installed here, so :func:`title_core_terms` substitutes jieba keyword extraction:

- ``method="tfidf"`` (default): jieba's part-of-speech segmentation, each word weighted by jieba's
  shipped IDF table (``jieba/analyse/idf.txt``; the median IDF for unknown words, as
  ``jieba.analyse.extract_tags`` does) times its count, nouns and verbal nouns counted 1.5 times
  (:data:`NOUN_BOOST`: LAC ranks entities and nouns highest, so 猫 beats 出声); punctuation, numbers,
  particles, pronouns, jieba's stop words and English stop words (scikit-learn's
  318-word list: "my", "after", "you") are left out. Unlike ``extract_tags``, a one-character
  **noun** is kept (猫, 狗: the subject of many titles; LAC keeps them too), other one-character words
  are not.
- ``method="textrank"``: ``jieba.analyse.TextRank`` over nouns, verbs and English words (on very short
  titles it often finds nothing, and the rule below falls back to the title).

The ``top_k`` heaviest words are kept **in title order** (LAC's output keeps the title's order, which
reads like a query: "猫 搞笑 合集", not "合集 猫 搞笑"), joined by single spaces. Rule: the result replaces
the title when it is longer than ``min_chars - 1`` = 2 characters, else the title is kept. Both are then
lower-cased with curly quotes made straight (:func:`normalise_title`).

``max_chars`` (e.g. 12, the seed's context length, where each Han character is about one token) bounds
the output: words are added in weight order while the joined string fits, and a title fallback is cut
to ``max_chars``. The tokenizer's own context length (12 in the seed; a field of the Task's config)
still applies after this.

Example::

    >>> title_core_terms("【搞笑合集】猫的100种搞笑瞬间，第3期 看到最后笑出声")  # doctest: +SKIP
    '搞笑 合集 猫'
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from memesearch.errors import ConfigError

log = logging.getLogger(__name__)

Method = Literal["tfidf", "textrank"]
METHODS: tuple[str, ...] = ("tfidf", "textrank")
#: The seed's rule: the core terms replace the title when longer than 2 characters.
MIN_CHARS = 3
#: The seed's text context length (tokens) for titles and queries; a Task config field, quoted here.
CONTEXT_LENGTH = 12
#: jieba POS tags never kept: punctuation (x, w), numbers (m, mq), quantifiers (q), particles (u*, y),
#: pronouns (r), prepositions (p), conjunctions (c), adverbs (d), interjections (e), onomatopoeia (o),
#: locatives (f: 最后, 里面).
_DROP_POS = ("x", "w", "m", "q", "u", "y", "r", "p", "c", "d", "e", "o", "f")
#: Weight factor of nouns (n, nr, ns, nz, ...) and verbal nouns (vn): LAC ranks entities and nouns highest.
NOUN_BOOST = 1.5
_QUOTES = str.maketrans(
    {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u300c": '"', "\u300d": '"'}
)


@dataclass(frozen=True, slots=True)
class CoreTermsConfig:
    """How titles become query-like text (see the module docstring); the defaults are the seed's rule."""

    method: Method = "tfidf"
    top_k: int = 3
    min_chars: int = MIN_CHARS
    max_chars: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"core terms method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.top_k < 1:
            raise ConfigError(f"core terms top_k must be >= 1, got {self.top_k}")
        if self.max_chars is not None and self.max_chars < 1:
            raise ConfigError(f"core terms max_chars must be >= 1 or None, got {self.max_chars}")


def normalise_title(text: str) -> str:
    """The seed's final text step: lower case, curly quotes straight, whitespace collapsed (NFC)."""
    return " ".join(unicodedata.normalize("NFC", text).translate(_QUOTES).lower().split())


_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}


def _pos_tokenizer() -> Any:
    """jieba's POS tokenizer over the shared memesearch jieba dictionary (loaded once, quietly)."""
    with _LOCK:
        tok = _STATE.get("pos")
        if tok is None:
            import jieba.posseg

            from memesearch.text import _jieba_tokenizer

            tok = _STATE["pos"] = jieba.posseg.POSTokenizer(_jieba_tokenizer(()))
        return tok


def _idf() -> tuple[dict[str, float], float, frozenset[str]]:
    with _LOCK:
        found = _STATE.get("idf")
        if found is None:
            from jieba.analyse.tfidf import DEFAULT_IDF, IDFLoader, KeywordExtractor
            from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

            freq, median = IDFLoader(DEFAULT_IDF).get_idf()
            stop = frozenset(KeywordExtractor.STOP_WORDS) | set(ENGLISH_STOP_WORDS)
            found = _STATE["idf"] = (freq, median, stop)
        return found


def _keep(word: str, flag: str, stop: frozenset[str]) -> bool:
    w = word.strip()
    if not w or w.lower() in stop or (flag != "eng" and flag.startswith(_DROP_POS)):
        return False
    if not any(ch.isalpha() for ch in w):
        return False
    return len(w) >= 2 or flag.startswith("n")  # one character: nouns only (猫, 狗)


def _tfidf_terms(text: str, top_k: int) -> list[tuple[str, float, int]]:
    """(word, weight, first position) of the ``top_k`` heaviest words of ``text``."""
    freq_table, median, stop = _idf()
    counts: dict[str, float] = {}
    first: dict[str, int] = {}
    for pos, pair in enumerate(_pos_tokenizer().cut(text)):
        word, flag = pair.word.strip(), pair.flag
        if _keep(word, flag, stop):
            boost = NOUN_BOOST if flag.startswith("n") or flag == "vn" else 1.0
            counts[word] = max(counts.get(word, 0.0), 0.0) + boost
            first.setdefault(word, pos)
    total = sum(counts.values()) or 1.0
    weighted = [(w, n * freq_table.get(w, median) / total, first[w]) for w, n in counts.items()]
    weighted.sort(key=lambda t: (-t[1], t[2]))
    return weighted[:top_k]


def _textrank_terms(text: str, top_k: int) -> list[tuple[str, float, int]]:
    pos = _pos_tokenizer()
    with _LOCK:
        rank = _STATE.get("textrank")
        if rank is None:
            from jieba.analyse.textrank import TextRank

            rank = TextRank()
            rank.tokenizer = rank.postokenizer = pos  # ours, not jieba's global tokenizer
            _STATE["textrank"] = rank
    tags = rank.textrank(text, topK=top_k, withWeight=True, allowPOS=("ns", "n", "vn", "v", "nz", "eng"))
    return [(w, float(weight), text.find(w)) for w, weight in tags]


def _fit(terms: Sequence[tuple[str, float, int]], max_chars: int | None) -> list[tuple[str, float, int]]:
    if max_chars is None:
        return list(terms)
    kept: list[tuple[str, float, int]] = []
    for term in terms:  # heaviest first
        trial = [*kept, term]
        if len(" ".join(w for w, _, _ in trial)) <= max_chars:
            kept = trial
    return kept


def title_core_terms(
    title: str,
    max_chars: int | None = None,
    *,
    top_k: int = 3,
    method: Method = "tfidf",
    min_chars: int = MIN_CHARS,
) -> str:
    """Query-like core terms of a video title by the seed's rule (module docstring), normalised.

    >>> title_core_terms("a")
    'a'
    """
    config = CoreTermsConfig(method=method, top_k=top_k, min_chars=min_chars, max_chars=max_chars)
    return core_terms(title, config)


def core_terms(title: str, config: CoreTermsConfig | None = None) -> str:
    """:func:`title_core_terms` with a :class:`CoreTermsConfig` (the form a Task config holds)."""
    cfg = config or CoreTermsConfig()
    if not isinstance(title, str):
        raise TypeError(f"a title must be a string, got {type(title).__name__}")
    text = normalise_title(title)
    try:
        found = _tfidf_terms(text, cfg.top_k) if cfg.method == "tfidf" else _textrank_terms(text, cfg.top_k)
    except Exception as exc:  # the seed fell back to the title on any failure; so do we, loudly
        log.warning("core terms of %r failed (%s); keeping the title", title, exc)
        found = []
    kept = sorted(_fit(found, cfg.max_chars), key=lambda t: t[2])  # title order
    core = " ".join(w for w, _, _ in kept)
    if len(core) >= cfg.min_chars:
        return core
    return text if cfg.max_chars is None else text[: cfg.max_chars]


def core_terms_many(titles: Sequence[str], config: CoreTermsConfig | None = None) -> list[str]:
    """:func:`core_terms` of each title."""
    return [core_terms(t, config) for t in titles]
