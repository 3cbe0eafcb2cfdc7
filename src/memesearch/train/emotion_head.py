"""Training and measuring the starter's emotion head (:mod:`memesearch.models.starter.emotion_head`).

Data: the emoji benchmark (``memesearch datasets build emoji --out data/emoji``). Features: the frozen
``starter`` tower's pooled body features of every item
(:func:`~memesearch.models.starter.emotion_head.image_features`; computed once, cached in an ``.npz``
keyed by the tower's weights hash). Targets: the items' emotion words (emoji outside "Smileys & Emotion"
have none: they are negatives for every emotion).

Protocol (nothing is chosen on test):

1. fit on ``train`` (the train styles, google + twitter): one L2-regularised logistic regression per
   emotion (scikit-learn ``lbfgs``, ``class_weight="balanced"``, fixed ``C``; deterministic);
2. per emotion, the threshold on ``val`` (unseen concepts, train styles): the **lowest** probability
   ``t`` among the val scores such that the val tags ``p >= t`` have precision >= ``min_precision``
   (0.6) with at least ``min_hits`` (2) correct tags; an emotion with no such ``t`` is never tagged
   (threshold ``None``). Emotions without any positive in train are off as well;
3. report per-emotion and micro precision / recall of the tags (``top_k`` per item, as the enricher
   writes them) on ``val``, ``test`` (unseen concepts, held-out style) and ``test-seen`` (seen concepts,
   held-out style).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memesearch.models.starter.emotion_head import FEATURES, EmotionHead, image_features

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test", "test-seen")
DEFAULT_C = 10.0
DEFAULT_MIN_PRECISION = 0.6
DEFAULT_MIN_HITS = 2
DEFAULT_TOP_K = 2


Split = tuple[np.ndarray, list[list[str]], list[str]]


def embed_splits(
    dataset: str | Path,
    encoder: Any,
    cache: str | Path | None = None,
    *,
    styles: Sequence[str] | None = None,
) -> dict[str, Split]:
    """Per split: ``(image embeddings (N, D), gold emotion lists, item ids)``, cached in ``cache``.

    ``styles``: keep only the ``train`` and ``val`` items of these styles (the items' ``source``); the
    held-out views are kept whole.
    """
    from memesearch.data.formats import read_dataset

    ds = read_dataset(Path(dataset))
    sha = str(encoder.config.extra.get("weights_sha256", ""))
    stored: dict[str, Any] = {}
    if cache is not None and Path(cache).exists():
        with np.load(cache, allow_pickle=False) as npz:
            if str(npz["sha"]) == sha and str(npz["features"]) == FEATURES:
                stored = {k: npz[k] for k in npz.files}
    out: dict[str, Split] = {}
    for split in SPLITS:
        items = ds[split].items
        if styles is not None and split in ("train", "val"):
            items = [it for it in items if it.source in set(styles)]
        ids = [it.id for it in items]
        gold = [list(it.emotions) for it in items]
        if f"{split}/x" in stored and list(stored[f"{split}/ids"]) == ids:
            x = stored[f"{split}/x"]
        else:
            logger.info("embedding %d %s images with the starter tower", len(items), split)
            x = image_features(encoder, [it.resolve_path(ds.root) for it in items])
        out[split] = (x, gold, ids)
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {"sha": np.array(sha), "features": np.array(FEATURES)}
        for split, (x, _, ids) in out.items():
            arrays[f"{split}/x"] = x
            arrays[f"{split}/ids"] = np.array(ids)
        np.savez(cache, **arrays)
    return out


def targets(gold: Sequence[Sequence[str]], emotions: Sequence[str]) -> np.ndarray:
    """``(N, E)`` 0/1 matrix of gold emotion lists."""
    index = {e: j for j, e in enumerate(emotions)}
    y = np.zeros((len(gold), len(emotions)), dtype=np.int8)
    for i, words in enumerate(gold):
        for w in words:
            if w in index:
                y[i, index[w]] = 1
    return y


def fit_head(
    x: np.ndarray, gold: Sequence[Sequence[str]], emotions: Sequence[str], *, c: float = DEFAULT_C
) -> tuple[np.ndarray, np.ndarray]:
    """One logistic regression per emotion -> ``(weight (E, D), bias (E,))``; no positives: bias -60."""
    from sklearn.linear_model import LogisticRegression

    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    y = targets(gold, emotions)
    weight = np.zeros((len(emotions), x.shape[1]), np.float32)
    bias = np.full(len(emotions), -60.0, np.float32)  # an emotion never seen in train is never predicted
    for j in range(len(emotions)):
        if y[:, j].sum() == 0:
            continue
        model = LogisticRegression(C=c, class_weight="balanced", solver="lbfgs", max_iter=2000)
        model.fit(xn.astype(np.float64), y[:, j])
        weight[j] = model.coef_[0]
        bias[j] = model.intercept_[0]
    return weight, bias


def choose_thresholds(
    probs: np.ndarray,
    gold: Sequence[Sequence[str]],
    emotions: Sequence[str],
    *,
    min_precision: float = DEFAULT_MIN_PRECISION,
    min_hits: int = DEFAULT_MIN_HITS,
) -> dict[str, float | None]:
    """Per emotion, the lowest val score ``t`` whose tags ``p >= t`` reach ``min_precision`` with at least
    ``min_hits`` correct ones; ``None`` when no ``t`` does."""
    y = targets(gold, emotions)
    out: dict[str, float | None] = {}
    for j, emotion in enumerate(emotions):
        order = np.argsort(-probs[:, j], kind="stable")
        hits = np.cumsum(y[order, j])
        tagged = np.arange(1, len(order) + 1)
        ok = (hits / tagged >= min_precision) & (hits >= min_hits)
        # only cut between distinct scores: the tags of t are all items with p >= t
        scores = probs[order, j]
        distinct = np.append(scores[1:] < scores[:-1], True)
        candidates = np.flatnonzero(ok & distinct)
        out[emotion] = None if len(candidates) == 0 else float(scores[candidates[-1]])
    return out


def evaluate(
    head: EmotionHead, x: np.ndarray, gold: Sequence[Sequence[str]], *, top_k: int = DEFAULT_TOP_K
) -> dict[str, Any]:
    """Per-emotion and micro precision / recall of the head's tags (as the enricher writes them)."""
    tags = head.tag(x, top_k=top_k)
    per: dict[str, dict[str, Any]] = {}
    for e in head.emotions:
        n_gold = sum(e in g for g in gold)
        n_tagged = sum(any(t == e for t, _ in row) for row in tags)
        tp = sum(any(t == e for t, _ in row) and e in g for row, g in zip(tags, gold, strict=True))
        per[e] = {
            "gold": n_gold,
            "tagged": n_tagged,
            "correct": tp,
            "precision": tp / n_tagged if n_tagged else None,
            "recall": tp / n_gold if n_gold else None,
        }
    tp = sum(r["correct"] for r in per.values())
    tagged = sum(r["tagged"] for r in per.values())
    pairs = sum(len(g) for g in gold)
    with_gold = sum(bool(g) for g in gold)
    return {
        "n_items": len(gold),
        "n_with_gold": with_gold,
        "gold_pairs": pairs,
        "tags": tagged,
        "correct": tp,
        "precision": tp / tagged if tagged else None,
        "recall": tp / pairs if pairs else None,
        "items_tagged": sum(bool(row) for row in tags),
        "false_tag_rate": sum(bool(row) and not g for row, g in zip(tags, gold, strict=True))
        / max(1, len(gold) - with_gold),
        "per_emotion": per,
    }


def train_head(
    data: dict[str, Split],
    encoder_sha256: str,
    *,
    c: float = DEFAULT_C,
    min_precision: float = DEFAULT_MIN_PRECISION,
    min_hits: int = DEFAULT_MIN_HITS,
    command: str = "python scripts/train_emotion_head.py",
) -> EmotionHead:
    """Fit on ``train``, thresholds on ``val`` (see the module docstring)."""
    from memesearch.data.emoji.emotions import EMOTION_MAPPING_VERSION
    from memesearch.data.emotions import EMOTION_WORDS

    x_train, gold_train, _ = data["train"]
    weight, bias = fit_head(x_train, gold_train, EMOTION_WORDS, c=c)
    untuned = EmotionHead(EMOTION_WORDS, weight, bias, dict.fromkeys(EMOTION_WORDS, 0.0), encoder_sha256)
    x_val, gold_val, _ = data["val"]
    thresholds = choose_thresholds(
        untuned.probabilities(x_val), gold_val, EMOTION_WORDS, min_precision=min_precision, min_hits=min_hits
    )
    info = {
        "trained_on": {
            "dataset": "emoji benchmark (memesearch datasets build emoji), default styles",
            "split": "train",
            "items": len(gold_train),
            "items_with_emotions": sum(bool(g) for g in gold_train),
            "emotion_mapping_version": EMOTION_MAPPING_VERSION,
        },
        "features": FEATURES,
        "model": f"per-emotion logistic regression on the unit-normalised features, C={c}, balanced classes",
        "threshold_rule": (
            f"per emotion, the lowest val probability whose val tags reach precision >= {min_precision} "
            f"with >= {min_hits} correct tags; none reaching it: the emotion is never tagged (null)"
        ),
        "command": command,
    }
    return EmotionHead(EMOTION_WORDS, weight, bias, thresholds, encoder_sha256, info)


__all__ = ["choose_thresholds", "embed_splits", "evaluate", "fit_head", "targets", "train_head"]
