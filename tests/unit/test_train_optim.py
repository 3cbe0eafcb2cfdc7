"""Optimizer parameter groups, the warmup + cosine schedule, the Task registry and the step sampler."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from memesearch.errors import ConfigError, UnknownNameError
from memesearch.train import task as task_module
from memesearch.train.config import OptimConfig
from memesearch.train.optim import build_optimizer, build_scheduler
from memesearch.train.sampler import StepBatchSampler
from memesearch.train.task import ParamRole, Task, create_task, get_task_spec, list_tasks, register_task


def synthetic(**overrides: Any) -> tuple[Task, nn.Module]:
    task, _ = create_task("synthetic", overrides)
    return task, task.build_model()


def test_groups_give_pretrained_towers_lr_times_coef_and_skip_decay_on_vectors() -> None:
    task, model = synthetic()
    cfg = OptimConfig(lr=2e-3, coef_lr=0.1, weight_decay=0.05)
    optimizer, summaries = build_optimizer(model, task, cfg)
    lr_of: dict[int, float] = {}
    wd_of: dict[int, float] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            lr_of[id(p)] = group["lr"]
            wd_of[id(p)] = group["weight_decay"]
    named = dict(model.named_parameters())
    assert lr_of[id(named["query_embedding.weight"])] == pytest.approx(2e-4)  # pretrained: lr * coef_lr
    assert lr_of[id(named["query_head.0.weight"])] == pytest.approx(2e-3)
    assert wd_of[id(named["query_head.0.weight"])] == pytest.approx(0.05)
    for name in (
        "query_head.0.bias",
        "item_head.0.weight",
        "logit_scale.log_scale",
    ):  # bias, LayerNorm, scale
        assert wd_of[id(named[name])] == 0.0, name
    frozen = [s for s in summaries if s.role is ParamRole.FROZEN]
    assert frozen and set(frozen[0].param_names) == {"item_stem.weight", "item_stem.bias"}
    for name in frozen[0].param_names:
        assert not named[name].requires_grad and id(named[name]) not in lr_of
    # every trainable parameter is in exactly one group
    assert sum(len(g["params"]) for g in optimizer.param_groups) == sum(
        p.requires_grad for p in model.parameters()
    )


def test_schedule_warms_up_linearly_then_follows_a_cosine_per_group() -> None:
    task, model = synthetic()
    cfg = OptimConfig(lr=1e-3, coef_lr=0.1, warmup_steps=4, min_lr_ratio=0.1)
    optimizer, _ = build_optimizer(model, task, cfg)
    total = 20
    scheduler = build_scheduler(optimizer, cfg, total)
    seen = []
    for _ in range(total):
        seen.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    base = [1e-3 if g["name"].startswith("new") else 1e-4 for g in optimizer.param_groups]
    for step, lrs in enumerate(seen):
        if step < 4:
            factor = (step + 1) / 4
        else:
            factor = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - 4) / (total - 4)))
        assert lrs == pytest.approx([b * factor for b in base]), step
    assert seen[3] == pytest.approx(base)  # the peak is reached at the end of warmup


def test_registry_lists_valid_names_and_accepts_new_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_module, "_REGISTRY", dict(task_module._REGISTRY))  # leave no test tasks behind
    with pytest.raises(UnknownNameError, match=r"unknown task 'nope'; valid tasks: .*synthetic"):
        get_task_spec("nope")

    class Constant(Task):
        def build_model(self) -> nn.Module:
            return nn.Linear(2, 2)

        def train_dataset(self) -> Any:
            return []

        def embed_batch(self, model: nn.Module, batch: Any) -> Any:
            return {}

        def loss(self, model: nn.Module, features: Any) -> Any:
            raise NotImplementedError

        def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
            return {}

    register_task("test-constant", lambda cfg: Constant(), description="test")
    assert "test-constant" in list_tasks()
    task, resolved = create_task("test-constant", {"anything": 1})
    assert isinstance(task, Constant) and resolved == {"anything": 1}
    register_task("test-broken", lambda cfg: object())  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigError, match="returned object, not a Task"):
        create_task("test-broken")


@pytest.mark.parametrize(("world", "accum"), [(1, 1), (2, 1), (2, 3), (3, 2)])
def test_step_sampler_splits_the_global_batch_over_ranks_and_micro_batches(world: int, accum: int) -> None:
    n, batch = 100, 12 if world * accum != 6 else 18
    single = list(StepBatchSampler(n, batch, 1, 0, 1, seed=5, epoch=2))
    per_rank = [list(StepBatchSampler(n, batch, accum, r, world, seed=5, epoch=2)) for r in range(world)]
    assert len(single) == n // batch
    for step, global_batch in enumerate(single):
        joined = [
            i for r in range(world) for mb in per_rank[r][step * accum : (step + 1) * accum] for i in mb
        ]
        assert joined == global_batch
    # resuming mid-epoch skips exactly the steps already done
    tail = list(StepBatchSampler(n, batch, accum, world - 1, world, seed=5, epoch=2, start_step=3))
    assert tail == per_rank[world - 1][3 * accum :]
    # another epoch, another order; the same epoch, the same order
    assert list(StepBatchSampler(n, batch, 1, 0, 1, seed=5, epoch=3)) != single
    assert list(StepBatchSampler(n, batch, 1, 0, 1, seed=5, epoch=2)) == single
    with pytest.raises(ConfigError, match="divisible by world_size"):
        StepBatchSampler(n, 10, 3, 0, 1, seed=0, epoch=0)
