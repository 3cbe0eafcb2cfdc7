"""Contrastive losses: multi-positive symmetric InfoNCE (the learnable, clamped logit scale they are
multiplied by is a model part: :class:`memesearch.models.logit_scale.LogitScale`).

In meme retrieval several items in a batch often share the same query text (one topic, many memes):
treating only the diagonal as positive would push true matches apart. Every item whose group id
equals the query's group id is a positive; each row (query -> items) and each column (item -> queries)
averages the log-probability over its positives (SupCon-style), and the two directions are averaged.
With all groups distinct this is exactly the CLIP loss.

Example::

    >>> import torch
    >>> q = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    >>> v = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    >>> loss = contrastive_loss(q, v, torch.tensor([0, 0, 1, 2]), torch.tensor(10.0))
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch
from torch import Tensor


def multi_positive_infonce(logits: Tensor, row_groups: Tensor, col_groups: Tensor | None = None) -> Tensor:
    """Symmetric multi-positive InfoNCE over a logit matrix.

    Args:
        logits: ``(N, M)`` similarity logits (already multiplied by the scale), rows = queries,
            columns = items.
        row_groups: ``(N,)`` integer group ids of the rows.
        col_groups: ``(M,)`` group ids of the columns; ``None`` means ``row_groups`` (square batch of
            pairs). ``positive[i, j] = row_groups[i] == col_groups[j]``.

    Returns:
        A 0-d tensor: ``(L_rows + L_cols) / 2``, where ``L_rows`` is the mean over rows of
        ``-mean_{j positive} log softmax_j(logits[i])`` and ``L_cols`` the same over columns. Rows or
        columns without any positive (e.g. extra hard-negative items) are left out of their mean.
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must be (N, M), got shape {tuple(logits.shape)}")
    if col_groups is None:
        col_groups = row_groups
    if row_groups.shape != (logits.shape[0],) or col_groups.shape != (logits.shape[1],):
        raise ValueError(
            f"group ids must be (N,) and (M,) for logits {tuple(logits.shape)}, "
            f"got {tuple(row_groups.shape)} and {tuple(col_groups.shape)}"
        )
    positive = row_groups[:, None] == col_groups[None, :]  # (N, M) bool
    return infonce_with_positives(logits, positive)


def infonce_with_positives(logits: Tensor, positive: Tensor) -> Tensor:
    """Symmetric multi-positive InfoNCE with an explicit ``(N, M)`` boolean ``positive`` matrix.

    For positives that group ids cannot express: a text naming an emoji is positive to every region of
    that emoji and, at the image level, to every collage holding it, while a collage holds several
    emoji (so a column is positive to several unrelated rows). Same reduction as
    :func:`multi_positive_infonce` (rows and columns without a positive are left out of their mean).
    """
    if logits.ndim != 2 or positive.shape != logits.shape:
        raise ValueError(
            f"logits and positive must be (N, M) of one shape, got {tuple(logits.shape)} and "
            f"{tuple(positive.shape)}"
        )
    positive = positive.to(dtype=torch.bool, device=logits.device)
    return 0.5 * (_mean_positive_nll(logits, positive) + _mean_positive_nll(logits.t(), positive.t()))


def _mean_positive_nll(logits: Tensor, positive: Tensor) -> Tensor:
    """Mean over rows with >= 1 positive of the negative mean log-softmax at the positives."""
    log_prob = logits.float().log_softmax(dim=1)  # (N, M)
    n_pos = positive.sum(dim=1)  # (N,)
    has_pos = n_pos > 0
    if not bool(has_pos.any()):
        raise ValueError("no row of the batch has a positive; check the group ids")
    # where() rather than multiplication: a masked -inf logit times 0 would give NaN
    per_row = -torch.where(positive, log_prob, torch.zeros_like(log_prob)).sum(dim=1) / n_pos.clamp(min=1)
    return per_row[has_pos].mean()


def contrastive_loss(
    query: Tensor,
    item: Tensor,
    groups: Tensor,
    scale: Tensor | float,
    *,
    item_groups: Tensor | None = None,
) -> Tensor:
    """Multi-positive symmetric InfoNCE between L2-normalised query and item features.

    Args:
        query: ``(N, D)`` normalised query features.
        item: ``(M, D)`` normalised item features.
        groups: ``(N,)`` group ids of the queries (items sharing a query text share its id).
        scale: the logit scale (e.g. ``LogitScale()()``).
        item_groups: ``(M,)`` group ids of the items; ``None`` means ``groups`` (pairs, ``M == N``).
    """
    logits = scale * (query.float() @ item.float().t())  # (N, M)
    return multi_positive_infonce(logits, groups, item_groups)


def stable_group_id(text: str) -> int:
    """A process-independent int64 id for a query text (Python's ``hash`` is salted per process).

    Items whose query texts are equal get equal ids on every rank and in every micro-batch, so
    positives are found across the whole gathered batch.
    """
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def group_ids(texts: Sequence[str]) -> Tensor:
    """``(N,)`` int64 tensor of :func:`stable_group_id` for each text."""
    return torch.tensor([stable_group_id(t) for t in texts], dtype=torch.int64)
