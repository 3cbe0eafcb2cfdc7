"""Object-centric retrieval on the collages benchmark (issue 14): whole image vs region embeddings.

Each query names one emoji; the relevant collages are those that contain it. Every way of scoring a
collage is measured on the same split with the SPEC §5 metrics (R@1/5/10, MdR, MnR over the split's
gallery, pessimistic ties):

* ``full`` — the query vs the collage's global image embedding (what the ``image`` branch does);
* ``crop`` / ``masked-crop`` / ``mask-pool`` — the query vs each region's embedding
  (:func:`memesearch.models.regions.region_embeddings`), the collage scored by its best region fused with
  its global score (:func:`memesearch.models.regions.object_scores`, weight ``global_weight``): exactly
  what the ``objects`` branch of search computes.

Regions come from a segmenter (``auto`` by default: realistic, nothing known at query time) or, as an
oracle row beside them, from the truth boxes (no masks: ``masked-crop`` is then ``crop``, ``mask-pool``
pools the box). Region <-> text retrieval over the truth regions (:func:`region_text_retrieval`) is
reported beside it. Localisation: of the queries whose top-1 collage is relevant, the share whose matched
region overlaps (box IoU >= 0.5) the box of an emoji of that collage the query names (a concept whose every
collage the query judges relevant).

Example::

    >>> report = evaluate_objects(read_dataset("data/collages"), create_encoder("starter"))  # doctest: +SKIP
    >>> report["rows"][0]["metrics"]["R@10"]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from memesearch.data.records import Dataset, Query
from memesearch.errors import ConfigError
from memesearch.eval.retrieval import evaluate_scores
from memesearch.models.regions import (
    REGION_METHODS,
    best_region_scores,
    check_region_method,
    object_scores,
    region_embeddings,
)
from memesearch.objects.regions import Region, box_iou

logger = logging.getLogger(__name__)

#: the rows of a report: the whole image, then each region method
OBJECT_METHODS: tuple[str, ...] = ("full", *REGION_METHODS)
REPORT_METRICS: tuple[str, ...] = ("R@1", "R@5", "R@10", "MdR", "MnR")
LOC_IOU = 0.5


@dataclass(frozen=True)
class ObjectsEvalConfig:
    """What :func:`evaluate_objects` measures: ``split``, the ``segmenter`` (``auto`` or ``sam2:<dir>``)
    bounded by ``max_regions``, the region ``methods``, ``global_weight`` of the fusion, the dense input
    side of ``mask-pool``, and whether to add the truth-box oracle rows."""

    split: str = "test"
    segmenter: str = "auto"
    max_regions: int = 16
    methods: tuple[str, ...] = REGION_METHODS
    global_weight: float = 0.0
    dense_side: int = 256
    oracle: bool = True

    def __post_init__(self) -> None:
        for m in self.methods:
            check_region_method(m)
        if not 0.0 <= self.global_weight <= 1.0:
            raise ConfigError(f"global_weight must be in [0, 1], got {self.global_weight}")


def _holders(items: Sequence[Any]) -> dict[str, set[str]]:
    """Concept key -> the collages holding it."""
    holders: dict[str, set[str]] = {}
    for it in items:
        for key in it.meta.get("concepts", []):
            holders.setdefault(str(key), set()).add(it.id)
    return holders


def _named_boxes(query: Query, items: Sequence[Any]) -> dict[str, list[tuple[float, float, float, float]]]:
    """Per relevant collage, the truth boxes of the emoji the query names (see the module docstring)."""
    relevant = {i for i, g in query.qrels.items() if g > 0}
    holders = _holders(items)
    out: dict[str, list[tuple[float, float, float, float]]] = {}
    for it in items:
        if it.id not in relevant:
            continue
        keys = [str(k) for k in it.meta.get("concepts", [])]
        out[it.id] = [o.box for k, o in zip(keys, it.objects, strict=False) if holders[k] <= relevant]
    return out


def _region_scores(
    encoder: Any,
    images: Sequence[Any],
    regions: Sequence[Sequence[Region]],
    method: str,
    qv: np.ndarray,
    dense_side: int,
) -> tuple[np.ndarray, np.ndarray, list[list[Region]]]:
    """``(best region cosine (Q, N), its region index within the item (Q, N), the regions used)``."""
    vecs: list[np.ndarray] = []
    owner: list[int] = []
    index_in_item: list[int] = []
    for j, (image, rs) in enumerate(zip(images, regions, strict=True)):
        if not rs:
            continue
        masks = [r.decoded_mask() for r in rs]
        vecs.append(
            region_embeddings(
                encoder, image, [r.box for r in rs], masks, method=method, dense_side=dense_side
            )
        )
        owner.extend([j] * len(rs))
        index_in_item.extend(range(len(rs)))
    if not vecs:
        n = len(images)
        return np.full((qv.shape[0], n), np.nan), np.full((qv.shape[0], n), -1), [list(r) for r in regions]
    scores = qv @ np.concatenate(vecs).T  # (Q, R)
    best, arg = best_region_scores(scores, np.array(owner, dtype=np.int64), len(images))
    which = np.where(arg >= 0, np.array(index_in_item)[np.maximum(arg, 0)], -1)
    return best, which, [list(r) for r in regions]


def region_text_retrieval(
    encoder: Any,
    images: Sequence[Any],
    items: Sequence[Any],
    queries: Sequence[Query],
    qv: np.ndarray,
    method: str,
    dense_side: int,
) -> dict[str, Any]:
    """Region <-> text retrieval over the truth regions of a split (the seed's protocol, done right).

    Every truth emoji is a region (its box; ``full`` = its whole collage); T2I: each query ranks every
    region of the split (relevant: regions of an emoji it names); I2T: each region ranks every query
    (relevant: the queries naming its emoji). R@1/5/10, MdR, MnR each way, and the seed's mean-rank
    convention ``(MnR_i2t + MnR_t2i) / 2``."""
    holders = _holders(items)
    relevant = [{i for i, g in q.qrels.items() if g > 0} for q in queries]
    rids: list[str] = []
    keys: list[str] = []
    vecs: list[np.ndarray] = []
    for image, it in zip(images, items, strict=True):
        boxes = [o.box for o in it.objects]
        if not boxes:
            continue
        if method == "full":
            v = np.repeat(np.asarray(encoder.encode_image([image]), np.float32), len(boxes), axis=0)
        else:
            v = region_embeddings(encoder, image, boxes, None, method=method, dense_side=dense_side)
        vecs.append(v)
        concepts = [str(k) for k in it.meta.get("concepts", [])]
        for k, key in enumerate(concepts[: len(boxes)]):
            rids.append(f"{it.id}#{k}")
            keys.append(key)
    regions = np.concatenate(vecs)
    names = [{k for k in holders if holders[k] <= rel} for rel in relevant]
    t2i_qrels = {q.id: {rid: 1 for rid, key in zip(rids, keys, strict=True) if key in names[qi]}
                 for qi, q in enumerate(queries)}  # fmt: skip
    i2t_qrels: dict[str, dict[str, int]] = {rid: {} for rid in rids}
    for q, rel in zip(queries, t2i_qrels.values(), strict=True):
        for rid in rel:
            i2t_qrels[rid][q.id] = 1
    scores = qv @ regions.T  # (Q, R)
    qids = [q.id for q in queries]
    t2i = evaluate_scores(scores, t2i_qrels, qids, rids, curve=False)
    i2t = evaluate_scores(scores.T.copy(), i2t_qrels, rids, qids, curve=False)
    return {
        "t2i": {m: t2i.metrics[m] for m in REPORT_METRICS},
        "i2t": {m: i2t.metrics[m] for m in REPORT_METRICS},
        "regions": len(rids),
        "mean_rank": (t2i.metrics["MnR"] + i2t.metrics["MnR"]) / 2,
    }


def evaluate_objects(
    dataset: Dataset, encoder: Any, config: ObjectsEvalConfig | None = None
) -> dict[str, Any]:
    """Every row of the comparison (module docstring) on ``config.split`` of a collages ``dataset``.

    Returns ``{"settings", "counts", "rows": [{"name", "regions", "method", "metrics", "localised",
    "top1_correct", "seconds"}], "region_text": {method: region_text_retrieval(...)}}`` (JSON-ready)."""
    from PIL import Image

    from memesearch.models.encoders.images import load_image
    from memesearch.objects import SegmenterConfig, create_segmenter

    cfg = config or ObjectsEvalConfig()
    split = dataset[cfg.split]
    items = list(split.items)
    queries = [q for q in split.queries if any(g > 0 for g in q.qrels.values())]
    if not items or not queries:
        raise ConfigError(f"split {cfg.split!r} has no items or no query with a relevant item")
    if not any(it.objects for it in items):
        raise ConfigError(
            f"the items of split {cfg.split!r} carry no objects (truth boxes): build the collages benchmark "
            "with `memesearch datasets build collages`"
        )
    images: list[Image.Image] = []
    for it in items:
        path = it.resolve_path(dataset.root)
        if path is None:
            raise ConfigError(f"item {it.id!r} has no file path")
        images.append(load_image(path))
    t0 = time.perf_counter()
    segmenter = create_segmenter(cfg.segmenter, SegmenterConfig(max_regions=cfg.max_regions))
    found = [segmenter.segment(im) for im in images]
    seg_seconds = time.perf_counter() - t0
    qv = np.asarray(encoder.encode_text([q.text for q in queries], kind="query"), dtype=np.float32)
    global_vecs = np.asarray(encoder.encode_image(images), dtype=np.float32)
    global_scores = qv @ global_vecs.T  # (Q, N)
    qrels = {q.id: dict(q.qrels) for q in queries}
    qids, iids = [q.id for q in queries], [it.id for it in items]
    named = [_named_boxes(q, items) for q in queries]

    def measure(name: str, source: str, method: str, scores: np.ndarray, which: Any, regions: Any,
                seconds: float) -> dict[str, Any]:  # fmt: skip
        report = evaluate_scores(scores, qrels, qids, iids, curve=False)
        top = np.argmax(np.nan_to_num(scores, nan=-np.inf), axis=1)
        correct = [qi for qi, j in enumerate(top) if qrels[qids[qi]].get(iids[int(j)], 0) > 0]
        localised = None
        if which is not None and correct:
            hits = 0
            for qi in correct:
                j = int(top[qi])
                k = int(which[qi, j])
                if k >= 0 and any(
                    box_iou(regions[j][k].box, b) >= LOC_IOU for b in named[qi].get(iids[j], [])
                ):
                    hits += 1
            localised = hits / len(correct)
        return {
            "name": name,
            "regions": source,
            "method": method,
            "metrics": {m: report.metrics[m] for m in REPORT_METRICS},
            "top1_correct": len(correct),
            "localised": localised,
            "seconds": round(seconds, 2),
        }

    rows = [measure("full image", "-", "full", global_scores, None, None, 0.0)]
    sources: list[tuple[str, list[list[Region]]]] = [(cfg.segmenter, [list(f) for f in found])]
    if cfg.oracle:
        sources.append(("truth boxes, oracle", [[Region(box=o.box) for o in it.objects] for it in items]))
    for source, regions in sources:
        for method in cfg.methods:
            t1 = time.perf_counter()
            best, which, used = _region_scores(encoder, images, regions, method, qv, cfg.dense_side)
            fused = object_scores(global_scores, best, cfg.global_weight)
            rows.append(
                measure(f"{method} ({source})", source, method, fused, which, used, time.perf_counter() - t1)
            )
    region_text = {}
    for method in ("full", *cfg.methods):
        region_text[method] = region_text_retrieval(
            encoder, images, items, queries, qv, method, cfg.dense_side
        )
    return {
        "region_text": region_text,
        "settings": {**asdict(cfg), "encoder": getattr(encoder, "name", str(encoder)), "ties": "pessimistic"},
        "counts": {
            "items": len(items),
            "queries": len(queries),
            "truth_objects": sum(len(it.objects) for it in items),
            "regions_found": sum(len(f) for f in found),
            "segment_seconds": round(seg_seconds, 2),
        },
        "rows": rows,
    }


def objects_table(report: dict[str, Any]) -> str:
    """The report as a Markdown table (one row per way of scoring a collage)."""
    head = "| scoring | R@1 | R@5 | R@10 | MdR | MnR | top-1 localised (IoU ≥ 0.5) |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        m = row["metrics"]
        loc = "-" if row["localised"] is None else f"{row['localised']:.1%} of {row['top1_correct']}"
        lines.append(
            f"| {row['name']} | {m['R@1']:.4f} | {m['R@5']:.4f} | {m['R@10']:.4f} | {m['MdR']:g} | "
            f"{m['MnR']:.1f} | {loc} |"
        )
    return "\n".join(lines)


def region_text_table(report: dict[str, Any]) -> str:
    """Region <-> text retrieval (truth boxes) as a Markdown table."""
    lines = [
        "| region embedding (truth boxes) | T2I R@1 | T2I R@10 | T2I MdR | I2T R@1 | I2T R@10 | I2T MdR "
        "| mean rank (seed) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, r in report.get("region_text", {}).items():
        t, i = r["t2i"], r["i2t"]
        name = "full image (the collage)" if method == "full" else method
        lines.append(
            f"| {name} | {t['R@1']:.4f} | {t['R@10']:.4f} | {t['MdR']:g} | {i['R@1']:.4f} | {i['R@10']:.4f} "
            f"| {i['MdR']:g} | {r['mean_rank']:.1f} |"
        )
    return "\n".join(lines)


__all__ = [
    "LOC_IOU",
    "OBJECT_METHODS",
    "ObjectsEvalConfig",
    "evaluate_objects",
    "objects_table",
    "region_text_retrieval",
    "region_text_table",
]
