"""AdamW with parameter groups (new layers, pretrained towers at ``lr * coef_lr``, no decay on
biases/norms/scales/gates, frozen parts left out) and a warmup + cosine schedule per optimizer step.

Example::

    >>> optimizer, groups = build_optimizer(model, task, OptimConfig(lr=1e-4, coef_lr=0.1))  # doctest: +SKIP
    >>> scheduler = build_scheduler(optimizer, OptimConfig(warmup_ratio=0.1), 1000)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memesearch.train.config import OptimConfig
from memesearch.train.task import ParamRole, Task

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


@dataclass(frozen=True)
class GroupSummary:
    """One optimizer parameter group, for the run log and tests."""

    name: str
    role: ParamRole
    decay: bool
    lr: float
    weight_decay: float
    num_tensors: int
    num_params: int
    param_names: tuple[str, ...]


def build_param_groups(
    model: nn.Module, task: Task, config: OptimConfig
) -> tuple[list[dict[str, Any]], list[GroupSummary]]:
    """Split the model's parameters into AdamW groups by (role, decay).

    Frozen parameters (``ParamRole.FROZEN``, or ``requires_grad`` already False) get
    ``requires_grad_(False)`` and are left out of every group, so neither gradients, moments nor
    weight decay can touch them. Returns the groups and a summary per group (frozen ones included,
    with ``lr`` 0).
    """
    buckets: dict[tuple[ParamRole, bool], list[tuple[str, nn.Parameter]]] = {}
    frozen: list[tuple[str, nn.Parameter]] = []
    for name, param in model.named_parameters():
        role = task.param_role(name, param) if param.requires_grad else ParamRole.FROZEN
        if not isinstance(role, ParamRole):
            raise TypeError(f"{type(task).__name__}.param_role({name!r}) returned {role!r}, not a ParamRole")
        if role is ParamRole.FROZEN:
            param.requires_grad_(False)
            frozen.append((name, param))
            continue
        decay = not task.no_weight_decay(name, param)
        buckets.setdefault((role, decay), []).append((name, param))

    groups: list[dict[str, Any]] = []
    summaries: list[GroupSummary] = []
    for role in (ParamRole.NEW, ParamRole.PRETRAINED):
        for decay in (True, False):
            members = buckets.get((role, decay), [])
            if not members:
                continue
            lr = config.lr * (config.coef_lr if role is ParamRole.PRETRAINED else 1.0)
            wd = config.weight_decay if decay else 0.0
            name = f"{role.value}/{'decay' if decay else 'no_decay'}"
            groups.append({"params": [p for _, p in members], "lr": lr, "weight_decay": wd, "name": name})
            summaries.append(_summary(name, role, decay, lr, wd, members))
    if frozen:
        summaries.append(_summary("frozen", ParamRole.FROZEN, False, 0.0, 0.0, frozen))
    if not groups:
        raise ValueError(f"{type(task).__name__}: every parameter is frozen; there is nothing to train")
    return groups, summaries


def _summary(
    name: str, role: ParamRole, decay: bool, lr: float, wd: float, members: list[tuple[str, nn.Parameter]]
) -> GroupSummary:
    return GroupSummary(
        name=name,
        role=role,
        decay=decay,
        lr=lr,
        weight_decay=wd,
        num_tensors=len(members),
        num_params=sum(p.numel() for _, p in members),
        param_names=tuple(n for n, _ in members),
    )


def build_optimizer(
    model: nn.Module, task: Task, config: OptimConfig
) -> tuple[torch.optim.AdamW, list[GroupSummary]]:
    """AdamW over :func:`build_param_groups` (fused kernels when the parameters live on CUDA)."""
    import torch

    groups, summaries = build_param_groups(model, task, config)
    on_cuda = all(p.is_cuda for g in groups for p in g["params"])
    optimizer = torch.optim.AdamW(
        groups,
        lr=config.lr,
        betas=config.betas,
        eps=config.eps,
        weight_decay=config.weight_decay,
        fused=on_cuda or None,
    )
    return optimizer, summaries


class WarmupCosine:
    """LR multiplier for optimizer step ``s`` (0-based): linear warmup to 1, then cosine to ``min_ratio``.

    ``f(s) = (s + 1) / warmup`` for ``s < warmup``; then ``min + (1 - min) * (1 + cos(pi * p)) / 2``
    with ``p = (s - warmup) / (total - warmup)``. ``schedule="constant"`` keeps 1 after warmup.
    A plain object (its ``__dict__`` is numbers), so LambdaLR's state dict saves it for exact resume.
    """

    def __init__(
        self, warmup_steps: int, total_steps: int, min_ratio: float = 0.0, schedule: str = "cosine"
    ) -> None:
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.min_ratio = float(min_ratio)
        self.schedule = schedule

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.schedule == "constant":
            return 1.0
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_steps_for(config: OptimConfig, total_steps: int) -> int:
    """Warmup length in steps: ``warmup_steps``, or ``round(warmup_ratio * total_steps)``."""
    if config.warmup_steps:
        return config.warmup_steps
    return round(config.warmup_ratio * total_steps)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: OptimConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR stepped once per optimizer step; every group keeps its own base LR."""
    import torch

    factor = WarmupCosine(
        warmup_steps_for(config, total_steps), total_steps, config.min_lr_ratio, config.schedule
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
