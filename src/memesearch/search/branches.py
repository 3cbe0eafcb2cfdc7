"""The branches of search: each one proposes candidates for a query and scores given items.

A :class:`Branch` is one way an item can match a query (SPEC §2.2):

* ``image`` — the query embedding vs the item embedding (for the starter model the item side went
  through its emotion gate at index time);
* ``text`` — the query embedding vs the embedding of the item's *passage*: its context texts (captions,
  then OCR; :func:`memesearch.data.records.context_texts`) joined by newlines, embedded once as a
  ``passage``. Items without text have no score (NaN). Evaluation (``memesearch evaluate``) uses the
  same definition (:func:`memesearch.data.records.context_passage`);
* ``lexical`` — BM25 over the same passage (jieba for Chinese), calibrated per query to [0, 1];
* ``emotion`` — the query's emotions (the bilingual tagger on the query embedding) against the item's
  emotion tags; items without tags have no score;
* ``objects`` — the query embedding vs the item's region vectors (an index built with ``--objects``): the
  best region, fused with the global image score (:class:`ObjectsBranch`).

:data:`BRANCHES` lists the names in display order; every table, schema and page that shows per-branch
scores reads it. A branch never decides the final order: :class:`~memesearch.search.searcher.Searcher`
unions the candidates, scores every candidate with every branch and fuses the scores.

Example::

    >>> branches = build_branches(Index.open("memes.idx"))                   # doctest: +SKIP
    >>> vec = branches["text"].index.encoder.encode_text(["so sleepy"], kind="query")[0]
    >>> q = SearchQuery("so sleepy", vec)                          # image_vector: see query_vectors()
    >>> rows = branches["text"].candidates(q, 10)
    >>> branches["text"].score([q], rows)                                    # (1, 10) cosines, NaN = no text
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from memesearch.errors import MemesearchError
from memesearch.index.config import BEST_POOLINGS, BRANCHES
from memesearch.index.records import IndexedItem

logger = logging.getLogger(__name__)


@dataclass
class SearchQuery:
    """A query as the branches see it: its text (None for an image query) and its embeddings.

    ``vector`` ``(dim,)`` is the query in the encoder's text space (``encode_text(kind="query")``; the text
    and emotion branches read it), or the image embedding of an image query. ``image_vector`` is the query
    for the image branch when the encoder has its own image-branch query tower (``encode_image_queries``:
    a trained CLIP4Meme run's QI tower); None = ``vector`` serves the image branch too.
    """

    text: str | None
    vector: np.ndarray
    image_vector: np.ndarray | None = None

    def vector_for(self, field: str) -> np.ndarray:
        """The embedding that is compared with the index's ``field`` vectors."""
        if field == "image" and self.image_vector is not None:
            return self.image_vector
        return self.vector


def query_vectors(encoder: Any, texts: Sequence[str], *, batch_size: int = 256) -> list[SearchQuery]:
    """Text queries as the branches see them: one ``encode_text(kind="query")`` call for the text space, and
    one ``encode_image_queries`` call when the encoder has a separate image-branch query tower
    (``separate_image_queries``)."""
    texts = list(texts)
    vecs = encoder.encode_text(texts, kind="query", batch_size=batch_size)
    separate = getattr(encoder, "separate_image_queries", False) and texts
    ivecs = encoder.encode_image_queries(texts, batch_size=batch_size) if separate else None
    return [
        SearchQuery(t, v, None if ivecs is None else ivecs[i])
        for i, (t, v) in enumerate(zip(texts, vecs, strict=True))
    ]


@runtime_checkable
class Branch(Protocol):
    """One scoring branch over an index (see the module docstring)."""

    name: str
    #: whether the branch can score a query that is an image (only ``image`` can)
    image_queries: bool

    def candidates(self, query: SearchQuery, n: int) -> np.ndarray:
        """Up to ``n`` rowids this branch ranks highest for ``query``, best first."""
        ...

    def score(self, queries: Sequence[SearchQuery], rowids: np.ndarray) -> np.ndarray:
        """Scores ``(len(queries), len(rowids))``; NaN where the branch has nothing to say of an item."""
        ...

    def explain(self, query: SearchQuery, item: IndexedItem, score: float) -> str | None:
        """Why ``item`` scored ``score`` here, for people (None: nothing worth saying)."""
        ...


class VectorBranch:
    """A branch scored by the inner product of the query embedding with one vector field of the index."""

    image_queries = False

    def __init__(self, index: Any, name: str, field: str) -> None:
        self.index = index
        self.name = name
        self.field = field

    def candidates(self, query: SearchQuery, n: int) -> np.ndarray:
        rows: np.ndarray = self.index.nearest(self.field, query.vector_for(self.field), n)
        return rows

    def candidates_where(self, query: SearchQuery, n: int, where: Any) -> np.ndarray | None:
        """Up to ``n`` rowids among the items matching ``where`` (a ``RowFilter``), when the vector store
        filters itself (Milvus); None when it cannot (FAISS: the searcher filters :meth:`candidates`)."""
        rows: np.ndarray | None = self.index.nearest_where(self.field, query.vector_for(self.field), n, where)
        return rows

    def score(self, queries: Sequence[SearchQuery], rowids: np.ndarray) -> np.ndarray:
        qv = (
            np.stack([q.vector_for(self.field) for q in queries])
            if queries
            else np.zeros((0, self.index.dim), np.float32)
        )
        scores: np.ndarray = self.index.vector_scores(self.field, qv, rowids)
        return scores

    def explain(self, query: SearchQuery, item: IndexedItem, score: float) -> str | None:
        return None


class ImageBranch(VectorBranch):
    """Query vs item embedding; the only branch that also answers image queries.

    With a late-interaction encoder (an ``ief`` run: ``encoder.late_interaction``) the vector store only
    finds the candidates; a text query scores them by their stored tokens (``encoder.late_scores``, the
    arithmetic the run was trained and evaluated with; :mod:`memesearch.index.tokens`). An item whose
    tokens are missing (a cache row lost) keeps its vector score, with a warning.

    An animated item (several sampled frames) is scored by its best frame when the index's
    ``frame_pooling`` is ``best`` or ``best-textless`` (frames where OCR read text left out when a text-free
    frame exists; :mod:`memesearch.search.frames`); candidates still come from the mean vector.

    Item vectors carry the item's emotion words when the encoder gates them (the starter's QI gate): what
    a text query is trained to meet. An image query has no emotion words, so it is scored against the
    candidates' own image vectors, the gate undone (``encoder.ungate_items``,
    :mod:`memesearch.models.starter.gate`).
    """

    image_queries = True

    def __init__(self, index: Any) -> None:
        super().__init__(index, "image", "image")
        self.gated = hasattr(index.encoder, "encode_items")  # item vectors carry the item's emotions
        self.late = bool(getattr(index.encoder, "late_interaction", False))

    @property
    def best_frame(self) -> bool:
        """Whether animated items are scored by their best frame (the index's ``frame_pooling``)."""
        return not self.late and getattr(self.index.config, "frame_pooling", "mean") in BEST_POOLINGS

    def score(self, queries: Sequence[SearchQuery], rowids: np.ndarray) -> np.ndarray:
        texts = [q.text for q in queries]
        if not self.late or not queries or any(t is None for t in texts) or not len(rowids):
            image_queries = [i for i, q in enumerate(queries) if self.ungates(q)]
            if image_queries and len(rowids):
                # an image query meets the items' own image vectors, their emotion gate undone
                out = np.empty((len(queries), len(rowids)), dtype=np.float64)
                out[image_queries] = self._vector_scores([queries[i] for i in image_queries], rowids, True)
                rest = [i for i in range(len(queries)) if i not in image_queries]
                if rest:
                    out[rest] = self._vector_scores([queries[i] for i in rest], rowids, False)
                return out
            return self._vector_scores(queries, rowids, False)
        from memesearch.index.tokens import TOKENS_STAGE, token_key, token_version

        encoder = self.index.encoder
        items = self.index.items([int(r) for r in rowids])
        keys = {int(r): token_key(it.sha256, it.passage) for r, it in items.items()}
        blobs = self.index.cached(list(keys.values()), TOKENS_STAGE, token_version(encoder.config.to_dict()))
        have = [j for j, r in enumerate(rowids) if keys.get(int(r)) in blobs]
        scores = super().score(queries, rowids) if len(have) < len(rowids) else None
        if scores is None:
            scores = np.empty((len(queries), len(rowids)), dtype=np.float32)
        else:
            missing = len(rowids) - len(have)
            logger.warning("%d items have no stored tokens; they keep their vector score", missing)
        if have:
            mats = [encoder.tokens_from_bytes(blobs[keys[int(rowids[j])]]) for j in have]
            scores[:, have] = encoder.late_scores([str(t) for t in texts], mats)
        return scores

    def ungates(self, query: SearchQuery) -> bool:
        """Whether ``query`` meets the items' own image vectors, their emotion gate undone: an image query
        (no text) on an index whose encoder gates item vectors and can undo it (the starter)."""
        return query.text is None and hasattr(self.index.encoder, "ungate_items")

    def frames_for(
        self, rowids: np.ndarray, *, ungated: bool, emotions: list[list[str]] | None = None
    ) -> dict[int, Any]:
        """The sampled frames of the animated items among ``rowids`` (:meth:`Index.frames`), their vectors
        with the emotion gate undone when ``ungated`` (``emotions``: :meth:`_gate_emotions` of ``rowids``
        when the caller has them)."""
        frames = self.index.frames([int(r) for r in rowids])
        if not ungated or not frames:
            return frames
        if emotions is None:
            emotions = self._gate_emotions(rowids)
        words = dict(zip(np.asarray(rowids).tolist(), emotions, strict=True))
        undo = self.index.encoder.ungate_items
        return {
            r: replace(f, vectors=undo(f.vectors, [words[r]] * len(f.vectors))) for r, f in frames.items()
        }

    def _vector_scores(self, queries: Sequence[SearchQuery], rowids: np.ndarray, ungated: bool) -> np.ndarray:
        """Cosines with the stored vectors (``ungated``: with the items' emotion gate undone), each
        animated item by its best frame when the index pools so."""
        emotions = None
        if not ungated:
            base = super().score(queries, rowids)
        else:
            emotions = self._gate_emotions(rowids)
            vecs = self.index.encoder.ungate_items(self.index.vectors(self.field, rowids), emotions)
            qv = np.stack([q.vector_for(self.field) for q in queries])
            base = (qv @ vecs.T).astype(np.float64)  # NaN where an item has no vector
        if self.best_frame and queries and len(rowids):
            from memesearch.search.frames import best_frame_scores

            frames = self.frames_for(rowids, ungated=ungated, emotions=emotions)
            if frames:
                qv = np.stack([q.vector_for(self.field) for q in queries])
                textless = self.index.config.frame_pooling == "best-textless"
                base, _ = best_frame_scores(base, qv, rowids, frames, textless=textless)
        return base

    def _gate_emotions(self, rowids: np.ndarray) -> list[list[str]]:
        """The emotion words each item's image vector was made with (ingest feeds the gate an item's
        emotions unless the image emotion head read them from the pixels)."""
        from memesearch.enrich.enrichers import EMOTION_SOURCE_KEY

        items = self.index.items([int(r) for r in rowids])
        out: list[list[str]] = []
        for r in np.asarray(rowids).tolist():
            item = items.get(int(r))
            from_pixels = item is not None and item.meta.get(EMOTION_SOURCE_KEY) == "image"
            out.append([] if item is None or from_pixels else item.emotion_words)
        return out

    def explain(self, query: SearchQuery, item: IndexedItem, score: float) -> str:
        if query.text is None:
            return f"image match {score:.3f}"
        return f"image match {score:.3f}" + (" (with its emotions)" if self.gated and item.emotions else "")


class TextBranch(VectorBranch):
    """Query vs the embedding of the item's passage (captions, then OCR)."""

    def __init__(self, index: Any) -> None:
        super().__init__(index, "text", "text")

    def explain(self, query: SearchQuery, item: IndexedItem, score: float) -> str:
        text = (item.captions[0] if item.captions else item.passage.replace("\n", " "))[:60]
        source = "caption" if item.captions else "text in the image"
        generated = item.generated_captions
        if generated:
            given = [c for c in item.captions if c not in generated]
            shown = (given or generated)[0][:60]
            if given:  # the passage holds both: say which caption is the given one, and what was generated
                return (f"caption match {score:.3f}: “{shown}”, and a generated caption "
                        f"({item.captioner_name}): “{generated[0][:60]}”")  # fmt: skip
            return f"generated caption ({item.captioner_name}) match {score:.3f}: “{shown}”"
        return f"{source} match {score:.3f}: “{text}”"


class LexicalBranch:
    """BM25 over the items' passages, calibrated per query to [0, 1].

    It follows the index's passage log (:meth:`~memesearch.index.index.Index.text_changes`): after a write
    only the new and removed passages are applied to its :class:`~memesearch.models.lexical_live.LiveLexicon`
    (nothing is rebuilt, no item row is read), so the first search after a write does not stall.
    """

    name = "lexical"
    image_queries = False

    def __init__(self, index: Any) -> None:
        self.index = index
        self._lock = threading.Lock()
        self._lex: Any = None
        self._position = 0
        self._generation = -1

    def lexicon(self) -> Any:
        """The live BM25 collection, brought up to date with the index."""
        from memesearch.models.lexical_live import LiveLexicon

        with self._lock:
            gen = self.index.generation
            if self._lex is None or gen != self._generation:
                if self._lex is None:
                    self._lex, self._position = LiveLexicon(token_cache=True), 0
                self._position, changes = self.index.text_changes(self._position)
                added: dict[int, str] = {}
                for rowid, passage in changes:  # in log order: a removal cancels an earlier addition
                    if passage is None:
                        added.pop(rowid, None)
                        self._lex.remove([rowid])
                    else:
                        added[rowid] = passage
                if added:
                    self._lex.add(list(added), list(added.values()))
                self._generation = gen
            return self._lex

    def candidates(self, query: SearchQuery, n: int) -> np.ndarray:
        lex = self.lexicon()
        if query.text is None or lex.n_docs == 0:
            return np.zeros(0, np.int64)
        try:
            keys, scores = lex.score_docs(query.text)
        except MemesearchError:  # a query with no usable terms
            return np.zeros(0, np.int64)
        hits = np.flatnonzero(scores > 0)  # sharing at least one term; ties in rowid order
        out: np.ndarray = keys[hits[np.lexsort((keys[hits], -scores[hits]))][:n]]
        return out

    def score(self, queries: Sequence[SearchQuery], rowids: np.ndarray) -> np.ndarray:
        out = np.full((len(queries), rowids.size), np.nan, dtype=np.float64)
        lex = self.lexicon()
        if lex.n_docs == 0 or rowids.size == 0:
            return out
        for qi, q in enumerate(queries):
            if q.text is None:
                continue
            try:
                keys, doc = lex.score_docs(q.text)
            except MemesearchError:
                continue
            order = np.argsort(keys)
            pos = np.clip(np.searchsorted(keys[order], rowids), 0, keys.size - 1)
            found = keys[order][pos] == rowids
            out[qi, found] = doc[order[pos[found]]]
        return out

    def explain(self, query: SearchQuery, item: IndexedItem, score: float) -> str | None:
        if query.text is None or not score > 0:
            return None
        lex = self.lexicon()
        try:
            terms = lex.query_terms(query.text)
        except MemesearchError:
            return None
        body = item.passage.lower()
        shared = [t for t in terms if t.lower() in body]
        if not shared:
            return None
        reason = f"words matched {score:.3f}: {', '.join(shared[:6])}"
        generated = " ".join(item.generated_captions).lower()
        if generated:
            rest = "\n".join(
                [c for c in item.captions if c not in item.generated_captions]
                + [line.text for line in item.ocr or []]
            ).lower()
            if any(t.lower() in generated and t.lower() not in rest for t in shared):
                reason += f", from a generated caption ({item.captioner_name})"
        return reason


class EmotionBranch:
    """The query's emotions against the item's emotion tags: a soft signal beside the hard filter.

    The query's emotions are the bilingual tagger's probabilities (:class:`~memesearch.enrich.emotion.
    EmotionTagger`, built on the index's encoder) of the query embedding search computed anyway — no
    extra encoder call; the score of an item is ``Σ_e p_query(e) · score_item(e)`` over its tags (1.0 for
    emotions its input gave). Items without emotion tags get no score (NaN): no tag is not "no emotion".
    """

    name = "emotion"
    image_queries = False

    def __init__(self, index: Any) -> None:
        self.index = index
        self._lock = threading.Lock()
        self._tagger: Any = None
        self._tags: Any = None  # FollowedItemTable of (N, E) tag scores, once the tagger is loaded

    def _table(self) -> tuple[Any, np.ndarray, np.ndarray]:
        with self._lock:
            if self._tagger is None:
                from memesearch.enrich.emotion import EmotionTagger
                from memesearch.search.item_tables import FollowedItemTable

                self._tagger = EmotionTagger(self.index.encoder)
                self._tags = FollowedItemTable(
                    self.index, self._read_tags, len(self._tagger.emotions), np.float32
                )
            tagger, tags = self._tagger, self._tags
        ids, table = tags.current()
        return tagger, ids, table

    def _read_tags(self, rowids: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray]:
        """``(rowids, (n, E) tag scores)`` of the items with a tag the tagger knows."""
        col = {e: j for j, e in enumerate(self._tagger.emotions)}
        rows = [(r, col[e], s) for r, e, s in self.index.emotion_rows(rowids) if e in col]
        ids = np.unique(np.array([r for r, _, _ in rows], dtype=np.int64))
        table = np.zeros((ids.size, len(col)), dtype=np.float32)
        if rows:
            pos = np.searchsorted(ids, np.array([r for r, _, _ in rows], dtype=np.int64))
            table[pos, [c for _, c, _ in rows]] = [s for _, _, s in rows]
        return ids, table

    def warm(self) -> None:
        """Embed the tagger's prompts and build the tag table now (about 2 s once), not on a first query."""
        self._table()

    def query_emotions(self, query: SearchQuery) -> np.ndarray:
        """``(E,)`` emotion probabilities of the query (columns: the tagger's emotions)."""
        tagger, _, _ = self._table()
        probs: np.ndarray = tagger.probabilities(query.vector[None, :])[0]
        return probs

    def candidates(self, query: SearchQuery, n: int) -> np.ndarray:
        if query.text is None:
            return np.zeros(0, np.int64)
        _, ids, table = self._table()
        if ids.size == 0:
            return np.zeros(0, np.int64)
        probs = self.query_emotions(query)
        # only emotions the query reads as more than chance propose candidates (its top two at most)
        strong = [int(e) for e in np.argsort(-probs)[:2] if probs[e] > 1.0 / probs.size]
        if not strong:
            return np.zeros(0, np.int64)
        s = table[:, strong] @ probs[strong]
        top = np.argsort(-s, kind="stable")[:n]
        return ids[top[s[top] > 0]]

    def score(self, queries: Sequence[SearchQuery], rowids: np.ndarray) -> np.ndarray:
        out = np.full((len(queries), rowids.size), np.nan, dtype=np.float64)
        _, ids, table = self._table()
        if ids.size == 0 or rowids.size == 0:
            return out
        pos = np.clip(np.searchsorted(ids, rowids), 0, ids.size - 1)
        found = ids[pos] == rowids
        for qi, q in enumerate(queries):
            if q.text is not None:
                out[qi, found] = table[pos[found]] @ self.query_emotions(q)
        return out

    def explain(self, query: SearchQuery, item: IndexedItem, score: float) -> str | None:
        if query.text is None or not item.emotions:
            return None
        tagger, _, _ = self._table()
        probs = self.query_emotions(query)
        best = tagger.emotions[int(np.argmax(probs))]
        return f"emotion match {score:.3f} (the query reads as {best})"


class ObjectsBranch:
    """The query against the item's regions (issue 14): the best region's cosine, fused with the item's
    global image cosine (:func:`memesearch.models.regions.object_scores`, weight
    ``region_global_weight`` of the index). Candidates come from the ``region`` vector store (nearest
    regions, grouped by item). An index without regions gives no score (NaN); an item without regions
    scores its global image cosine. :meth:`best_regions` says which region matched, for the hit's box.
    """

    name = "objects"
    image_queries = True  # an object cut out of a query image (search_image(box=...)) is compared too

    def __init__(self, index: Any) -> None:
        self.index = index

    @property
    def available(self) -> bool:
        """Whether the index keeps regions (built with an objects mode)."""
        return bool(getattr(self.index, "has_regions", False))

    def candidates(self, query: SearchQuery, n: int) -> np.ndarray:
        if not self.available or n < 1:
            return np.zeros(0, np.int64)
        from memesearch.index.config import REGION_SLOTS

        _, ids = self.index.nearest_regions(query.vector, 4 * n)  # a few regions per item
        owners = ids // REGION_SLOTS
        _, first = np.unique(owners, return_index=True)
        out: np.ndarray = owners[np.sort(first)][:n]
        return out

    def best_regions(
        self, queries: Sequence[SearchQuery], rowids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(best region cosine (Q, n), its region id (Q, n))`` of each item (NaN / -1 without regions)."""
        from memesearch.index.config import REGION_SLOTS
        from memesearch.models.regions import best_region_scores

        rowids = np.asarray(rowids, dtype=np.int64)
        if not self.available or not len(queries) or not rowids.size:
            return np.full((len(queries), rowids.size), np.nan), np.full((len(queries), rowids.size), -1)
        rids = self.index.region_ids(rowids.tolist())
        qv = np.stack([q.vector for q in queries])
        scores = self.index.vector_scores("region", qv, rids)  # (Q, R)
        order = np.argsort(rowids, kind="stable")
        cols = order[np.searchsorted(rowids[order], rids // REGION_SLOTS)]
        best, arg = best_region_scores(scores, cols, rowids.size)
        return best, np.where(arg >= 0, rids[np.maximum(arg, 0)], -1)

    def score(self, queries: Sequence[SearchQuery], rowids: np.ndarray) -> np.ndarray:
        from memesearch.models.regions import object_scores

        out = np.full((len(queries), np.asarray(rowids).size), np.nan)
        if not self.available or not len(queries) or not out.size:
            return out
        qv = np.stack([q.vector for q in queries])
        global_scores = self.index.vector_scores("image", qv, np.asarray(rowids, dtype=np.int64))
        best, _ = self.best_regions(queries, rowids)
        return object_scores(global_scores, best, float(self.index.config.region_global_weight))

    def explain(self, query: SearchQuery, item: IndexedItem, score: float) -> str | None:
        return f"object match {score:.3f}" if self.available else None


#: name -> branch class, in display order (the same names as :data:`memesearch.index.config.BRANCHES`)
BRANCH_TYPES: dict[str, type] = {
    "image": ImageBranch,
    "text": TextBranch,
    "lexical": LexicalBranch,
    "emotion": EmotionBranch,
    "objects": ObjectsBranch,
}
assert tuple(BRANCH_TYPES) == BRANCHES, "every branch name needs exactly one implementation"


def build_branches(index: Any) -> dict[str, Branch]:
    """One instance of every branch over ``index``, in :data:`BRANCHES` order."""
    return {name: cls(index) for name, cls in BRANCH_TYPES.items()}


__all__ = [
    "BRANCHES",
    "BRANCH_TYPES",
    "Branch",
    "EmotionBranch",
    "ImageBranch",
    "LexicalBranch",
    "ObjectsBranch",
    "SearchQuery",
    "TextBranch",
    "build_branches",
]
