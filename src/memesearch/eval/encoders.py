"""Evaluate an encoder on a dataset split: text -> image (``branch="image"``) or text -> item context
text (``branch="text"``), with the SPEC §5 metrics over the split's whole gallery.

- **image** branch: queries through the encoder's text tower (``kind="query"``), the split's images
  through its image tower; score = cosine.
- **text** branch: queries (``kind="query"``) against each item's *passage*, its context texts
  (captions, then OCR) joined by newlines and embedded once (``kind="passage"``) — the definition the
  index serves (:func:`memesearch.data.records.context_passage`). Measured against the best cosine over
  the texts on the emoji val split (``scripts/measure_text_branch.py``): equal with OCR and no captions,
  R@10 0.7495 vs 0.7161 with the en + zh names as captions. An item with no context text gets no score
  from this branch and ranks below every scored item (:data:`NO_SCORE`); it is never embedded as an
  empty string. ``captions=False`` drops captions marked as oracle (``meta["caption_kind"] ==
  "oracle"``), which measures the branch without the benchmark's ground-truth names.

Queries can be evaluated per language (``meta["lang"]``); each group is an independent evaluation over
the same gallery.

Protocols: ``"gallery"`` (default) computes every metric over the split's whole gallery (unjudged items
grade 0). ``"cbvs"`` is how CBVS reports a model (research/B §2.3-2.6, :func:`cbvs_report`): R@K, MR,
MdR / MnR, P@K and recall@K over the whole gallery, but NDCG@K, MAP and PNR over **each query's judged
candidates** only (the rows of its CBVS test file: labels 0, 1 and 2), scored by the same model.
Datasets whose ``meta["protocol"]`` is ``"cbvs"`` (the covers benchmark) are evaluated that way by the
CLI unless told otherwise.

Example::

    from memesearch.data.formats import read_dataset
    from memesearch.models import create_encoder
    ds = read_dataset("data/emoji")
    res = evaluate_encoder(ds, "test", create_encoder("e5-small"), branch="text", by_lang=True)
    print(res["zh"].report["R@10"])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from memesearch.data.records import Dataset, Item, Query, Split
from memesearch.errors import ConfigError
from memesearch.eval.metrics import MetricsReport
from memesearch.eval.ranking import TieRule, check_tie_rule
from memesearch.eval.retrieval import evaluate_run, evaluate_scores
from memesearch.eval.run import Run
from memesearch.models.fusion import NO_SCORE

log = logging.getLogger(__name__)

Branch = Literal["image", "text"]
#: the branches an encoder alone can be evaluated on (a subset of the search branches)
ENCODER_BRANCHES: tuple[str, ...] = ("image", "text")
PROTOCOLS: tuple[str, ...] = ("gallery", "cbvs")
#: metrics (by name prefix) the CBVS protocol computes over each query's judged candidates
CANDIDATE_METRICS: tuple[str, ...] = ("NDCG@", "MAP", "PNR")


@dataclass
class EncoderEvaluation:
    """The metrics of one query group, the top-``k`` run behind them, and what produced them."""

    group: str
    report: MetricsReport
    run: Run
    settings: dict[str, Any] = field(default_factory=dict)


def text_branch_scores(
    queries: Sequence[str],
    items: Sequence[Item],
    encoder: Any,
    *,
    captions: bool = True,
    batch_size: int = 512,
    progress: bool | None = None,
) -> np.ndarray:
    """(Q, N) cosine of each query with each item's passage (the text branch as search defines it:
    :func:`memesearch.data.records.context_passage`); :data:`NO_SCORE` for items without text."""
    passages = [it.passage(oracle_captions=captions) for it in items]
    has = [j for j, p in enumerate(passages) if p]
    scores = np.full((len(queries), len(items)), NO_SCORE, dtype=np.float32)
    if not has or not queries:
        return scores
    q = encoder.encode_text(list(queries), kind="query", batch_size=batch_size, progress=progress)
    p = encoder.encode_text(
        [passages[j] for j in has], kind="passage", batch_size=batch_size, progress=progress
    )
    scores[:, has] = q @ p.T  # (Q, N_text)
    return scores


def image_branch_scores(
    queries: Sequence[str],
    items: Sequence[Item],
    encoder: Any,
    *,
    root: Path | None,
    batch_size: int = 32,
    progress: bool | None = None,
) -> np.ndarray:
    """(Q, N) cosine between the queries and the items' images through ``encoder``."""
    if not getattr(encoder, "supports_images", False):
        raise ConfigError(
            f"encoder {encoder.name!r} has no image tower; use --branch text, or an image encoder "
            "such as clip:<dir> or tiny-clip"
        )
    paths = []
    for it in items:
        p = it.resolve_path(root)
        if p is None:
            raise ConfigError(f"item {it.id!r} has no local image file; the image branch needs one per item")
        paths.append(p)
    img = encoder.encode_image(paths, batch_size=batch_size, progress=progress)
    q = encoder.encode_image_queries(list(queries), progress=progress)
    return np.asarray(q @ img.T, dtype=np.float32)


