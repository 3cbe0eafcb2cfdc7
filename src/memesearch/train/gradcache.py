"""Gradient accumulation that enlarges the contrastive batch (GradCache, Gao et al. 2021).

Plain accumulation (loss per micro-batch, gradients summed) shrinks the set of negatives to one
micro-batch. Here the loss always sees the whole batch:

1. forward every micro-batch without grad and cache its features (RNG state saved per micro-batch);
2. concatenate (and gather across ranks), compute the loss once, and backprop it to the cached
   features (and to loss-only parameters such as the logit scale);
3. re-forward each micro-batch with grad, with its saved RNG state restored so that dropout draws
   the same masks, and backprop the cached feature gradients through it.

The parameter gradients equal those of one forward/backward over the whole batch (with the same
dropout masks) up to float rounding, at the cost of one extra forward; memory holds one micro-batch
of activations. With a single micro-batch, step 1 is skipped (plain forward/backward).

Caveat: batch-norm running statistics are updated twice per micro-batch (both forwards run in training
mode); Tasks with batch norm should keep those layers in eval mode (:meth:`Task.set_train_mode`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from memesearch.train.task import LossOutput

EmbedFn = Callable[[Any], Mapping[str, Tensor]]
LossFn = Callable[[dict[str, Tensor]], LossOutput]


@dataclass
class StepOutput:
    """Result of one accumulated step: the (detached) loss of the whole batch and the Task's metrics."""

    loss: Tensor
    metrics: dict[str, Any] = field(default_factory=dict)
    num_samples: int = 0


def accumulate_gradients(
    embed: EmbedFn,
    loss_fn: LossFn,
    micro_batches: Sequence[Any],
    *,
    gather: Callable[[Tensor], Tensor] | None = None,
    scale_loss: Callable[[Tensor], Tensor] | None = None,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
    rng_devices: Sequence[torch.device] = (),
    replay_rng: bool = True,
) -> StepOutput:
    """Accumulate into ``.grad`` the gradients of ``loss_fn`` over all ``micro_batches`` at once.

    Args:
        embed: ``batch -> {name: (b, ...) tensor}``; one micro-batch's per-sample features.
        loss_fn: ``{name: (N, ...) tensor} -> LossOutput`` over the concatenated (and gathered) features,
            floats in float32.
        micro_batches: the step's micro-batches, already on the device.
        gather: per-tensor cross-rank gather with gradient
            (:func:`memesearch.train.distributed.all_gather_with_grad`); ``None`` on one process.
        scale_loss: e.g. ``GradScaler.scale`` for fp16; the re-forward uses the already scaled
            feature gradients, so every gradient carries the same scale.
        autocast: factory of the mixed-precision context for the forwards (the loss runs outside it).
        rng_devices: CUDA devices whose RNG must be replayed besides the CPU one.
        replay_rng: restore each micro-batch's RNG state before its re-forward (only turn off to
            show why it is needed).

    Returns:
        :class:`StepOutput` with the detached loss, the Task's metrics and the local sample count.

    Example::

        out = accumulate_gradients(lambda b: task.embed_batch(model, b),
                                   lambda f: task.loss(model, f), [mb1, mb2, mb3])
        optimizer.step()
    """
    if not micro_batches:
        raise ValueError("accumulate_gradients needs at least one micro-batch")
    gather = gather or _identity
    scale_loss = scale_loss or _identity
    autocast = autocast or contextlib.nullcontext

    if len(micro_batches) == 1:  # nothing to cache: one ordinary forward/backward
        with autocast():
            features = _check(embed(micro_batches[0]))
        out = loss_fn(_to_fp32({k: gather(v) for k, v in features.items()}))
        scale_loss(out.loss).backward()
        return StepOutput(out.loss.detach(), out.metrics, _batch_size(features))

    # 1. forward without grad, caching features and the RNG state in front of each micro-batch
    states, cached = [], []
    with torch.no_grad():
        for batch in micro_batches:
            states.append(_get_rng(rng_devices))
            with autocast():
                cached.append({k: v.detach() for k, v in _check(embed(batch)).items()})
    end_state = _get_rng(rng_devices)
    sizes = [_batch_size(c) for c in cached]
    keys = list(cached[0])
    for i, c in enumerate(cached[1:], start=1):
        if list(c) != keys:
            raise ValueError(
                f"micro-batch {i} returned features {sorted(c)}, micro-batch 0 returned {sorted(keys)}"
            )

    # 2. loss over the whole batch; gradients land on fp32 leaves standing in for the features
    leaves: dict[str, Tensor] = {}
    for k in keys:
        joined = torch.cat([c[k] for c in cached], dim=0)
        leaves[k] = joined.float().requires_grad_(True) if joined.is_floating_point() else joined
    del cached
    out = loss_fn({k: gather(v) for k, v in leaves.items()})
    scale_loss(out.loss).backward()
    feature_grads = {k: v.grad for k, v in leaves.items() if v.is_floating_point() and v.grad is not None}

    # 3. re-forward each micro-batch with grad and push the cached feature gradients through it
    if feature_grads:
        offset = 0
        for batch, state, size in zip(micro_batches, states, sizes, strict=True):
            if replay_rng:
                _set_rng(state, rng_devices)
            with autocast():
                fresh = embed(batch)
            terms = [
                (fresh[k].float() * g[offset : offset + size]).sum()
                for k, g in feature_grads.items()
                if fresh[k].requires_grad
            ]
            if terms:
                torch.stack(terms).sum().backward()
            offset += size
        _set_rng(end_state, rng_devices)  # as if each micro-batch had been forwarded once
    return StepOutput(out.loss.detach(), out.metrics, sum(sizes))


def _identity(x: Tensor) -> Tensor:
    return x


def _check(features: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Every value a tensor with the same, non-zero leading dimension."""
    if not isinstance(features, Mapping) or not features:
        raise ValueError(
            f"embed_batch must return a non-empty dict of tensors, got {type(features).__name__}"
        )
    sizes = {}
    for k, v in features.items():
        if not isinstance(v, Tensor) or v.ndim == 0:
            raise ValueError(f"embed_batch()[{k!r}] must be a tensor with a batch dimension, got {v!r:.80}")
        sizes[k] = v.shape[0]
    if len(set(sizes.values())) != 1:
        raise ValueError(f"embed_batch outputs must share their first (batch) dimension, got {sizes}")
    return dict(features)


def _batch_size(features: Mapping[str, Tensor]) -> int:
    return int(next(iter(features.values())).shape[0])


def _to_fp32(features: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.float() if v.is_floating_point() else v for k, v in features.items()}


def _get_rng(devices: Sequence[torch.device]) -> tuple[Tensor, list[Tensor]]:
    return torch.get_rng_state(), [torch.cuda.get_rng_state(d) for d in devices]


def _set_rng(state: tuple[Tensor, list[Tensor]], devices: Sequence[torch.device]) -> None:
    cpu, cuda = state
    torch.set_rng_state(cpu)
    for device, s in zip(devices, cuda, strict=True):
        torch.cuda.set_rng_state(s, device)
