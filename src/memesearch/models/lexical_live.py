"""BM25 that follows a live index: documents are added and removed one batch at a time, nothing is rebuilt.

:class:`~memesearch.models.lexical.LexicalIndex` (``bm25s``: per-term scores precomputed over the whole
collection) is the right tool for a fixed split; a search index that changes after every ``memesearch
index`` run would have to rebuild it — tokenising and scoring every document again, ~4–5 s at a million
items. :class:`LiveLexicon` keeps an inverted index instead — per term the documents holding it and their
term frequencies — and the collection statistics (``N``, the total length, ``df`` per term) as running
counts. Adding a document tokenises that document only; removing one marks it dead and subtracts its
counts; a query reads the postings of its terms and applies the same formulas as ``LexicalIndex``
(:mod:`memesearch.models.lexical`: BM25 ``lucene`` or ``robertson``, the ``ideal`` or ``max``
calibration), so both give the same scores for the same documents (tested). Dead postings are dropped
when they outnumber the live ones.

Documents are named by integer keys (the index's rowids). Example::

    >>> lex = LiveLexicon()
    >>> lex.add([1, 2], ["今天又是加班的一天", "happy friday"])
    >>> keys, scores = lex.score_docs("friday")
    >>> dict(zip(keys.tolist(), scores.round(2).tolist()))
    {1: 0.0, 2: 0.85}
    >>> lex.remove([2]); lex.n_docs
    1
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from memesearch.models.lexical import BM25Config, idf
from memesearch.models.lexical_tokens import TokenCache
from memesearch.text import Tokenizer, is_blank, require_query


class _Postings:
    """One term's postings: document slots and term frequencies (append-only lists, arrays on demand)."""

    __slots__ = ("_arrays", "slots", "tfs")

    def __init__(self) -> None:
        self.slots: list[int] = []
        self.tfs: list[int] = []
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def append(self, slot: int, tf: int) -> None:
        self.slots.append(slot)
        self.tfs.append(tf)
        self._arrays = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None:
            self._arrays = (np.asarray(self.slots, dtype=np.int64), np.asarray(self.tfs, dtype=np.float64))
        return self._arrays


