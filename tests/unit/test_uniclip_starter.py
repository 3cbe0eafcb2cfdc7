"""Task ``uniclip-starter`` (UniCLIP on the starter's towers): tokens, heads, training, presets, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from memesearch.models.starter.model import StarterConfig
from memesearch.models.uniclip.starter_model import UniClipStarterArch, UniClipStarterModel, image_tokens
from memesearch.train.task import create_task
from memesearch.train.tasks.toy_dataset import write_toy_dataset
from memesearch.train.tasks.uniclip_starter import UniClipStarterTask

#: a tiny starter tower (32 px, 2 stages: a 8 x 8 last map of 16 channels) mapping into e5-small's 384
TINY = {"image_size": 32, "stem": 2, "widths": [8, 16], "depths": [1, 1], "head_hidden": 0}


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_toy_dataset(tmp_path_factory.mktemp("toy"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _task(toy: Path, cache: Path, **extra: object) -> tuple[UniClipStarterTask, UniClipStarterModel]:
    settings = {"dataset": str(toy), "init": None, "model": TINY, "cache_dir": str(cache), "ann_k": 3}
    task, _ = create_task("uniclip-starter", settings | extra)
    assert isinstance(task, UniClipStarterTask)
    model = task.build_model()
    assert isinstance(model, UniClipStarterModel)
    return task, model


def test_image_tokens_are_the_pooled_cell_then_the_last_feature_map() -> None:
    cfg = StarterConfig.from_dict(TINY | {"dim": 24})
    model = UniClipStarterModel(cfg, UniClipStarterArch(vocab_size=50, head_layers=1)).eval()
    pixels = torch.rand(3, 3, 32, 32) * 2 - 1
    out = model.encode_image(pixels)
    assert out.tokens.shape == (3, 1 + 8 * 8, 16) and out.embedding.shape == (3, 24)
    fmap = model.tower.body(pixels)  # type: ignore[operator]
    assert torch.allclose(out.tokens[:, 1:], fmap.flatten(2).transpose(1, 2))
    assert torch.allclose(out.tokens[:, 0], fmap.mean(dim=(2, 3)), atol=1e-6)
    # the embedding is exactly the starter's image features (what starter:DIR serves), normalised
    assert torch.allclose(out.embedding, F.normalize(model.image_features(pixels), dim=-1), atol=1e-6)
    assert model.presence_logits(out.tokens).shape == (3, 2)
    ids, mask = torch.randint(1, 50, (3, 20)), torch.ones(3, 20)
    assert model.semantic_logits(out.tokens, ids, mask).shape == (3, 2)
    assert image_tokens(torch.zeros(2, 5, 3, 4)).shape == (2, 13, 5)


def test_committed_starter_weights_load_and_the_tokens_have_its_shape() -> None:
    from memesearch.models.starter.encoder import weights_dir
    from memesearch.train.tasks.uniclip_starter import UniClipStarterConfig

    cfg = UniClipStarterConfig(dataset="data/covers")  # init: starter-v2 -> the committed architecture
    task = UniClipStarterTask(cfg)
    model = task.build_model().eval()
    assert isinstance(model, UniClipStarterModel)
    from safetensors.torch import load_file

    saved = load_file(str(weights_dir("starter-v2") / "model.safetensors"))
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())
    side, cells = (
        cfg.model.image_size,
        cfg.model.image_size // (cfg.model.stem * 2 ** (len(cfg.model.widths) - 1)),
    )
    out = model.encode_image(torch.zeros(2, 3, side, side))
    assert out.tokens.shape == (2, 1 + cells * cells, cfg.model.widths[-1])
    assert out.embedding.shape == (2, cfg.model.dim)


def test_a_few_steps_with_both_heads_lower_the_loss(toy: Path, cache: Path) -> None:
    task, model = _task(toy, cache, head_layers=1)
    ds = task.train_dataset()
    torch.manual_seed(0)
    batch = task.collate([ds[i] for i in range(12)])
    assert set(batch) >= {"image", "text", "presence", "candidate", "match"}
    params = [p for n, p in model.named_parameters() if task.param_role(n, p).value != "frozen"]
    opt = torch.optim.AdamW(params, lr=3e-3)
    task.set_train_mode(model)
    losses = []
    for _ in range(25):
        out = task.loss(model, task.embed_batch(model, batch))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        task.after_optimizer_step(model)
        losses.append(float(out.loss.detach()))
    assert {"itc", "presence", "semantic", "presence_acc"} <= set(out.metrics)
    assert sum(losses[-3:]) / 3 < 0.75 * losses[0], losses
    metrics = task.validate(model, torch.device("cpu"))
    assert {"R@10", "NDCG@10", "presence_acc"} <= set(metrics)
    assert 0 <= metrics["NDCG@10"] <= 1


def test_itc_only_has_no_head_parameters(toy: Path, cache: Path) -> None:
    from memesearch.train.run import resolve_config

    cfg = resolve_config(None, [], "uniclip-starter-itc", None)
    task, _ = create_task(cfg.task, cfg.task_config)
    model = task.build_model()
    names = [n for n, _ in model.named_parameters()]
    assert not [n for n in names if n.startswith(("presence.", "semantic."))]
    assert task.weights == (1.0, 0.0, 0.0)  # type: ignore[attr-defined]
    full, _ = create_task("uniclip-starter", cfg.task_config | {"presence": True, "semantic": True})
    extra = [n for n, _ in full.build_model().named_parameters() if n not in names]
    assert extra and all(n.startswith(("presence.", "semantic.")) for n in extra)
    # the small toy task: ITC alone, the batch has no candidates
    itc, model = _task(toy, cache, presence=False, semantic=False)
    batch = itc.collate([itc.train_dataset()[i] for i in range(4)])
    features = itc.embed_batch(model, batch)
    assert set(features) == {"text", "image", "group"}


def test_presets_parse_and_differ_only_in_the_heads() -> None:
    from memesearch.train.run import resolve_config

    full = resolve_config(None, [], "uniclip-starter", None)
    itc = resolve_config(None, [], "uniclip-starter-itc", None)
    assert full.task == itc.task == "uniclip-starter"
    assert full.task_config["presence"] and full.task_config["semantic"]
    assert not itc.task_config["presence"] and not itc.task_config["semantic"]
    rest = {k: v for k, v in full.task_config.items() if k not in ("presence", "semantic")}
    assert rest == {k: v for k, v in itc.task_config.items() if k not in ("presence", "semantic")}
    for key in ("seed", "epochs", "batch_size", "optim", "select_metric", "select_mode"):
        assert getattr(full, key) == getattr(itc, key)
    assert full.select_metric == "NDCG@10" and full.task_config["init"] == "starter-v1"


def test_export_without_heads_serves_the_trained_tower(toy: Path, cache: Path, tmp_path: Path) -> None:
    from memesearch.models import create_encoder
    from memesearch.train.checkpoint import load_trained_model
    from memesearch.train.run import run_training
    from memesearch.train.uniclip_export import export_uniclip_starter

    overrides = [
        f"task_config.dataset={toy}",
        "task_config.init=null",
        f"task_config.cache_dir={cache}",
        "task_config.ann_k=3",
        "task_config.head_layers=1",
        f"output_dir={tmp_path}",
        "run_name=run",
        "max_steps=2",
        "batch_size=8",
    ] + [f"task_config.model.{k}={v}" for k, v in TINY.items()]
    result = run_training(None, overrides, "uniclip-starter")
    out = export_uniclip_starter(result.run_dir, tmp_path / "exported")
    _, model, _ = load_trained_model(result.run_dir, which="best")
    assert isinstance(model, UniClipStarterModel)
    encoder = create_encoder(f"starter:{out}", device="cpu")
    images = sorted((toy / "images").glob("*.png"))[:3]
    served = encoder.encode_image([str(p) for p in images])
    pixels = torch.stack([encoder.preprocess(str(p)) for p in images])  # type: ignore[attr-defined]
    with torch.no_grad():
        trained = model.eval().encode_image(pixels).embedding.numpy()
    assert np.allclose(served, trained, atol=1e-5)
    assert not any(k.startswith(("presence", "semantic")) for k in encoder.model.state_dict())  # type: ignore[attr-defined]


def test_candidate_tokenizer_reads_cn_clip_vocabulary() -> None:
    from memesearch.train.tasks.uniclip_starter import candidate_tokenizer

    tokenizer = candidate_tokenizer()
    assert len(tokenizer) == 21128
    ids = tokenizer("Chestnut 十大")["input_ids"]
    # [CLS] ch ##est ##n ##ut 十 大 [SEP] in cn_clip's vocabulary: no word falls back to [UNK]
    assert ids == [101, 9537, 10414, 8171, 9194, 1282, 1920, 102]
    assert tokenizer.unk_token_id not in ids
