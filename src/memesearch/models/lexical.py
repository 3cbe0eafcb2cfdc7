"""The lexical branch: BM25 over each item's caption + OCR text, for exact phrases dense models miss.

Scoring is done by the ``bm25s`` library (sparse, precomputed per-term scores); tokenisation is ours
(:mod:`memesearch.text`: jieba for Chinese, word runs for English, emoji as tokens), the same for items
and queries.

Definitions (``k1``, ``b`` and ``method`` in :class:`BM25Config`, defaults k1=1.5, b=0.75, "lucene")::

    idf(t)  = ln(1 + (N - df_t + 0.5) / (df_t + 0.5))                       # "lucene"
            = max(0, ln((N - df_t + 0.5) / (df_t + 0.5)))                   # "robertson"
    bm25(q, d) = Σ_{t ∈ terms(q)} idf(t) · tf_{t,d} / (tf_{t,d} + k1 · (1 - b + b · |d| / avgdl))

``terms(q)`` are the query's *distinct* tokens (a repeated query word does not count twice); ``N``,
``df`` and ``avgdl`` are taken over the items that have lexical text.

Items without lexical text (no caption and no OCR, or text with no index terms, e.g. only punctuation)
are explicit: they are not part of the BM25 collection (they change neither ``N`` nor ``avgdl``) and
their score is ``NaN`` — "no opinion", not "no match". :mod:`memesearch.models.fusion` decides what a
missing score does in a fused ranking. Items with text that share no term with the query score 0.

Calibration to [0, 1] per query (``calibration`` in :class:`BM25Config`), so that BM25 can be mixed with
cosine scores:

- ``"ideal"`` (default): ``min(1, bm25(q, d) / bm25(q, d*))`` where ``d*`` is the ideal document made of
  exactly the query's distinct terms, each once, scored with this collection's statistics (a term no item
  contains gets ``df = 0``). 1.0 means "matches as well as a text that is exactly the query"; a match on
  one common word of a long query stays low. It does not depend on the other items' scores.
- ``"max"``: ``bm25(q, d) / max_d' bm25(q, d')`` over the collection (the best match always gets 1.0,
  however weak it is).

Adding or removing items rebuilds the BM25 statistics from the stored tokens (idf and avgdl are global,
so any change touches every score); only new texts are tokenised again.

Example::

    >>> index = LexicalIndex().build(["a", "b", "c"], ["今天又是加班的一天", "happy friday", None])
    >>> [item for item, _ in index.search("加班", k=5)]
    ['a']
    >>> index.score(["friday"]).round(2)  # (Q, N); NaN: item "c" has no text
    array([[0.  , 0.85,  nan]], dtype=float32)
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from memesearch.errors import ConfigError, DataFormatError, MemesearchError
from memesearch.text import EmptyQueryError, TextConfig, Tokenizer, is_blank, require_query

if TYPE_CHECKING:  # pragma: no cover
    import bm25s

    from memesearch.data.records import Item

logger = logging.getLogger(__name__)


def _bm25s() -> Any:
    """Import bm25s; it sets its own logger to DEBUG at import, which would print through any root
    handler, so put it back to WARNING."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


BM25Method = Literal["lucene", "robertson"]
Calibration = Literal["ideal", "max"]
FORMAT_NAME = "memesearch-lexical"
FORMAT_VERSION = 1
_MANIFEST = "lexical.json"
_TOKENS = "tokens.jsonl"
_BM25_DIR = "bm25s"


class UnknownItemError(MemesearchError):
    """An item id is not in the index."""


