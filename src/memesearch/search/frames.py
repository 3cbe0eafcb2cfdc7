"""Best-frame scoring of animated items for the image branch (issue 15).

An animated sticker that shows a cat, then a dog, then a pizza has a mean vector that is close to none of
the three; the query "pizza" should still find it. The vector store (FAISS or Milvus) holds the mean vector
and finds the candidates with it, as before; then every candidate that keeps frame vectors
(:mod:`memesearch.index.frame_rows`: items with more than one sampled frame) is re-scored by its best
frame: ``max_k <query, frame_k>``. Still images keep their one cosine. Which frame matched, and when it
shows, goes with the hit (:func:`matched_frames`).

Caption frames: with the starter image tower a frame that carries rendered text matches *every* query more
than a frame without (mean cosine 0.014 vs 0.009 on the animated benchmark), so under plain ``best`` a
captioned animation climbs unrelated queries. ``best-textless`` takes the max over the frames where OCR
read no text (``ItemFrames.has_text``, stored with the frame vectors) when at least one such frame exists,
and over all frames otherwise (an animation with text in every frame, or one whose text flags are
unknown: an index without OCR or written before the flags). The caption itself is still searchable through
the text and lexical branches.

``frame_pooling`` (an index setting, :data:`memesearch.index.config.FRAME_POOLINGS`): ``best``,
``best-textless`` or ``mean`` (the mean vector's cosine only); the default is chosen on the animated
benchmark's val split (README, "Animated stickers").

Because it is a re-rank, an animated item whose mean vector is not among the image branch's candidates is
not re-scored; the searcher's candidate pool (the union of every branch's top ``n``, ``n`` >= 100 by
default) is wide enough on the benchmark (README, "Animated stickers").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def eligible_frames(found: Any, textless: bool) -> np.ndarray:
    """Indices of the frames of ``found`` (an :class:`~memesearch.index.frame_rows.ItemFrames`) that may
    score the item: all of them, or with ``textless`` the frames where OCR read no text when there is at
    least one such frame and the flags are known."""
    count = len(found.vectors)
    flags = getattr(found, "has_text", None)
    if textless and flags is not None and len(flags) == count and not bool(np.all(flags)):
        return np.flatnonzero(~np.asarray(flags, dtype=bool))
    return np.arange(count)


def best_frame_scores(
    base: np.ndarray,
    queries: np.ndarray,
    rowids: np.ndarray,
    frames: Mapping[int, Any],
    *,
    textless: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``(scores (Q, n), best frame index (Q, n))``: ``base`` (the mean-vector cosines) with each item that
    has frames (``frames[rowid].vectors`` ``(F, dim)``) replaced by its best frame's cosine with
    ``queries`` ``(Q, dim)`` (with ``textless``: its best frame without OCR text, :func:`eligible_frames`);
    the index is -1 where the item has no frames."""
    scores = np.array(base, dtype=np.float32, copy=True)
    best = np.full(scores.shape, -1, dtype=np.int64)
    for j, rowid in enumerate(np.asarray(rowids).tolist()):
        found = frames.get(int(rowid))
        if found is None:
            continue
        keep = eligible_frames(found, textless)
        vecs = np.asarray(found.vectors, np.float32)[keep]
        sims = np.asarray(queries, np.float32) @ vecs.T  # (Q, F kept)
        top = np.argmax(sims, axis=1)
        best[:, j] = keep[top]
        scores[:, j] = sims[np.arange(sims.shape[0]), top]
    return scores, best


def matched_frames(
    frames: Mapping[int, Any], query: np.ndarray, rowids: np.ndarray, *, textless: bool = False
) -> dict[int, dict[str, Any]]:
    """``rowid -> {"index", "time_ms", "score", "frames"}`` of the frame of each animated item in ``rowids``
    that matched ``query`` ``(dim,)`` best (among :func:`eligible_frames`; ``frames``: the items' frames,
    as the image branch scores them; items without frame vectors are left out)."""
    if not len(rowids):
        return {}
    out: dict[int, dict[str, Any]] = {}
    for rowid in np.asarray(rowids).tolist():
        found = frames.get(int(rowid))
        if found is None:
            continue
        keep = eligible_frames(found, textless)
        sims = np.full(len(found.vectors), -np.inf, dtype=np.float32)
        sims[keep] = np.asarray(found.vectors, np.float32)[keep] @ np.asarray(query, np.float32)
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


__all__ = ["best_frame_scores", "describe_frame", "eligible_frames", "matched_frames"]
