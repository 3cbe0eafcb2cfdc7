"""The tokens of passages, kept on disk between processes (:class:`TokenCache`).

A search process builds its BM25 collection (:class:`~memesearch.models.lexical_live.LiveLexicon`) from the
index's passages; tokenising them means loading jieba's dictionary (0.5-2 s on 2 cores) and segmenting
every Chinese passage, in every ``memesearch search``. The tokens of a passage depend only on its text and
the tokeniser, so they are cached in the user cache (``<cache>/tokens/<key>.json``: one file per tokeniser
config, jieba version and :data:`TOKENS_VERSION`; entries keyed by the SHA-256 of the passage). With every
passage found there, a search loads jieba only when the query itself has Chinese characters.

Example::

    >>> cache = TokenCache(Tokenizer(), directory=tmp)                  # doctest: +SKIP
    >>> cache.tokenize_many(["今天又是加班的一天", "happy friday"])       # doctest: +SKIP
    [['今天', '又', '是', '加班', '的', '一天'], ['happy', 'friday']]
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from memesearch.text import Tokenizer
from memesearch.utils.cache import default_cache_dir

log = logging.getLogger(__name__)

#: bump when the tokeniser's rules change without a change of its config
TOKENS_VERSION = 1
#: passages kept per file at most (past that, new passages are tokenised but not added)
MAX_ENTRIES = 500_000


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class TokenCache:
    """Passage tokens of one :class:`~memesearch.text.Tokenizer`, read from and written to the user cache."""

    def __init__(self, tokenizer: Tokenizer, directory: str | Path | None = None) -> None:
        from importlib.metadata import PackageNotFoundError, version

        self.tokenizer = tokenizer
        try:
            jieba_version = version("jieba")
        except PackageNotFoundError:
            jieba_version = "none"
        ident = {"text": tokenizer.config.to_dict(), "jieba": jieba_version, "version": TOKENS_VERSION}
        key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode("utf-8")).hexdigest()[:24]
        base = Path(directory) if directory is not None else default_cache_dir()
        self.path = base / "tokens" / f"{key}.json"
        self._table: dict[str, list[str]] | None = None

    def _load(self) -> dict[str, list[str]]:
        if self._table is None:
            table: dict[str, list[str]] = {}
            if self.path.is_file():
                try:
                    data = json.loads(self.path.read_text(encoding="utf-8"))
                    table = dict(data["tokens"])
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    log.warning("ignoring an unreadable token cache %s (%s)", self.path, exc)
            self._table = table
        return self._table

    def tokenize_many(self, texts: Sequence[str]) -> list[list[str]]:
        """The tokens of each text: from the cache, else tokenised (and the cache file rewritten)."""
        table = self._load()
        out: list[list[str]] = []
        added = 0
        for text in texts:
            key = _digest(text)
            tokens = table.get(key)
            if tokens is None:
                tokens = self.tokenizer(text)
                if len(table) < MAX_ENTRIES:
                    table[key] = tokens
                    added += 1
            out.append(list(tokens))
        if added:
            self._save(table)
        return out

    def _save(self, table: dict[str, list[str]]) -> None:
        from memesearch.utils.io import atomic_open

        try:
            with atomic_open(self.path, "w") as fh:
                json.dump({"version": TOKENS_VERSION, "tokens": table}, fh, ensure_ascii=False)
        except OSError as exc:  # a read-only cache: the next process tokenises again
            log.info("cannot write the token cache %s (%s)", self.path, exc)