@dataclass(frozen=True, slots=True)
class BM25Config:
    """Parameters of the lexical branch (see the module docstring for the formulas)."""

    k1: float = 1.5
    b: float = 0.75
    method: BM25Method = "lucene"
    calibration: Calibration = "ideal"
    text: TextConfig = field(default_factory=TextConfig)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.k1) and self.k1 >= 0):
            raise ConfigError(f"BM25 k1 must be a finite number >= 0, got {self.k1!r}")
        if not (0.0 <= self.b <= 1.0):
            raise ConfigError(f"BM25 b must be in [0, 1], got {self.b!r}")
        if self.method not in ("lucene", "robertson"):
            raise ConfigError(f"BM25 method must be 'lucene' or 'robertson', got {self.method!r}")
        if self.calibration not in ("ideal", "max"):
            raise ConfigError(f"BM25 calibration must be 'ideal' or 'max', got {self.calibration!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "k1": self.k1,
            "b": self.b,
            "method": self.method,
            "calibration": self.calibration,
            "text": self.text.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BM25Config:
        data = dict(data)
        text = TextConfig.from_dict(data.pop("text", {}))
        known = {"k1", "b", "method", "calibration"}
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigError(f"unknown BM25 config key(s) {extra}; valid keys: {sorted(known | {'text'})}")
        return cls(text=text, **data)


def lexical_text(item: Item) -> str | None:
    """The text the lexical branch indexes for ``item``: its captions and OCR text, or ``None``."""
    return item.passage() or None


def idf(df: int, n_docs: int, method: BM25Method) -> float:
    """Inverse document frequency of a term found in ``df`` of ``n_docs`` documents (module docstring)."""
    ratio = (n_docs - df + 0.5) / (df + 0.5)
    if method == "lucene":
        return math.log(1.0 + ratio)
    return math.log(max(ratio, 1.0))  # robertson, clamped at 0 as bm25s does


def _show_progress(n: int, show: bool | None) -> bool:
    if show is not None:
        return show
    return n >= 5000 and sys.stderr.isatty()


class LexicalIndex:
    """BM25 index over item texts; items keep the order they were added in.

    Build with :meth:`build` (or :meth:`from_items`), query with :meth:`search` (top-k for one query) or
    :meth:`score` (a dense (Q, N) matrix for evaluation and fusion), persist with :meth:`save` /
    :meth:`load`. Queries that are empty or whitespace raise :class:`~memesearch.text.EmptyQueryError`;
    a query with no index terms (e.g. only punctuation) scores 0 everywhere.
    """

    def __init__(self, config: BM25Config | None = None) -> None:
        self.config = config or BM25Config()
        self._tokenizer = Tokenizer(self.config.text)
        self._item_ids: list[str] = []
        self._pos: dict[str, int] = {}
        # per item: its index terms, or None when it has no lexical text
        self._tokens: list[list[str] | None] = []
        self._doc_items = np.zeros(0, dtype=np.int64)  # (D,) item position of each BM25 document
        self._df: Counter[str] = Counter()
        self._avgdl = 0.0
        self._bm25: bm25s.BM25 | None = None

    # --- building -----------------------------------------------------------------------------------------

    @property
    def item_ids(self) -> list[str]:
        """Item ids in index order (the columns of :meth:`score`)."""
        return list(self._item_ids)

    def __len__(self) -> int:
        return len(self._item_ids)

    @property
    def has_text(self) -> np.ndarray:
        """(N,) bool: which items have lexical text (the others always score NaN)."""
        return np.array([bool(t) for t in self._tokens], dtype=bool)

    @property
    def n_docs(self) -> int:
        """Number of items with lexical text (the BM25 collection size N)."""
        return len(self._doc_items)

    @property
    def avgdl(self) -> float:
        """Mean number of terms per item with lexical text."""
        return self._avgdl

    def tokens(self, item_id: str) -> list[str] | None:
        """The index terms of an item (``None`` when it has no lexical text)."""
        toks = self._tokens[self._position(item_id)]
        return list(toks) if toks else None

    def build(
        self, item_ids: Sequence[str], texts: Sequence[str | None], *, show_progress: bool | None = None
    ) -> LexicalIndex:
        """Index ``texts[i]`` as the text of ``item_ids[i]``, replacing any previous content.

        ``None`` or blank texts mark items without lexical text. Returns ``self``.
        """
        self._check_new(item_ids, texts, existing=set())
        tokens = self._tokenize(texts, show_progress)
        self._item_ids = list(item_ids)
        self._pos = {item: i for i, item in enumerate(self._item_ids)}
        self._tokens = tokens
        self._rebuild()
        return self

    @classmethod
    def from_items(
        cls, items: Iterable[Item], config: BM25Config | None = None, *, show_progress: bool | None = None
    ) -> LexicalIndex:
        """Index the captions + OCR text of ``items`` (see :func:`lexical_text`)."""
        items = list(items)
        return cls(config).build(
            [it.id for it in items], [lexical_text(it) for it in items], show_progress=show_progress
        )

    def add(
        self,
        item_ids: Sequence[str],
        texts: Sequence[str | None],
        *,
        replace: bool = False,
        show_progress: bool | None = None,
    ) -> None:
        """Add items (appended at the end); with ``replace=True`` known ids get their new text in place.

        The BM25 statistics are rebuilt from the stored tokens; only the new texts are tokenised.
        """
        existing = set() if replace else set(self._pos)
        self._check_new(item_ids, texts, existing=existing)
        new_tokens = self._tokenize(texts, show_progress)
        for item, toks in zip(item_ids, new_tokens, strict=True):
            pos = self._pos.get(item)
            if pos is None:
                self._pos[item] = len(self._item_ids)
                self._item_ids.append(item)
                self._tokens.append(toks)
            else:
                self._tokens[pos] = toks
        self._rebuild()

    def remove(self, item_ids: Iterable[str]) -> None:
        """Remove items by id (unknown ids raise :class:`UnknownItemError`); rebuilds the statistics."""
        drop = {self._position(item) for item in item_ids}
        keep = [i for i in range(len(self._item_ids)) if i not in drop]
        self._item_ids = [self._item_ids[i] for i in keep]
        self._tokens = [self._tokens[i] for i in keep]
        self._pos = {item: i for i, item in enumerate(self._item_ids)}
        self._rebuild()

    def _check_new(self, item_ids: Sequence[str], texts: Sequence[str | None], existing: set[str]) -> None:
        if isinstance(item_ids, str) or isinstance(texts, str):
            raise TypeError("item_ids and texts must be sequences (lists), not single strings")
        if len(item_ids) != len(texts):
            raise ValueError(f"got {len(item_ids)} item ids but {len(texts)} texts; give one text per item")
        seen: set[str] = set()
        for i, (item, text) in enumerate(zip(item_ids, texts, strict=True)):
            if not isinstance(item, str) or not item:
                raise DataFormatError(f"item id must be a non-empty string, got {item!r}", record=str(i))
            if item in seen or item in existing:
                raise DataFormatError(
                    f"duplicate item id {item!r}",
                    record=str(i),
                    hint="item ids must be unique; use add(..., replace=True) to change an item's text",
                )
            seen.add(item)
            if text is not None and not isinstance(text, str):
                raise DataFormatError(
                    f"text of item {item!r} must be a string or None, got {type(text).__name__}", record=item
                )

    def _tokenize(self, texts: Sequence[str | None], show_progress: bool | None) -> list[list[str] | None]:
        def one(text: str | None) -> list[str] | None:
            if text is None or is_blank(text):
                return None
            return self._tokenizer(text) or None  # text without index terms: no lexical text

        from memesearch.utils.io import progress_iter

        enabled = _show_progress(len(texts), show_progress)
        return [one(t) for t in progress_iter(texts, len(texts), "tokenising", enabled=enabled)]

    def _rebuild(self) -> None:
        bm25s = _bm25s()

        doc_items = [i for i, toks in enumerate(self._tokens) if toks]
        self._doc_items = np.asarray(doc_items, dtype=np.int64)
        corpus = [self._tokens[i] or [] for i in doc_items]
        self._df = Counter(t for toks in corpus for t in set(toks))
        self._avgdl = float(np.mean([len(toks) for toks in corpus])) if corpus else 0.0
        if not corpus:
            self._bm25 = None
            return
        bm25 = bm25s.BM25(k1=self.config.k1, b=self.config.b, method=self.config.method)
        bm25.index(corpus, show_progress=False)
        self._bm25 = bm25
        logger.debug("BM25 index: %d items, %d with text, %d terms", len(self), len(corpus), len(self._df))

    # --- scoring ------------------------------------------------------------------------------------------

    def _position(self, item_id: str) -> int:
        try:
            return self._pos[item_id]
        except KeyError:
            raise UnknownItemError(
                f"item {item_id!r} is not in the lexical index ({len(self)} items)"
            ) from None

    def query_terms(self, query: str) -> list[str]:
        """The distinct index terms of ``query`` in order of first appearance."""
        return list(dict.fromkeys(self._tokenizer(require_query(query))))

    def ideal_score(self, terms: Sequence[str]) -> float:
        """BM25 of the ideal document made of exactly ``terms`` (distinct), under this collection's stats."""
        if not terms or self.n_docs == 0:
            return 0.0
        k1, b = self.config.k1, self.config.b
        tfc = 1.0 / (1.0 + k1 * (1.0 - b + b * len(terms) / self._avgdl))
        return tfc * sum(idf(self._df.get(t, 0), self.n_docs, self.config.method) for t in terms)

    def _raw_doc_scores(self, terms: Sequence[str]) -> np.ndarray:
        """(D,) float64 BM25 of every document with text for the distinct ``terms``."""
        assert self._bm25 is not None
        vocab = self._bm25.vocab_dict
        ids = [vocab[t] for t in terms if t in vocab]
        if not ids:
            return np.zeros(self.n_docs, dtype=np.float64)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float64)

    def score_one(self, query: str, *, calibrated: bool = True) -> np.ndarray:
        """(N,) float32 scores of every item for ``query``; NaN for items without lexical text."""
        terms = self.query_terms(query)
        out = np.full(len(self), np.nan, dtype=np.float64)
        if self.n_docs == 0:
            return out.astype(np.float32)
        doc = self._raw_doc_scores(terms)  # (D,)
        if calibrated:
            if self.config.calibration == "ideal":
                denom = self.ideal_score(terms)
            else:
                denom = float(doc.max(initial=0.0))
            doc = np.minimum(doc / denom, 1.0) if denom > 0 else np.zeros_like(doc)
        out[self._doc_items] = doc
        return out.astype(np.float32)

    def score(
        self, queries: Sequence[str], item_ids: Sequence[str] | None = None, *, calibrated: bool = True
    ) -> np.ndarray:
        """(Q, N) float32 score matrix for evaluation and fusion; NaN where an item has no lexical text.

        ``item_ids`` selects and orders the columns (default: all items in index order); ``calibrated``
        maps each query's scores to [0, 1] (``config.calibration``), else raw BM25.
        """
        if isinstance(queries, str):
            raise TypeError("score() takes a sequence of queries; use score_one() or search() for one")
        cols = None if item_ids is None else np.array([self._position(i) for i in item_ids], dtype=np.int64)
        n_cols = len(self) if cols is None else len(cols)
        out = np.empty((len(queries), n_cols), dtype=np.float32)
        for qi, query in enumerate(queries):
            try:
                row = self.score_one(query, calibrated=calibrated)
            except EmptyQueryError as exc:
                raise EmptyQueryError(f"query #{qi}: {exc}") from exc
            out[qi] = row if cols is None else row[cols]
        return out

    def search(self, query: str, k: int = 10, *, calibrated: bool = True) -> list[tuple[str, float]]:
        """Top-``k`` items sharing at least one term with ``query``, best first, as ``(item_id, score)``.

        Items with score 0 (no shared term) and items without text are not returned, so the list may be
        shorter than ``k``. Ties keep index order.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        scores = self.score_one(query, calibrated=calibrated).astype(np.float64)
        hits = np.flatnonzero(np.nan_to_num(scores, nan=0.0) > 0)
        order = hits[np.argsort(-scores[hits], kind="stable")][:k]
        return [(self._item_ids[i], float(scores[i])) for i in order]

    # --- persistence --------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the index to directory ``path`` (replaced atomically): manifest JSON, tokens, bm25s files.

        Nothing is pickled: the manifest and tokens are JSON, the BM25 matrix is bm25s's own ``.npy``
        files saved with ``allow_pickle=False``.
        """
        bm25s = _bm25s()
        import jieba

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            manifest = {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "config": self.config.to_dict(),
                "item_ids": self._item_ids,
                "n_docs": self.n_docs,
                "avgdl": self._avgdl,
                "libraries": {"bm25s": bm25s.__version__, "jieba": jieba.__version__},
            }
            (tmp / _MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
            with open(tmp / _TOKENS, "w", encoding="utf-8") as f:
                for toks in self._tokens:
                    f.write(json.dumps(toks, ensure_ascii=False) + "\n")
            if self._bm25 is not None:
                self._bm25.save(str(tmp / _BM25_DIR), show_progress=False, allow_pickle=False)
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.old-{os.getpid()}")
                os.replace(path, old)
            os.replace(tmp, path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path) -> LexicalIndex:
        """Load an index written by :meth:`save`."""
        bm25s = _bm25s()
        import jieba

        path = Path(path)
        manifest_path = path / _MANIFEST
        if not manifest_path.is_file():
            raise DataFormatError(
                "not a lexical index directory (no lexical.json)",
                path=path,
                hint="write one with LexicalIndex.save()",
            )
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"invalid JSON: {exc.msg}", path=manifest_path, line=exc.lineno) from exc
        if manifest.get("format") != FORMAT_NAME or manifest.get("version") != FORMAT_VERSION:
            raise DataFormatError(
                f"expected format {FORMAT_NAME!r} version {FORMAT_VERSION}, got "
                f"{manifest.get('format')!r} version {manifest.get('version')!r}",
                path=manifest_path,
            )
        libs = manifest.get("libraries", {})
        if libs.get("jieba") != jieba.__version__:
            logger.warning(
                "lexical index %s was tokenised with jieba %s, this is jieba %s: Chinese query terms may "
                "not match; rebuild the index",
                path,
                libs.get("jieba"),
                jieba.__version__,
            )
        index = cls(BM25Config.from_dict(manifest["config"]))
        item_ids: list[str] = manifest["item_ids"]
        tokens: list[list[str] | None] = []
        with open(path / _TOKENS, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                try:
                    toks = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataFormatError(
                        f"invalid JSON: {exc.msg}", path=path / _TOKENS, line=lineno
                    ) from exc
                if toks is not None and not (
                    isinstance(toks, list) and all(isinstance(t, str) for t in toks)
                ):
                    raise DataFormatError(
                        "expected a list of strings or null", path=path / _TOKENS, line=lineno
                    )
                tokens.append(toks or None)
        if len(tokens) != len(item_ids):
            raise DataFormatError(f"{len(tokens)} token lines for {len(item_ids)} items", path=path / _TOKENS)
        index._item_ids = item_ids
        index._pos = {item: i for i, item in enumerate(item_ids)}
        index._tokens = tokens
        doc_items = [i for i, toks in enumerate(tokens) if toks]
        index._doc_items = np.asarray(doc_items, dtype=np.int64)
        index._df = Counter(t for i in doc_items for t in set(tokens[i] or []))
        index._avgdl = float(np.mean([len(tokens[i] or []) for i in doc_items])) if doc_items else 0.0
        if doc_items:
            bm25_dir = path / _BM25_DIR
            if not bm25_dir.is_dir():
                raise DataFormatError("missing the bm25s/ folder of an index with text", path=path)
            index._bm25 = bm25s.BM25.load(str(bm25_dir), allow_pickle=False, show_progress=False)
            if index._bm25.scores["num_docs"] != len(doc_items):
                raise DataFormatError(
                    f"bm25s index holds {index._bm25.scores['num_docs']} documents, the tokens "
                    f"{len(doc_items)}",
                    path=bm25_dir,
                    hint="the directory is corrupt; rebuild and save the index",
                )
        return index
