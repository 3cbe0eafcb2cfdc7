"""Best-frame scoring of animated items for the image branch (issue 15).

An animated sticker that shows a cat, then a dog, then a pizza has a mean vector that is close to none of
the three; the query "pizza" should still find it. The vector store (FAISS or Milvus) holds the mean vector
and finds the candidates with it, as before; then every candidate that keeps frame vectors
(:mod:`memesearch.index.frame_rows`: items with more than one sampled frame) is re-scored by its best
frame: ``max_k <query, frame_k>``. Still images keep their one cosine. Which frame matched, and when it
shows, goes with the hit (:func:`matched_frames`).

``frame_pooling`` (an index setting, :data:`memesearch.index.config.FRAME_POOLINGS`): ``best`` (default,
chosen on the animated benchmark's val split) or ``mean`` (the mean vector's cosine only, as before).

Because it is a re-rank, an animated item whose mean vector is not among the image branch's candidates is
not re-scored; the searcher's candidate pool (the union of every branch's top ``n``, ``n`` >= 100 by
default) is wide enough on the benchmark (README, "Animated stickers").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def best_frame_scores(
    base: np.ndarray, queries: np.ndarray, rowids: np.ndarray, frames: Mapping[int, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """``(scores (Q, n), best frame index (Q, n))``: ``base`` (the mean-vector cosines) with each item that
    has frames (``frames[rowid].vectors`` ``(F, dim)``) replaced by its best frame's cosine with
    ``queries`` ``(Q, dim)``; the index is -1 where the item has no frames."""
    scores = np.array(base, dtype=np.float32, copy=True)
    best = np.full(scores.shape, -1, dtype=np.int64)
    for j, rowid in enumerate(np.asarray(rowids).tolist()):
        found = frames.get(int(rowid))
        if found is None:
            continue
        sims = np.asarray(queries, np.float32) @ np.asarray(found.vectors, np.float32).T  # (Q, F)
        best[:, j] = np.argmax(sims, axis=1)
        scores[:, j] = sims[np.arange(sims.shape[0]), best[:, j]]
    return scores, best


def matched_frames(index: Any, query: np.ndarray, rowids: np.ndarray) -> dict[int, dict[str, Any]]:
    """``rowid -> {"index", "time_ms", "score", "frames"}`` of the frame of each animated item in ``rowids``
    that matched ``query`` ``(dim,)`` best (items without frame vectors are left out)."""
    if not len(rowids):
        return {}
    frames = index.frames([int(r) for r in rowids])
    out: dict[int, dict[str, Any]] = {}
    for rowid in np.asarray(rowids).tolist():
        found = frames.get(int(rowid))
        if found is None:
            continue
        sims = np.asarray(found.vectors, np.float32) @ np.asarray(query, np.float32)
        k = int(np.argmax(sims))
        out[int(rowid)] = {
            "index": k,
            "time_ms": found.times_ms[k],
            "score": round(float(sims[k]), 6),
            "frames": len(found.times_ms),
        }
    return out


def describe_frame(frame: Mapping[str, Any] | None) -> str:
    """``"frame 3/4 at 1.20 s"`` (``"frame 3/4"`` without a time; ``""`` for None): for people."""
    if not frame:
        return ""
    text = f"frame {int(frame['index']) + 1}/{int(frame['frames'])}"
    if frame.get("time_ms") is not None:
        text += f" at {int(frame['time_ms']) / 1000:.2f} s"
    return text


__all__ = ["best_frame_scores", "describe_frame", "matched_frames"]
