"""Evaluate a captioner on a dataset split: caption metrics per language, and image -> text retrieval.

For each language the captioner writes, every item of the split with given captions in that language is
captioned (greedy unless told otherwise) and scored against them (:mod:`memesearch.eval.caption_metrics`:
BLEU-1..4, ROUGE-L, CIDEr-D, plus ``exact``: the share of captions equal to a reference).

The second view asks whether the caption *means* the right thing even when the words differ: the
generated caption and every distinct reference text of the split are embedded by a text encoder
(``e5-small``, ``kind="query"`` on both sides: a symmetric comparison), and each image retrieves the
split's reference texts by its caption. R@1/5/10 and MdR count an item's own references as relevant.

Example::

    >>> captioner, ds = load_captioner("starter-caption"), read_dataset("data/emoji")  # doctest: +SKIP
    >>> evaluate_captioner(captioner, ds, "test-seen")["languages"]["en"]["CIDEr-D"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from memesearch.data.captions import item_captions
from memesearch.errors import ConfigError
from memesearch.eval.caption_metrics import caption_scores

if TYPE_CHECKING:  # pragma: no cover
    from memesearch.caption.captioner import Captioner
    from memesearch.caption.decoding import DecodeConfig
    from memesearch.data.records import Dataset
    from memesearch.models.encoders.base import Encoder

log = logging.getLogger(__name__)

RETRIEVAL_METRICS = ("R@1", "R@5", "R@10", "MdR")


def evaluate_captioner(
    captioner: Captioner,
    dataset: Dataset,
    split: str,
    *,
    decode: DecodeConfig | None = None,
    text_encoder: Encoder | None = None,
    batch_size: int = 32,
    examples: int = 5,
) -> dict[str, Any]:
    """``{"split", "n_items", "languages": {lang: metrics}, "examples": ..., "seconds"}`` (module docstring).

    ``text_encoder``: the text encoder of the retrieval view (:func:`retrieval_view`; None: no such view).
    ``examples``: how many (caption, references) pairs per language to include.
    """
    from memesearch.caption.decoding import DecodeConfig

    started = time.perf_counter()
    part = dataset[split]
    paths = []
    for it in part.items:
        path = it.resolve_path(dataset.root)
        if path is None:
            raise ConfigError(f"item {it.id!r} of split {split!r} has no image file")
        paths.append(path)
    features = captioner.features(paths, batch_size=batch_size)  # (N, F)
    decode = decode or DecodeConfig()
    out: dict[str, Any] = {"split": split, "n_items": len(part.items), "languages": {}, "examples": {}}
    for lang in captioner.languages:
        refs = [[t for t, _ in item_captions(it, (lang,))] for it in part.items]
        rows = [i for i, r in enumerate(refs) if r]
        if not rows:
            continue
        generated = captioner.caption_features(
            features[rows], _with_lang(decode, lang), batch_size=batch_size
        )
        cands = [g[0].text for g in generated]
        lang_refs = [refs[i] for i in rows]
        metrics = caption_scores(cands, lang_refs)
        metrics["exact"] = sum(c in r for c, r in zip(cands, lang_refs, strict=True)) / len(rows)
        if text_encoder is not None:
            metrics.update(retrieval_view(text_encoder, cands, lang_refs))
        out["languages"][lang] = metrics
        out["examples"][lang] = [
            {"item": part.items[i].id, "caption": c, "references": r}
            for i, c, r in list(zip(rows, cands, lang_refs, strict=True))[:examples]
        ]
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def _with_lang(decode: DecodeConfig, lang: str) -> DecodeConfig:
    import dataclasses

    return dataclasses.replace(decode, lang=lang)


def retrieval_view(encoder: Encoder, captions: list[str], references: list[list[str]]) -> dict[str, float]:
    """Image -> text retrieval by the generated captions' embeddings over the distinct reference texts."""
    from memesearch.eval.retrieval import evaluate_scores

    texts = sorted({t for refs in references for t in refs})
    index = {t: f"t{i}" for i, t in enumerate(texts)}
    gallery = encoder.encode_text(texts, kind="query", batch_size=256)  # (T, D)
    queries = encoder.encode_text([c or " " for c in captions], kind="query", batch_size=256)  # (N, D)
    query_ids = [f"q{i}" for i in range(len(captions))]
    qrels = {q: {index[t]: 1 for t in refs} for q, refs in zip(query_ids, references, strict=True)}
    report = evaluate_scores(
        np.asarray(queries @ gallery.T, dtype=np.float32), qrels, query_ids, list(index.values()), curve=False
    )
    return {f"i2t {k}": float(report.metrics[k]) for k in RETRIEVAL_METRICS if k in report.metrics}
