"""Text normalisation and tokenisation shared by every lexical part of memesearch (BM25, filters, tests).

One tokeniser for Chinese, English and mixed strings, with the same rules for documents and queries:

1. **Normalise** (:func:`normalize_text`): Unicode NFKC (full-width letters, digits and punctuation become
   their ASCII forms), case folding, typographic apostrophes unified.
2. **Split into script runs**: Han runs, emoji, and other word runs (Latin, digits, kana, Hangul, ...).
   Everything else (punctuation, symbols, whitespace) separates tokens and is dropped.
3. **Tokenise each run**:

   - Han runs go through jieba (``jieba_mode="search"`` by default: jieba's search mode also emits the
     shorter words inside long ones, e.g. 中华人民共和国 -> 中华, 华人, 人民, 共和, 共和国,
     中华人民共和国, which helps recall on OCR text). jieba is initialised lazily, once per word list,
     with its dictionary-loading messages silenced.
   - Word runs are kept whole; apostrophes inside a word are removed, so ``don't`` and ``dont`` (and
     ``dog's`` and ``dogs``) give the same token.
   - Emoji become one token each (``keep_emoji=True``), without skin-tone modifiers and variation
     selectors, so 👍🏽 matches 👍 and ❤️ matches ❤. ZWJ sequences (👨‍👩‍👧) stay one token.

4. **Stopwords** are optional (``stopwords=("en", "zh")``; the lists are the ones shipped with ``bm25s``).
   They are off by default: in short meme text words like 不 or "not" carry the meaning.

Limits: no stemming; traditional and simplified Chinese are not unified; scripts written without
spaces other than Han (Thai, kana runs) are kept as one token per run.

Example::

    >>> tokenize("今天又是加班的一天!!")
    ['今天', '又', '是', '加班', '的', '一天']
    >>> tokenize("Don't PANIC 😂😂")
    ['dont', 'panic', '😂', '😂']
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from memesearch.errors import ConfigError, MemesearchError

if TYPE_CHECKING:  # pragma: no cover
    import jieba

logger = logging.getLogger(__name__)

JiebaMode = Literal["search", "default"]
STOPWORD_LANGUAGES: tuple[str, ...] = ("en", "zh")


class EmptyQueryError(MemesearchError):
    """A query is empty or only whitespace, so there is nothing to search for."""


# --- character classes ------------------------------------------------------------------------------------

# CJK unified ideographs (+ extension A, compatibility ideographs, extensions B-F in the SIP).
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
# Emoji bases: pictographs, emoticons, transport, supplemental symbols, dingbats, misc symbols, a few
# arrows/stars/clocks that are emoji by default.
_EMOJI_BASE = (
    "\U0001f000-\U0001f1e5\U0001f200-\U0001faff"
    "\u2600-\u27bf\u2300-\u23ff\u2b00-\u2bff\u3030\u303d\u3297\u3299"
)
_REGIONAL = "\U0001f1e6-\U0001f1ff"  # flag letters: a flag is two of them
_SKIN = "\U0001f3fb-\U0001f3ff"
_EMOJI_MOD = "\ufe0e\ufe0f" + _SKIN + "\U000e0020-\U000e007f\u20e3"

_TOKEN_RE = re.compile(
    rf"(?P<han>[{_HAN}]+)"
    rf"|(?P<emoji>[{_REGIONAL}]{{2}}|[{_EMOJI_BASE}][{_EMOJI_MOD}]*(?:\u200d[{_EMOJI_BASE}][{_EMOJI_MOD}]*)*)"
    # word characters that are not Han, joined across inner apostrophes ("don't")
    rf"|(?P<word>(?:(?![{_HAN}])[^\W_])+(?:'(?:(?![{_HAN}])[^\W_])+)*)"
)
_STRIP_FROM_EMOJI = re.compile(rf"[\ufe0e\ufe0f{_SKIN}]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\uff07": "'"})


def normalize_text(text: str, *, lowercase: bool = True) -> str:
    """NFKC-normalise ``text``, fold case (when ``lowercase``) and unify apostrophes.

    >>> normalize_text("ＨＥＬＬＯ，世界！ It’s")
    "hello,世界! it's"
    """
    out = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    return out.casefold() if lowercase else out


_HAN_RE = re.compile(f"[{_HAN}]")


def script_language(text: str) -> str:
    """The language a text is written in, as far as its script tells: ``"zh"`` when it holds a Han
    ideograph, else ``"en"`` (the two languages of memesearch's benchmarks and shipped models).

    >>> script_language("grinning face"), script_language("笑哭了 lol")
    ('en', 'zh')
    """
    return "zh" if _HAN_RE.search(text) else "en"


def is_blank(text: str | None) -> bool:
    """True for ``None``, empty and whitespace-only strings."""
    return text is None or not text.strip()


# --- configuration ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextConfig:
    """How text is turned into index terms. Stored with every lexical index so queries match it.

    - ``lowercase``: fold case (Unicode casefold).
    - ``jieba_mode``: ``"search"`` (jieba ``cut_for_search``: long words and the words inside them) or
      ``"default"`` (jieba ``cut``: one segmentation).
    - ``hmm``: let jieba guess words missing from its dictionary (its HMM).
    - ``keep_emoji``: emit emoji as tokens (else they are dropped like punctuation).
    - ``stopwords``: languages whose stopwords are removed, among :data:`STOPWORD_LANGUAGES`.
    - ``user_words``: extra words jieba must keep whole (meme slang: 打工人, 蚌埠住了, ...).
    """

    lowercase: bool = True
    jieba_mode: JiebaMode = "search"
    hmm: bool = True
    keep_emoji: bool = True
    stopwords: tuple[str, ...] = ()
    user_words: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.jieba_mode not in ("search", "default"):
            raise ConfigError(f"jieba_mode must be 'search' or 'default', got {self.jieba_mode!r}")
        # accept lists (e.g. from JSON/YAML) but store tuples so the config stays hashable
        object.__setattr__(self, "stopwords", tuple(self.stopwords))
        object.__setattr__(self, "user_words", tuple(self.user_words))
        unknown = [lang for lang in self.stopwords if lang not in STOPWORD_LANGUAGES]
        if unknown:
            raise ConfigError(
                f"unknown stopword language(s) {unknown}; expected a subset of {list(STOPWORD_LANGUAGES)}"
            )
        for word in self.user_words:
            if not isinstance(word, str) or is_blank(word):
                raise ConfigError(f"user_words must be non-empty strings, got {word!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "lowercase": self.lowercase,
            "jieba_mode": self.jieba_mode,
            "hmm": self.hmm,
            "keep_emoji": self.keep_emoji,
            "stopwords": list(self.stopwords),
            "user_words": list(self.user_words),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextConfig:
        known = {"lowercase", "jieba_mode", "hmm", "keep_emoji", "stopwords", "user_words"}
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigError(f"unknown text config key(s) {extra}; valid keys: {sorted(known)}")
        return cls(**data)


# --- jieba, loaded lazily ---------------------------------------------------------------------------------

_JIEBA_LOCK = threading.Lock()
_JIEBA: dict[tuple[str, ...], jieba.Tokenizer] = {}
_JIEBA_LOOKUP: dict[str, jieba.Tokenizer] = {}
#: bump when the SQLite copy of jieba's dictionary changes layout
JIEBA_LOOKUP_VERSION = 1


def _jieba_tokenizer(user_words: tuple[str, ...]) -> jieba.Tokenizer:
    """A jieba tokenizer of our own (not jieba's global one), initialised once per word list.

    jieba logs "Building prefix dict ..." to stderr while it loads its dictionary; its logger is raised to
    WARNING for the duration and restored afterwards, so the process-wide jieba logger is left as found.
    """
    with _JIEBA_LOCK:
        tok = _JIEBA.get(user_words)
        if tok is not None:
            return tok
        import jieba

        base = _JIEBA.get(())
        if base is None:
            jlog = logging.getLogger("jieba")
            before = jlog.level
            jlog.setLevel(logging.WARNING)
            try:
                base = jieba.Tokenizer()
                base.initialize()  # loads the dictionary (a few seconds on a small machine)
            finally:
                jlog.setLevel(before)
            _JIEBA[()] = base
        if not user_words:
            return base
        # a word list gets its own copy of the loaded dictionary instead of loading it again
        tok = jieba.Tokenizer()
        tok.FREQ, tok.total, tok.initialized = dict(base.FREQ), base.total, True
        for word in user_words:
            tok.add_word(normalize_text(word))
        _JIEBA[user_words] = tok
        logger.debug("jieba tokenizer ready (%d user words)", len(user_words))
        return tok


# --- jieba for queries: the dictionary read on demand ---------------------------------------------------
# Loading jieba's dictionary (~600,000 prefixes) costs 0.5-2 s on 2 cores: more than a whole search should.
# A query needs a few dozen of its entries, so query tokenisers (``Tokenizer(lookup=True)``) read them from a
# SQLite copy of the dictionary in the user cache (written once, from the loaded dictionary, per jieba
# version); jieba's own segmentation code runs on it, so the tokens are the same (tested).


class _FrequencyLookup:
    """jieba's ``FREQ`` mapping, read from the SQLite copy one word at a time (memoised)."""

    def __init__(self, path: Path) -> None:
        import sqlite3

        self._con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._memo: dict[str, int | None] = {}
        self.total = int(self._con.execute("SELECT f FROM meta WHERE k = 'total'").fetchone()[0])

    def get(self, word: str, default: Any = None) -> Any:
        with self._lock:
            if word not in self._memo:
                row = self._con.execute("SELECT f FROM freq WHERE w = ?", (word,)).fetchone()
                self._memo[word] = None if row is None else int(row[0])
            value = self._memo[word]
        return default if value is None else value

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.get(word) is not None

    def __getitem__(self, word: str) -> int:
        value = self.get(word)
        if value is None:
            raise KeyError(word)
        return int(value)


@functools.cache
def _jieba_version() -> str:
    from importlib.metadata import version

    return version("jieba")


def _frequency_file() -> Path:
    from memesearch.utils.cache import default_cache_dir

    return default_cache_dir() / "jieba" / f"freq-{_jieba_version()}-{JIEBA_LOOKUP_VERSION}.sqlite"


def _write_frequency_file(base: jieba.Tokenizer, path: Path) -> None:
    import os
    import sqlite3
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        with con:
            con.execute("CREATE TABLE freq (w TEXT PRIMARY KEY, f INTEGER NOT NULL) WITHOUT ROWID")
            con.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, f INTEGER NOT NULL)")
            con.executemany("INSERT INTO freq VALUES (?, ?)", base.FREQ.items())
            con.execute("INSERT INTO meta VALUES ('total', ?)", (int(base.total),))
        con.close()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _jieba_lookup_tokenizer() -> jieba.Tokenizer:
    """A jieba tokenizer whose dictionary is read on demand (the default word list only)."""
    path = _frequency_file()
    with _JIEBA_LOCK:
        tok = _JIEBA_LOOKUP.get(str(path))
    if tok is not None:
        return tok
    if not path.is_file():
        base = _jieba_tokenizer(())
        try:
            _write_frequency_file(base, path)
        except OSError as exc:  # a read-only cache: this process uses the loaded dictionary
            logger.info("cannot write jieba's dictionary copy %s (%s)", path, exc)
            return base
    import jieba

    freq = _FrequencyLookup(path)
    tok = jieba.Tokenizer()
    tok.FREQ, tok.total, tok.initialized = freq, freq.total, True
    with _JIEBA_LOCK:
        return _JIEBA_LOOKUP.setdefault(str(path), tok)


# --- tokeniser --------------------------------------------------------------------------------------------


def _stopword_set(languages: Iterable[str], lowercase: bool) -> frozenset[str]:
    if not languages:
        return frozenset()
    from bm25s import stopwords as sw

    lists = {"en": sw.STOPWORDS_EN, "zh": sw.STOPWORDS_CHINESE}
    words: set[str] = set()
    for lang in languages:
        for w in lists[lang]:
            words.add(normalize_text(w, lowercase=lowercase).replace("'", ""))
    return frozenset(words)


class Tokenizer:
    """Callable tokeniser for one :class:`TextConfig`; cheap to create, jieba loads on first Han text.

    >>> tok = Tokenizer(TextConfig(stopwords=("en",)))
    >>> tok("The cat is ON the mat")
    ['cat', 'mat']
    """

    def __init__(self, config: TextConfig | None = None, *, lookup: bool = False) -> None:
        self.config = config or TextConfig()
        self._stopwords = _stopword_set(self.config.stopwords, self.config.lowercase)
        # lookup: read jieba's dictionary on demand instead of loading it (for queries: a few words each)
        self.lookup = lookup and not self.config.user_words

    def __repr__(self) -> str:
        return f"Tokenizer({self.config!r})"

    def _han(self, run: str) -> list[str]:
        jb = _jieba_lookup_tokenizer() if self.lookup else _jieba_tokenizer(self.config.user_words)
        if self.config.jieba_mode == "search":
            words = jb.lcut_for_search(run, HMM=self.config.hmm)
        else:
            words = jb.lcut(run, HMM=self.config.hmm)
        return [w for w in (w.strip() for w in words) if w]

    def __call__(self, text: str) -> list[str]:
        """The index terms of ``text`` in order (duplicates kept: BM25 counts them)."""
        if not isinstance(text, str):
            raise TypeError(f"expected a string to tokenise, got {type(text).__name__}")
        norm = normalize_text(text, lowercase=self.config.lowercase)
        tokens: list[str] = []
        for m in _TOKEN_RE.finditer(norm):
            kind = m.lastgroup
            piece = m.group()
            if kind == "han":
                tokens.extend(self._han(piece))
            elif kind == "emoji":
                if self.config.keep_emoji:
                    emoji = _STRIP_FROM_EMOJI.sub("", piece)
                    if emoji:
                        tokens.append(emoji)
            else:
                tokens.append(piece.replace("'", ""))
        if self._stopwords:
            tokens = [t for t in tokens if t not in self._stopwords]
        return tokens

    def tokenize_many(self, texts: Sequence[str]) -> list[list[str]]:
        """Tokenise each text (see :meth:`__call__`)."""
        return [self(t) for t in texts]


_DEFAULT_TOKENIZERS: dict[TextConfig, Tokenizer] = {}


def tokenize(text: str, config: TextConfig | None = None) -> list[str]:
    """Tokenise ``text`` with ``config`` (default :class:`TextConfig`). See the module docstring."""
    cfg = config or TextConfig()
    tok = _DEFAULT_TOKENIZERS.get(cfg)
    if tok is None:
        tok = _DEFAULT_TOKENIZERS.setdefault(cfg, Tokenizer(cfg))
    return tok(text)


def require_query(text: str, *, what: str = "query") -> str:
    """Return ``text`` unchanged, or raise :class:`EmptyQueryError` when it is empty or whitespace."""
    if not isinstance(text, str):
        raise EmptyQueryError(f"{what} must be a string, got {type(text).__name__}")
    if is_blank(text):
        raise EmptyQueryError(f"{what} is empty ({text!r}); give at least one word, character or emoji")
    return text