class LiveLexicon:
    """An incrementally maintained BM25 collection over integer document keys (module docstring)."""

    def __init__(self, config: BM25Config | None = None, *, token_cache: bool = False) -> None:
        self.config = config or BM25Config()
        self._tokenizer = Tokenizer(self.config.text)
        # passages' tokens kept between processes (models.lexical_tokens): no jieba for a known passage
        self._token_cache: TokenCache | None = TokenCache(self._tokenizer) if token_cache else None
        # and queries read jieba's dictionary on demand (memesearch.text): no dictionary load per process
        self._query_tokenizer = Tokenizer(self.config.text, lookup=True) if token_cache else self._tokenizer
        self._postings: dict[str, _Postings] = {}
        self._df: Counter[str] = Counter()
        self._keys: list[int] = []  # slot -> document key
        self._lengths: list[int] = []  # slot -> number of terms
        self._terms: list[Counter[str] | None] = []  # slot -> its term counts (None once removed)
        self._slot: dict[int, int] = {}  # live document key -> slot
        self._total_length = 0
        self._dead = 0
        self._live: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (slots, keys, lengths)

    # ---- collection ----------------------------------------------------------------------------

    @property
    def n_docs(self) -> int:
        """Live documents with at least one index term (the BM25 collection size ``N``)."""
        return len(self._slot)

    @property
    def avgdl(self) -> float:
        """Mean number of terms per live document."""
        return self._total_length / len(self._slot) if self._slot else 0.0

    def __contains__(self, key: int) -> bool:
        return int(key) in self._slot

    def add(self, keys: Sequence[int], texts: Sequence[str | None]) -> None:
        """Add (or replace) documents; texts without index terms add nothing (the key has no lexical text)."""
        if len(keys) != len(texts):
            raise ValueError(f"got {len(keys)} keys but {len(texts)} texts; give one text per key")
        self._live = None
        replaced = [int(k) for k in keys if int(k) in self._slot]
        if replaced:
            self.remove(replaced)
        present = [str(t) for t in texts if t is not None and not is_blank(t)]
        if self._token_cache is not None:
            tokenized = iter(self._token_cache.tokenize_many(present))
        else:
            tokenized = iter(self._tokenizer(t) for t in present)
        for key, text in zip(keys, texts, strict=True):
            tokens = next(tokenized) if text is not None and not is_blank(text) else []
            if not tokens:
                continue
            counts = Counter(tokens)
            slot = len(self._keys)
            self._keys.append(int(key))
            self._lengths.append(len(tokens))
            self._terms.append(counts)
            self._slot[int(key)] = slot
            self._total_length += len(tokens)
            for term, tf in counts.items():
                self._df[term] += 1
                postings = self._postings.get(term)
                if postings is None:
                    postings = self._postings[term] = _Postings()
                postings.append(slot, tf)

    def remove(self, keys: Iterable[int]) -> None:
        """Remove documents by key (unknown keys are ignored: they had no lexical text)."""
        self._live = None
        for key in keys:
            slot = self._slot.pop(int(key), None)
            if slot is None:
                continue
            counts = self._terms[slot]
            assert counts is not None
            for term in counts:
                self._df[term] -= 1
                if self._df[term] <= 0:
                    del self._df[term]
            self._total_length -= self._lengths[slot]
            self._terms[slot] = None
            self._dead += 1
        if self._dead > max(1024, len(self._slot)):
            self._compact()

    def _compact(self) -> None:
        """Rebuild the postings from the live documents only (their term counts are kept)."""
        live = [(key, self._terms[slot]) for key, slot in sorted(self._slot.items(), key=lambda kv: kv[1])]
        self._postings, self._keys, self._lengths, self._terms, self._slot = {}, [], [], [], {}
        for key, counts in live:
            assert counts is not None
            slot = len(self._keys)
            self._keys.append(key)
            self._lengths.append(sum(counts.values()))
            self._terms.append(counts)
            self._slot[key] = slot
            for term, tf in counts.items():
                postings = self._postings.get(term)
                if postings is None:
                    postings = self._postings[term] = _Postings()
                postings.append(slot, tf)
        self._dead = 0

    # ---- scoring -------------------------------------------------------------------------------

    def query_terms(self, query: str) -> list[str]:
        """The distinct index terms of ``query`` in order of first appearance."""
        return list(dict.fromkeys(self._query_tokenizer(require_query(query))))

    def _idf(self, term: str) -> float:
        return idf(self._df.get(term, 0), self.n_docs, self.config.method)

    def _tf_norm(self, tf: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        k1, b = self.config.k1, self.config.b
        out: np.ndarray = tf / (tf + k1 * (1.0 - b + b * lengths / self.avgdl))
        return out

    def ideal_score(self, terms: Sequence[str]) -> float:
        """BM25 of the document made of exactly ``terms`` (distinct), under the current statistics."""
        if not terms or not self._slot:
            return 0.0
        norm = float(self._tf_norm(np.ones(1), np.full(1, float(len(terms))))[0])
        return norm * sum(self._idf(t) for t in terms)

    def score_docs(self, query: str, *, calibrated: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(keys (D,), scores (D,))`` of every live document for ``query`` (0 = no shared term), calibrated
        to [0, 1] as ``BM25Config.calibration`` says."""
        terms = self.query_terms(query)
        if self._live is None:
            slots = np.fromiter(self._slot.values(), dtype=np.int64, count=len(self._slot))
            keys = np.fromiter(self._slot.keys(), dtype=np.int64, count=len(self._slot))
            self._live = (slots, keys, np.asarray(self._lengths, dtype=np.float64))
        slots, keys, lengths = self._live
        if not slots.size:
            return keys, np.zeros(0, dtype=np.float64)
        raw = np.zeros(len(self._keys), dtype=np.float64)
        for term in terms:
            postings = self._postings.get(term)
            if postings is None:
                continue
            where, tf = postings.arrays()
            raw[where] += self._idf(term) * self._tf_norm(tf, lengths[where])
        doc = raw[slots]
        if calibrated:
            ideal = self.config.calibration == "ideal"
            denom = self.ideal_score(terms) if ideal else float(doc.max(initial=0.0))
            doc = np.minimum(doc / denom, 1.0) if denom > 0 else np.zeros_like(doc)
        return keys, doc
