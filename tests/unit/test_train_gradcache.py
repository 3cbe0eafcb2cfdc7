"""GradCache accumulation: k micro-batches of size b give the gradients of one contrastive batch of k*b."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from memesearch.train.gradcache import accumulate_gradients
from memesearch.train.synthetic import SyntheticTask
from memesearch.train.task import Task, create_task

K, B = 3, 4  # micro-batches, micro-batch size


def setup(dropout: float) -> tuple[Task, nn.Module, list[Any], Any]:
    task, _ = create_task("synthetic", {"dropout": dropout, "num_groups": 6, "items_per_group": 2})
    assert isinstance(task, SyntheticTask)
    torch.manual_seed(0)
    model = task.build_model()
    model.train()
    data = task.train_dataset()
    # groups repeat inside and across micro-batches: a multi-positive batch
    order = [0, 2, 1, 4, 3, 5, 6, 8, 7, 9, 10, 11]
    assert len(order) == K * B
    samples = [data[i] for i in order]
    micro = [task.collate(samples[j * B : (j + 1) * B]) for j in range(K)]
    full = task.collate(samples)
    groups = full["group"].tolist()
    assert len(set(groups)) < len(groups)
    assert any(g in set(groups[:B]) for g in groups[B:])
    return task, model, micro, full


def grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def run_cache(
    task: Task, model: nn.Module, micro: list[Any], **kwargs: Any
) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    out = accumulate_gradients(
        lambda b: task.embed_batch(model, b), lambda f: task.loss(model, f), micro, **kwargs
    )
    return float(out.loss.detach()), grads(model)


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys() and a
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5, rtol=1e-4), name


def test_equals_one_big_batch_without_dropout() -> None:
    task, model, micro, full = setup(dropout=0.0)
    model.zero_grad(set_to_none=True)
    out = task.loss(model, task.embed_batch(model, full))  # the plain big-batch step, written out
    out.loss.backward()
    reference = grads(model)
    loss, cached = run_cache(task, model, micro)
    assert loss == pytest.approx(float(out.loss.detach()), abs=1e-6)
    assert_same(cached, reference)
    assert "logit_scale.log_scale" in cached  # a loss-only parameter gets its gradient too


def test_equals_one_big_batch_with_dropout_thanks_to_rng_replay() -> None:
    task, model, micro, _ = setup(dropout=0.3)
    # reference: the whole batch forwarded with grad (micro-batch after micro-batch, so dropout draws
    # the same masks as the first GradCache pass), one loss, one backward
    torch.manual_seed(123)
    model.zero_grad(set_to_none=True)
    parts = [task.embed_batch(model, mb) for mb in micro]
    features = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    out = task.loss(model, features)
    out.loss.backward()
    reference = grads(model)
    rng_after_reference = torch.get_rng_state()

    torch.manual_seed(123)
    loss, cached = run_cache(task, model, micro)
    assert loss == pytest.approx(float(out.loss.detach()), abs=1e-6)
    assert_same(cached, reference)
    assert torch.equal(torch.get_rng_state(), rng_after_reference)  # the RNG stream continues as if once

    torch.manual_seed(123)  # without replay the re-forward draws new masks: the gradients are wrong
    _, unreplayed = run_cache(task, model, micro, replay_rng=False)
    assert any(not torch.allclose(unreplayed[n], reference[n], atol=1e-5) for n in reference)


def test_frozen_parts_and_integer_features_need_no_gradient() -> None:
    task, model, micro, _ = setup(dropout=0.0)
    for p in model.item_stem.parameters():  # type: ignore[union-attr]
        p.requires_grad_(False)
    _, cached = run_cache(task, model, micro)
    assert not any(name.startswith("item_stem.") for name in cached)


def test_inconsistent_feature_batches_are_reported() -> None:
    task, model, micro, _ = setup(dropout=0.0)

    def embed(batch: Any) -> dict[str, torch.Tensor]:
        out = task.embed_batch(model, batch)
        return {**out, "group": out["group"][:-1]}

    with pytest.raises(ValueError, match="share their first"):
        accumulate_gradients(embed, lambda f: task.loss(model, f), micro)


def test_a_loss_scale_reaches_every_gradient_exactly_once() -> None:
    # what GradScaler relies on: with scale_loss=s*loss all gradients (features and loss-only
    # parameters alike) are s times the unscaled ones, so unscale_ recovers them
    task, model, micro, _ = setup(dropout=0.0)
    _, plain = run_cache(task, model, micro)
    _, scaled = run_cache(task, model, micro, scale_loss=lambda loss: 1024.0 * loss)
    assert_same({k: v / 1024.0 for k, v in scaled.items()}, plain)
