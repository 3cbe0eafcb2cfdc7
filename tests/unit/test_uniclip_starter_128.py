"""``uniclip-starter`` with the committed starter tower read at 128 px (``task_config.image_size``): the
config, the heads' 8 x 8 + 1 image tokens, the presets, and the export served by ``starter:DIR`` at 128 px."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from memesearch.errors import ConfigError
from memesearch.models.uniclip.starter_model import UniClipStarterModel
from memesearch.train.tasks.toy_dataset import write_toy_dataset
from memesearch.train.tasks.uniclip_starter import UniClipStarterConfig, UniClipStarterTask


def test_image_size_replaces_the_committed_side_and_the_heads_see_65_tokens() -> None:
    from safetensors.torch import load_file

    from memesearch.models.starter.encoder import weights_dir

    base = UniClipStarterConfig(dataset="data/covers")
    cfg = UniClipStarterConfig(dataset="data/covers", image_size=128, head_layers=1)
    assert base.model.image_size == 64 and cfg.model.image_size == 128
    # only the input side changes: the same architecture, so the committed weights load unchanged
    assert cfg.model.to_dict() | {"image_size": 64} == base.model.to_dict()
    model = UniClipStarterTask(cfg).build_model().eval()
    assert isinstance(model, UniClipStarterModel) and model.config.image_size == 128
    state = model.state_dict()
    assert all(
        torch.equal(state[k], v)
        for k, v in load_file(str(weights_dir("starter-v2") / "model.safetensors")).items()
    )
    pixels = torch.rand(2, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        out = model.encode_image(pixels)
        assert out.tokens.shape == (2, 1 + 8 * 8, 256) and out.embedding.shape == (2, 384)
        assert model.presence_logits(out.tokens).shape == (2, 2)
        ids, mask = torch.randint(1, 100, (2, 20)), torch.ones(2, 20)
        assert model.semantic_logits(out.tokens, ids, mask).shape == (2, 2)
        # at 64 px the same tower gives 4 x 4 cells
        assert model.encode_image(pixels[:, :, ::2, ::2]).tokens.shape == (2, 1 + 4 * 4, 256)


def test_an_image_size_the_stem_does_not_divide_is_refused() -> None:
    with pytest.raises(ConfigError, match="stem"):
        UniClipStarterConfig(dataset="data/covers", image_size=127)


def test_128_presets_differ_in_the_heads_and_from_the_64_px_ones_in_side_and_epochs() -> None:
    from memesearch.train.run import resolve_config

    full = resolve_config(None, [], "uniclip-starter-128", None)
    itc = resolve_config(None, [], "uniclip-starter-128-itc", None)
    base = resolve_config(None, [], "uniclip-starter", None)
    assert full.task == itc.task == "uniclip-starter"
    assert full.task_config["image_size"] == itc.task_config["image_size"] == 128
    assert full.task_config["presence"] and full.task_config["semantic"]
    assert not itc.task_config["presence"] and not itc.task_config["semantic"]
    heads = ("presence", "semantic")
    assert {k: v for k, v in full.task_config.items() if k not in heads} == {
        k: v for k, v in itc.task_config.items() if k not in heads
    }
    side = ("image_size", "model")  # the resolved task_config carries the (derived) architecture
    assert {k: v for k, v in full.task_config.items() if k not in side} == {
        k: v for k, v in base.task_config.items() if k not in side
    }
    assert full.task_config["model"] == base.task_config["model"] | {"image_size": 128}
    for key in ("seed", "batch_size", "optim", "select_metric", "select_mode"):
        assert getattr(full, key) == getattr(itc, key) == getattr(base, key)
    assert full.epochs == itc.epochs == 3  # a 128-px step costs about 4x a 64-px one


def test_export_at_128_px_serves_the_trained_tower(tmp_path: Path) -> None:
    from memesearch.models import create_encoder
    from memesearch.train.checkpoint import load_trained_model
    from memesearch.train.run import run_training
    from memesearch.train.uniclip_export import export_uniclip_starter

    toy = write_toy_dataset(tmp_path / "toy")
    overrides = [
        f"task_config.dataset={toy}",
        "task_config.init=starter-v2",
        "task_config.image_size=128",
        f"task_config.cache_dir={tmp_path / 'cache'}",
        "task_config.ann_k=3",
        "task_config.head_layers=1",
        f"output_dir={tmp_path}",
        "run_name=run",
        "max_steps=1",
        "batch_size=8",
    ]
    result = run_training(None, overrides, "uniclip-starter")
    out = export_uniclip_starter(result.run_dir, tmp_path / "exported")
    written = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert written["model"]["image_size"] == 128 and "128x128" in written["image_preprocess"]["resize"]
    _, model, _ = load_trained_model(result.run_dir, which="best")
    assert isinstance(model, UniClipStarterModel) and model.config.image_size == 128
    encoder = create_encoder(f"starter:{out}", device="cpu")
    images = sorted((toy / "images").glob("*.png"))[:3]
    pixels = torch.stack([encoder.preprocess(str(p)) for p in images])  # type: ignore[attr-defined]
    assert pixels.shape == (3, 3, 128, 128)
    served = encoder.encode_image([str(p) for p in images])
    with torch.no_grad():
        trained = model.eval().encode_image(pixels).embedding.numpy()
    assert np.allclose(served, trained, atol=1e-5)
    assert not any(k.startswith(("presence", "semantic")) for k in encoder.model.state_dict())  # type: ignore[attr-defined]