def cbvs_report(
    scores: np.ndarray,
    qrels: dict[str, dict[str, int]],
    query_ids: Sequence[str],
    item_ids: Sequence[str],
    *,
    ks: Sequence[int] = (1, 5, 10),
    ndcg_ks: Sequence[int] = (1, 3, 5, 10),
    threshold: int = 2,
    ties: TieRule = "pessimistic",
) -> MetricsReport:
    """The CBVS protocol on a ``(Q, N)`` score matrix (module docstring): gallery metrics from
    :func:`~memesearch.eval.retrieval.evaluate_scores`, NDCG@K / MAP / PNR from
    :func:`~memesearch.eval.retrieval.evaluate_run` over each query's judged (query, item) pairs, in
    qrels order. ``n_queries`` and ``counts`` say which side each number comes from (counts of the
    candidate side are prefixed ``candidates_``)."""
    gallery = evaluate_scores(
        scores, qrels, query_ids, item_ids, ks=ks, ndcg_ks=ndcg_ks, threshold=threshold, ties=ties
    )
    col = {iid: j for j, iid in enumerate(item_ids)}
    rows = [
        (qid, iid, float(scores[i, col[iid]]), int(grade))
        for i, qid in enumerate(query_ids)
        for iid, grade in qrels.get(qid, {}).items()
        if iid in col
    ]
    if not rows:
        raise ConfigError("the CBVS protocol needs judged (query, item) pairs; these queries have none")
    cand = evaluate_run(
        Run.from_rows(rows), ks=ks, ndcg_ks=ndcg_ks, threshold=threshold, ties=ties, curve=False
    )
    metrics = dict(gallery.metrics)
    n_queries = dict(gallery.n_queries)
    for name in metrics:
        if name.startswith(CANDIDATE_METRICS):
            metrics[name] = cand.metrics[name]
            n_queries[name] = cand.n_queries[name]
    counts = {**gallery.counts, **{f"candidates_{k}": v for k, v in cand.counts.items()}}
    settings = {
        **gallery.settings,
        "protocol": "cbvs",
        "candidates": "gallery for R@K, MR, MdR, MnR, P@K, recall@K; each query's judged items for "
        "NDCG@K, MAP, PNR",
    }
    return MetricsReport(metrics, n_queries, settings, counts, dict(gallery.curves))


def _groups(queries: Sequence[Query], by_lang: bool) -> dict[str, list[Query]]:
    groups: dict[str, list[Query]] = {"all": list(queries)}
    if by_lang:
        for q in queries:
            lang = q.meta.get("lang")
            if isinstance(lang, str) and lang:
                groups.setdefault(lang, []).append(q)
    return groups


def evaluate_encoder(
    dataset: Dataset,
    split: str,
    encoder: Any,
    *,
    branch: str = "image",
    captions: bool = True,
    by_lang: bool = False,
    run_k: int = 100,
    threshold: int = 1,
    ties: TieRule | str = "pessimistic",
    ks: Sequence[int] = (1, 5, 10),
    ndcg_ks: Sequence[int] = (1, 3, 5, 10),
    progress: bool | None = None,
    protocol: str = "gallery",
) -> dict[str, EncoderEvaluation]:
    """Score every query of ``split`` against its whole gallery and compute the SPEC §5 metrics.

    Returns one :class:`EncoderEvaluation` per query group: ``"all"``, plus one per language with
    ``by_lang=True``. Each carries a run of the top ``run_k`` items per query. ``protocol``:
    ``"gallery"`` or ``"cbvs"`` (module docstring).
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    if branch not in ENCODER_BRANCHES:
        raise ConfigError(f"unknown branch {branch!r}; use one of {', '.join(ENCODER_BRANCHES)}")
    rule = check_tie_rule(ties)
    sp: Split = dataset[split]
    if not sp.queries:
        raise ConfigError(f"split {split!r} of dataset {dataset.name!r} has no queries to evaluate")
    if not sp.items:
        raise ConfigError(f"split {split!r} of dataset {dataset.name!r} has no items to search")
    texts = [q.text for q in sp.queries]
    if branch == "text":
        scores = text_branch_scores(texts, sp.items, encoder, captions=captions, progress=progress)
    else:
        scores = image_branch_scores(texts, sp.items, encoder, root=dataset.root, progress=progress)
    item_ids = sp.item_ids()
    row_of = {q.id: i for i, q in enumerate(sp.queries)}
    settings = {
        "dataset": dataset.name,
        "split": split,
        "encoder": encoder.config.to_dict() if hasattr(encoder, "config") else str(encoder),
        "branch": branch,
        "oracle_captions": captions,
        "items": len(item_ids),
        "protocol": protocol,
    }
    results: dict[str, EncoderEvaluation] = {}
    for group, qs in _groups(sp.queries, by_lang).items():
        rows = np.asarray([row_of[q.id] for q in qs])
        sub = scores[rows]
        qids = [q.id for q in qs]
        qrels = {q.id: dict(q.qrels) for q in qs}
        score = cbvs_report if protocol == "cbvs" else evaluate_scores
        report = score(sub, qrels, qids, item_ids, ks=ks, ndcg_ks=ndcg_ks, threshold=threshold, ties=rule)
        run = Run.from_scores(sub, qids, item_ids, k=min(run_k, len(item_ids)))
        results[group] = EncoderEvaluation(group, report, run, {**settings, "queries": len(qs)})
    return results
