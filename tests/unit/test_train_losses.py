"""Multi-positive symmetric InfoNCE against a naive loop oracle, and its CLIP special case."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from memesearch.train.losses import contrastive_loss, group_ids, multi_positive_infonce


def naive_multi_positive(logits: torch.Tensor, rows: list[int], cols: list[int]) -> torch.Tensor:
    """Ten-line oracle: per row / column, mean -log p over the positives, rows without positives skipped."""

    def one_side(mat: torch.Tensor, a: list[int], b: list[int]) -> torch.Tensor:
        terms = []
        for i in range(mat.shape[0]):
            denom = torch.logsumexp(mat[i], dim=0)
            positives = [mat[i, j] - denom for j in range(mat.shape[1]) if a[i] == b[j]]
            if positives:
                terms.append(-torch.stack(positives).mean())
        return torch.stack(terms).mean()

    return 0.5 * (one_side(logits, rows, cols) + one_side(logits.t(), cols, rows))


@pytest.mark.parametrize("n", [1, 5, 11])
def test_square_batch_matches_oracle_values_and_gradients(n: int) -> None:
    gen = torch.Generator().manual_seed(n)
    groups = torch.randint(0, max(1, n // 2), (n,), generator=gen)  # repeated groups: multi-positive
    logits = (3 * torch.randn(n, n, generator=gen, dtype=torch.float64)).requires_grad_(True)
    fast = multi_positive_infonce(logits, groups)
    (grad_fast,) = torch.autograd.grad(fast, logits)
    slow = naive_multi_positive(logits, groups.tolist(), groups.tolist())
    (grad_slow,) = torch.autograd.grad(slow, logits)
    assert torch.allclose(fast.double(), slow, atol=1e-6)
    assert torch.allclose(grad_fast, grad_slow, atol=1e-6)


def test_rectangular_batch_with_unmatched_columns_matches_oracle() -> None:
    gen = torch.Generator().manual_seed(3)
    rows = torch.tensor([0, 1, 2, 1])
    cols = torch.tensor([2, 0, 1, 1, 7, 8, 0])  # columns 4 and 5 are nobody's positive (hard negatives)
    logits = torch.randn(4, 7, generator=gen, dtype=torch.float64)
    fast = multi_positive_infonce(logits, rows, cols)
    slow = naive_multi_positive(logits, rows.tolist(), cols.tolist())
    assert torch.allclose(fast.double(), slow, atol=1e-6)


def test_distinct_groups_give_the_standard_clip_loss() -> None:
    gen = torch.Generator().manual_seed(0)
    q = F.normalize(torch.randn(9, 16, generator=gen), dim=-1)
    v = F.normalize(torch.randn(9, 16, generator=gen), dim=-1)
    scale = torch.tensor(14.0)
    logits = scale * q @ v.t()
    labels = torch.arange(9)
    clip = 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))
    ours = contrastive_loss(q, v, torch.arange(100, 109), scale)
    assert torch.allclose(ours, clip, atol=1e-6)


def test_bad_shapes_and_batches_without_positives_are_rejected() -> None:
    with pytest.raises(ValueError, match="group ids"):
        multi_positive_infonce(torch.zeros(3, 3), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="no row"):
        multi_positive_infonce(torch.zeros(2, 2), torch.tensor([0, 1]), torch.tensor([2, 3]))


def test_group_ids_are_equal_for_equal_texts_only() -> None:
    ids = group_ids(["开心", "happy", "开心", "sad"])
    assert ids.dtype == torch.int64
    assert ids[0] == ids[2]
    assert len(set(ids.tolist())) == 3
