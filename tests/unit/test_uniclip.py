"""UniCLIP: heads (shapes, padding mask), candidate sampling, loss weights, the OCR neighbour table in the
original format, a few steps that lower the loss, export without heads, presets (tiny models, CPU)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from memesearch.data.ocr_neighbours import read_neighbour_table, write_neighbour_table
from memesearch.errors import ConfigError, DataFormatError
from memesearch.models.uniclip.heads import (
    PresenceHead,
    PresenceHeadConfig,
    SemanticHead,
    SemanticHeadConfig,
)
from memesearch.models.uniclip.model import LOGIT_SCALE_MAX, UniClipModel
from memesearch.train.task import create_task
from memesearch.train.tasks.toy_dataset import write_toy_dataset
from memesearch.train.tasks.uniclip import UniClipTask, loss_weights, no_decay
from memesearch.train.tasks.uniclip_ann import build_neighbour_table
from memesearch.train.tasks.uniclip_data import sample_candidate


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy"))


def _task(toy: Path, **extra: object) -> tuple[UniClipTask, UniClipModel]:
    task, _ = create_task("uniclip", {"dataset": str(toy), "model_name": "tiny-clip:0", **extra})
    assert isinstance(task, UniClipTask)
    model = task.build_model()
    assert isinstance(model, UniClipModel)
    return task, model


# ---- heads


def test_presence_head_maps_image_tokens_to_two_logits() -> None:
    head = PresenceHead(PresenceHeadConfig(width=32, layers=3))
    assert len(head.blocks) == 3
    assert head(torch.randn(4, 17, 32)).shape == (4, 2)


def test_semantic_head_shapes_and_adapter_only_when_widths_differ() -> None:
    same = SemanticHead(SemanticHeadConfig(vision_width=32, text_width=32, vocab_size=50))
    other = SemanticHead(SemanticHeadConfig(vision_width=32, text_width=16, vocab_size=50))
    assert isinstance(same.adapter, torch.nn.Identity)
    assert isinstance(other.adapter, torch.nn.Linear) and other.adapter.weight.shape == (32, 16)
    ids = torch.randint(1, 50, (3, 20))
    for head in (same, other):
        assert head(torch.randn(3, 17, 32), ids, torch.ones(3, 20)).shape == (3, 2)
    with pytest.raises(ValueError, match="more than"):
        same(torch.randn(3, 17, 32), torch.randint(1, 50, (3, 21)), torch.ones(3, 21))


def test_semantic_head_padding_gets_no_attention() -> None:
    torch.manual_seed(0)
    head = SemanticHead(SemanticHeadConfig(vision_width=32, text_width=16, vocab_size=50)).eval()
    image = torch.randn(2, 17, 32)
    ids = torch.zeros(2, 20, dtype=torch.long)
    ids[0, :5] = torch.tensor([2, 7, 9, 11, 3])
    ids[1, :9] = torch.arange(10, 19)
    mask = (ids != 0).long()
    out = head(image, ids, mask)
    # garbage ids in the padded positions change nothing
    noisy = ids.clone()
    noisy[mask == 0] = torch.randint(1, 50, (int((mask == 0).sum()),))
    torch.testing.assert_close(head(image, noisy, mask), out, rtol=0, atol=1e-6)
    # nor does the padded length: the same candidates in 9 positions
    torch.testing.assert_close(head(image, ids[:, :9], mask[:, :9]), out, rtol=0, atol=1e-5)
    # without the mask the pads would take part (what the original did)
    assert not torch.allclose(head(image, noisy, torch.ones_like(mask)), out, atol=1e-3)


def test_model_heads_read_the_token_sequence_before_the_final_norm(toy: Path) -> None:
    _, model = _task(toy)
    model.eval()
    pixels = torch.randn(2, 3, 32, 32)
    out = model.encode_image(pixels)
    clip = model.clip
    vision = clip.vision_model(pixel_values=pixels)  # type: ignore[operator]
    torch.testing.assert_close(out.tokens, vision.last_hidden_state)
    assert out.tokens.shape == (2, 17, 32)  # CLS + 4 x 4 patches
    reference = F.normalize(
        clip.visual_projection(clip.vision_model.post_layernorm(out.tokens[:, 0])), dim=-1
    )  # type: ignore[operator, union-attr]
    torch.testing.assert_close(out.embedding, reference, rtol=1e-5, atol=1e-6)


# ---- candidate sampling


def test_candidate_sampling_frequencies_and_labels() -> None:
    table = {"cat fun": ["dog fun", "cat fun", "cow fun"], "dog fun": ["cat fun"], "cow fun": []}
    keys = list(table)
    rng = random.Random(0)
    n = 30_000
    draws = [sample_candidate("cat fun", table, keys, rng, 0.7) for _ in range(n)]
    counts = Counter(draws)
    # own with 0.7, else one of 3 neighbours uniformly (one of them is the own string: label 1 too)
    own_share = counts[("cat fun", 1)] / n
    assert own_share == pytest.approx(0.7 + 0.3 / 3, abs=0.01)
    assert counts[("dog fun", 0)] / n == pytest.approx(0.1, abs=0.01)
    assert counts[("cow fun", 0)] / n == pytest.approx(0.1, abs=0.01)
    assert set(counts) == {("cat fun", 1), ("dog fun", 0), ("cow fun", 0)}
    # no text: a random key, label 0, uniformly
    none = Counter(sample_candidate(None, table, keys, rng) for _ in range(9_000))
    assert {c.label for c in none} == {0}
    assert all(abs(v / 9_000 - 1 / 3) < 0.02 for v in none.values())
    # own OCR not in the table (or without neighbours): the own OCR, label 1
    assert {sample_candidate("new text", table, keys, rng) for _ in range(200)} == {("new text", 1)}
    assert {sample_candidate("cow fun", table, keys, rng) for _ in range(200)} == {("cow fun", 1)}
    with pytest.raises(ConfigError, match="empty"):
        sample_candidate(None, {}, [], rng)


def test_dataset_draws_are_seeded_and_follow_the_rules(toy: Path) -> None:
    task, _ = _task(toy)
    ds = task.train_dataset()
    split = ds.source.split
    torch.manual_seed(1)
    a = [ds[i] for i in range(len(ds))]
    torch.manual_seed(1)
    b = [ds[i] for i in range(len(ds))]
    assert [(s["candidate"], s["match"]) for s in a] == [(s["candidate"], s["match"]) for s in b]
    own = 0
    with_text = 0
    for i in range(len(ds)):
        item = split.items[ds.source.item_index[i]]
        for trial in range(40):
            s = ds.draw(i, random.Random(trial))
            assert s["presence"] == int(item.ocr is not None)
            if item.ocr is None:
                assert s["match"] == 0 and s["candidate"] in ds.source.keys
            else:
                with_text += 1
                own += s["candidate"] == item.ocr
                assert s["match"] == int(s["candidate"] == item.ocr)
    assert with_text and own / with_text > 0.65


# ---- loss


@pytest.mark.parametrize(
    ("presence", "semantic", "weights"),
    [(True, True, (0.8, 0.1, 0.1)), (True, False, (0.8, 0.2, 0.0)), (False, True, (0.8, 0.0, 0.2)),
     (False, False, (1.0, 0.0, 0.0))],
)  # fmt: skip
def test_loss_is_the_weighted_sum_of_its_parts(
    toy: Path, presence: bool, semantic: bool, weights: tuple[float, float, float]
) -> None:
    assert loss_weights(presence, semantic) == weights
    task, model = _task(toy, presence=presence, semantic=semantic)
    assert (model.presence is not None, model.semantic is not None) == (presence, semantic)
    ds = task.train_dataset()
    torch.manual_seed(0)
    batch = task.collate([ds[i] for i in range(8)])
    out = task.loss(model, task.embed_batch(model, batch))
    m = out.metrics
    expected = weights[0] * m["itc"]
    expected = expected + (weights[1] * m["presence"] if presence else 0)
    expected = expected + (weights[2] * m["semantic"] if semantic else 0)
    torch.testing.assert_close(out.loss.detach(), torch.as_tensor(expected), rtol=1e-6, atol=1e-6)
    assert ("presence" in m) == presence and ("semantic" in m) == semantic


def test_no_weight_decay_for_norms_biases_and_the_logit_scale(toy: Path) -> None:
    _, model = _task(toy)
    names = {n for n, p in model.named_parameters() if no_decay(n, p)}
    assert "clip.logit_scale" in names
    assert "clip.vision_model.post_layernorm.weight" in names
    assert "presence.blocks.0.ln_1.weight" in names and "semantic.blocks.0.self_attn.in_proj_bias" in names
    assert "presence.blocks.0.mlp.0.weight" not in names and "semantic.embedding.word.weight" not in names
    assert "semantic.embedding.ln.weight" in names


def test_a_few_steps_lower_the_loss(toy: Path) -> None:
    task, model = _task(toy)
    ds = task.train_dataset()
    torch.manual_seed(0)
    batch = task.collate([ds[i] for i in range(12)])
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    losses = []
    for _ in range(30):
        out = task.loss(model, task.embed_batch(model, batch))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        task.after_optimizer_step(model)
        losses.append(float(out.loss.detach()))
    assert sum(losses[-3:]) / 3 < 0.75 * losses[0], losses
    assert float(model.clip.logit_scale.detach()) <= LOGIT_SCALE_MAX  # type: ignore[union-attr, operator]


# ---- OCR neighbour table


def test_neighbour_table_round_trip_in_the_original_format(tmp_path: Path) -> None:
    texts = ["猫搞笑合集", "狗搞笑合集", "猫咪日常", "HOW TO DRAW CAT", "HOW TO DRAW DOG", None, "猫搞笑合集"]
    table = build_neighbour_table(texts, k=2)
    assert list(table) == ["猫搞笑合集", "狗搞笑合集", "猫咪日常", "HOW TO DRAW CAT", "HOW TO DRAW DOG"]
    assert table["猫搞笑合集"][0] == "狗搞笑合集" and table["HOW TO DRAW CAT"][0] == "HOW TO DRAW DOG"
    assert all(len(v) == 2 and k not in v for k, v in table.items())
    path = write_neighbour_table(table, tmp_path / "ocr-hnsw")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "\t".join(["猫搞笑合集", *table["猫搞笑合集"]])
    assert read_neighbour_table(path) == table
    # a file written by hand in the released layout: a key without neighbours, a repeated key
    (tmp_path / "released").write_text("a b\tc d\te\nc d\na b\tx\n", encoding="utf-8")
    assert read_neighbour_table(tmp_path / "released") == {"a b": ["c d", "e"], "c d": []}
    with pytest.raises(DataFormatError, match="tab or line break"):
        write_neighbour_table({"a\tb": ["c"]}, tmp_path / "bad")


def test_task_reads_the_table_or_builds_and_writes_it(toy: Path, tmp_path: Path) -> None:
    path = tmp_path / "table.tsv"
    task, _ = _task(toy, ann_table=str(path), ann_k=3)
    built = task.neighbour_table()
    assert path.is_file() and read_neighbour_table(path) == built
    write_neighbour_table({"red text": ["blue text"], "blue text": ["red text"]}, path)
    task2, _ = _task(toy, ann_table=str(path))
    assert task2.neighbour_table() == {"red text": ["blue text"], "blue text": ["red text"]}


# ---- presets


def test_presets_parse() -> None:
    from memesearch.train.run import resolve_config

    small = resolve_config(None, [], "uniclip-small", None)
    assert small.task == "uniclip" and small.task_config["presence"] and small.task_config["semantic"]
    assert small.task_config["model_name"] == "random-clip:chinese-clip-small@0"
    itc = resolve_config(None, [], "uniclip-small-itc", None)
    assert not itc.task_config["presence"] and not itc.task_config["semantic"]
    same = ("seed", "epochs", "batch_size", "optim")
    assert all(getattr(itc, k) == getattr(small, k) for k in same)
    full = resolve_config(
        None,
        ["task_config.model_name=clip:models/qa-clip-b16", "task_config.dataset=data/covers"],
        "uniclip",
        None,
    )
    assert full.optim.lr == 2e-5 and full.optim.weight_decay == 0.001 and full.optim.warmup_steps == 100
    assert full.optim.betas == (0.9, 0.98) and full.optim.eps == 1e-6 and full.epochs == 20
    assert full.task_config["augment"] == "timm" and full.task_config["max_words"] == 12
    assert full.precision == "auto"
    with pytest.raises(ConfigError, match="model_name"):
        resolve_config(None, ["task_config.dataset=data/covers"], "uniclip", None)


def test_presence_accuracy_counts_text_covers() -> None:
    from memesearch.train.tasks.uniclip import presence_accuracy

    assert presence_accuracy(np.array([0.9, 0.2, 0.6]), ["a", None, None]) == pytest.approx(2 / 3)


# ---- augmentation


def test_timm_style_augmentation_is_seeded_and_keeps_the_crop_in_the_image(toy: Path) -> None:
    from PIL import Image

    from memesearch.train.tasks.uniclip_augment import (
        _OPS,
        ORIGINAL_POLICY,
        TimmStyleAugment,
        random_resized_crop_box,
    )

    rng = random.Random(0)
    for _ in range(200):
        left, top, right, bottom = random_resized_crop_box(224, 168, rng)
        assert 0 <= left < right <= 224 and 0 <= top < bottom <= 168
        assert 0.85 <= (right - left) * (bottom - top) / (224 * 168) <= 1.0
    assert {op for sub in ORIGINAL_POLICY for op, _, _ in sub} <= set(_OPS) and len(ORIGINAL_POLICY) == 25
    image = Image.effect_mandelbrot((96, 72), (-2, -1.5, 1, 1.5), 60).convert("RGB")
    for name, op in _OPS.items():  # every operation runs at every magnitude
        for level in (0.0, 5.0, 10.0):
            assert op(image, level, random.Random(1)).size == image.size, name
    augment = TimmStyleAugment()
    a = [np.asarray(augment(image, random.Random(s))) for s in range(10)]
    b = [np.asarray(augment(image, random.Random(s))) for s in range(10)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert len({x.tobytes() for x in a}) > 5
    task, _ = _task(toy, augment="timm")
    sample = task.train_dataset()[0]
    assert sample["image"].shape == (3, 32, 32)


def test_draws_depend_on_seed_epoch_and_index_only(toy: Path) -> None:
    task, _ = _task(toy)
    torch.manual_seed(5)
    ds = task.train_dataset()
    assert ds.seed == 5

    def draws() -> list[tuple[str, int]]:
        return [(ds[i]["candidate"], ds[i]["match"]) for i in range(len(ds))]

    first = draws()
    torch.manual_seed(123)  # another rank or a worker: a different torch RNG state
    assert draws() == first
    ds.set_epoch(1)
    assert draws() != first
    ds.set_epoch(0)
    assert draws() == first
