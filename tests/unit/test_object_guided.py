"""Task ``object-guided`` (issue 14 item 4): the explicit-positive InfoNCE, the alpha input's zero start,
whole collages per batch (same-image hard negatives) and the ablation switches, on synthetic collage
tensors (the dataset plumbing runs on a real build in tests/integration/test_object_guided_train.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from memesearch.errors import ConfigError
from memesearch.models.object_guided import ObjectGuidedModel, region_input
from memesearch.models.starter.model import StarterConfig, build_model
from memesearch.train.losses import infonce_with_positives, multi_positive_infonce
from memesearch.train.sampler import StepBatchSampler
from memesearch.train.task import ParamRole
from memesearch.train.tasks.object_guided import ObjectGuidedConfig, ObjectGuidedTask, SplitData

TINY = StarterConfig(image_size=16, widths=(4, 8), depths=(1, 1), head_hidden=0, dim=8, emotion_dim=0)


def test_infonce_with_positives_equals_a_hand_computation() -> None:
    # 2 texts x 3 regions; text 0 names regions 0 and 2 (en name of an emoji in two collages), text 1
    # names region 1; region 2 is also named by text 1 (one region, two names)
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.5, 1.5, -1.0]])
    positive = torch.tensor([[True, False, True], [False, True, True]])

    def lse(xs: list[float]) -> float:
        return math.log(sum(math.exp(x) for x in xs))

    r0 = -((2.0 - lse([2.0, 0.0, 1.0])) + (1.0 - lse([2.0, 0.0, 1.0]))) / 2
    r1 = -((1.5 - lse([0.5, 1.5, -1.0])) + (-1.0 - lse([0.5, 1.5, -1.0]))) / 2
    c0 = -(2.0 - lse([2.0, 0.5]))
    c1 = -(1.5 - lse([0.0, 1.5]))
    c2 = -((1.0 - lse([1.0, -1.0])) + (-1.0 - lse([1.0, -1.0]))) / 2
    expected = 0.5 * ((r0 + r1) / 2 + (c0 + c1 + c2) / 3)
    assert float(infonce_with_positives(logits, positive)) == pytest.approx(expected, rel=1e-6)


def test_infonce_with_positives_agrees_with_group_ids_and_skips_rows_without_positive() -> None:
    torch.manual_seed(0)
    logits = torch.randn(5, 5)
    groups = torch.tensor([0, 0, 1, 2, 2])
    same = groups[:, None] == groups[None, :]
    assert torch.allclose(infonce_with_positives(logits, same), multi_positive_infonce(logits, groups))
    # an extra column without a positive only adds a negative
    extra = torch.cat([logits, torch.randn(5, 1)], 1)
    pos = torch.cat([same, torch.zeros(5, 1, dtype=torch.bool)], 1)
    assert torch.isfinite(infonce_with_positives(extra, pos))
    with pytest.raises(ValueError):
        infonce_with_positives(logits, same[:, :4])


def test_alpha_branch_starts_as_the_plain_tower() -> None:
    torch.manual_seed(0)
    plain = build_model(TINY).eval()
    guided = ObjectGuidedModel(TINY, alpha=True).eval()
    missing, unexpected = guided.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["alpha.weight"] and not unexpected
    pixels = torch.rand(3, 3, 16, 16) * 2 - 1
    alpha = (torch.rand(3, 1, 16, 16) > 0.5).float()
    with torch.no_grad():
        base = plain.image_features(pixels)
        assert torch.equal(guided.image_features(pixels, alpha), base)
        assert torch.equal(guided.image_features(pixels), base)
        guided.alpha.weight.fill_(0.1)  # type: ignore[union-attr]
        assert not torch.allclose(guided.image_features(pixels, alpha), base)
        assert torch.equal(guided.image_features(pixels), base)  # no alpha map: the plain tower
    assert ObjectGuidedModel(TINY, alpha=False).alpha is None


def test_region_input_masks_and_alpha() -> None:
    img = Image.new("RGB", (40, 20), (10, 200, 30))
    mask = np.zeros((20, 40), dtype=bool)
    mask[5:15, 10:20] = True
    pix, alpha = region_input(img, (8, 4, 22, 16), mask, side=16, masked=True)
    assert pix.shape == (16, 16, 3) and alpha.shape == (16, 16)
    assert alpha.max() == pytest.approx(1.0) and alpha.min() == 0.0
    assert (pix[alpha == 0] == 255).all()  # outside the mask: painted white
    _, box_alpha = region_input(img, (8, 4, 22, 16), None, side=16)
    assert box_alpha.mean() > alpha.mean()  # no mask: the whole box is the region
    with pytest.raises(ConfigError):
        region_input(img, (5, 5, 5, 9), None, side=16)
    with pytest.raises(ConfigError):
        region_input(img, (0, 0, 4, 4), np.zeros((3, 3), dtype=bool), side=16)


def _synthetic_task(**overrides: object) -> ObjectGuidedTask:
    """A task whose train and val splits are 12 synthetic collages of 1-4 regions (6 concepts, 2 names
    each), so no dataset or text encoder is read."""
    cfg = ObjectGuidedConfig(dataset="unused", init=None, model=TINY, max_regions=4, eval_batch_size=16,
                             **overrides)  # type: ignore[arg-type]  # fmt: skip
    task = ObjectGuidedTask(cfg)
    gen = torch.Generator().manual_seed(0)
    n, k, c = 12, 4, 6
    counts = torch.tensor([1, 2, 3, 4] * 3)
    valid = torch.arange(k)[None, :] < counts[:, None]
    concept = torch.where(valid, torch.randint(0, c, (n, k), generator=gen), -1)
    # each concept has a colour: regions are mostly that colour, so the task is learnable
    colours = torch.randint(0, 256, (c, 3), generator=gen, dtype=torch.int64)
    regions = torch.full((n, k, 3, 16, 16), 255, dtype=torch.uint8)
    for i, j in zip(*torch.nonzero(valid, as_tuple=True), strict=True):
        noise = torch.randint(-20, 21, (3, 16, 16), generator=gen)
        regions[i, j] = (colours[concept[i, j]][:, None, None] + noise).clamp(0, 255).to(torch.uint8)
    alpha = torch.zeros((n, k, 1, 16, 16), dtype=torch.uint8)
    alpha[..., 4:12, 4:12] = 255
    whole = torch.randint(0, 256, (n, 3, 16, 16), generator=gen, dtype=torch.int64).to(torch.uint8)
    names = torch.zeros((2 * c, c), dtype=torch.bool)
    for t in range(2 * c):
        names[t, t // 2] = True  # texts 2c and 2c+1: the en and zh name of concept c
    text_emb = torch.nn.functional.normalize(torch.randn(2 * c, 8, generator=gen), dim=-1)
    item_ids = [f"i{i}" for i in range(n)]
    qids = [f"q{t}" for t in range(2 * c)]
    qrels = {
        q: {item_ids[i]: 1 for i in range(n) if bool((concept[i] == t // 2).any())}
        for t, q in enumerate(qids)
    }
    data = SplitData(regions, alpha, valid, concept, whole, [f"t{t}" for t in range(2 * c)], text_emb, names,
                     [f"c{i}" for i in range(c)], list(range(2 * c)), qids, qrels, item_ids)  # fmt: skip
    task._splits = {"train": data, "val": data}
    return task


def test_batches_hold_every_region_of_each_collage() -> None:
    task = _synthetic_task()
    data = task.split_data("train")
    ds = task.train_dataset()
    sampler = StepBatchSampler(len(ds), 4, 1, 0, 1, seed=3, epoch=0)
    seen: list[int] = []
    for indices in sampler:
        batch = task.collate([ds[i] for i in indices])
        for row, collage in enumerate(batch["index"].tolist()):
            seen.append(collage)
            # every region of the collage is in this batch, in its slots, with its concept
            assert torch.equal(batch["valid"][row], data.valid[collage])
            assert torch.equal(batch["concept"][row], data.concept[collage])
            assert torch.equal(batch["regions"][row], data.regions[collage])
    assert sorted(seen) == list(range(12))  # each collage once per epoch (12 = 3 batches of 4)


def _loss(task: ObjectGuidedTask, model: torch.nn.Module, index: list[int]) -> tuple[torch.Tensor, dict]:
    batch = task.collate(index)
    feats = task.embed_batch(model, batch)
    out = task.loss(model, feats)
    return out.loss, {**out.metrics, "features": set(feats)}


def test_ablation_switches_change_what_is_used_and_trained() -> None:
    torch.manual_seed(0)
    full = _synthetic_task()
    model = full.build_model()
    loss, info = _loss(full, model, list(range(8)))
    assert {"region", "global"} <= info["features"] and {"loss_region", "loss_global"} <= set(info)
    loss.backward()
    alpha = model.alpha.weight  # type: ignore[union-attr]
    assert alpha.grad is not None and float(alpha.grad.abs().sum()) > 0  # the alpha input learns

    glob = _synthetic_task(branches=("global",))
    gmodel = glob.build_model()
    loss, info = _loss(glob, gmodel, list(range(8)))
    assert "region" not in info["features"] and "loss_region" not in info
    loss.backward()
    assert gmodel.alpha.weight.grad is None  # type: ignore[union-attr]  # region inputs unused

    region = _synthetic_task(branches=("region",), alpha=False)
    rmodel = region.build_model()
    assert rmodel.alpha is None and not any(n.startswith("alpha") for n, _ in rmodel.named_parameters())
    _, info = _loss(region, rmodel, list(range(8)))
    assert "global" not in info["features"] and "loss_global" not in info
    assert "global_R@10" not in region.validate(rmodel.eval(), torch.device("cpu"))
    assert "region_R@10" not in glob.validate(gmodel.eval(), torch.device("cpu"))

    roles = {n: full.param_role(n, p) for n, p in model.named_parameters()}
    assert all(r is ParamRole.FROZEN for n, r in roles.items() if n.startswith("qi."))
    assert roles["alpha.weight"] is ParamRole.NEW
    with pytest.raises(ConfigError):
        _synthetic_task(branches=("regions",))


def test_a_few_steps_lower_the_loss_on_synthetic_collages() -> None:
    torch.manual_seed(0)
    task = _synthetic_task()
    model = task.build_model()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        task.set_train_mode(model)
        loss, _ = _loss(task, model, list(range(12)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0]
    metrics = task.validate(model.eval(), torch.device("cpu"))
    assert set(metrics) >= {"R@1", "R@10", "MdR", "region_R@10", "global_R@10"}
