"""The pretrained backbone branch of the starter: the shipped backbone folder, the trimmed graph, the
tower with a backbone (shapes, mix, frozen backbone), its ONNX export and the config checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from memesearch.errors import ConfigError
from memesearch.models.backbones import BACKBONES, backbone_dir, backbone_sha256, backbone_spec
from memesearch.models.pooled_backbone import PooledBackbone
from memesearch.models.starter.config import StarterConfig
from memesearch.models.starter.model import build_model
from memesearch.models.starter.onnx_tower import OnnxTower, export_onnx
from memesearch.models.tfjs_graph import load_tfjs_graph, trim_tfjs_graph
from memesearch.train.backbone_branch import BranchConfig

TINY = {"widths": (8, 16), "depths": (1, 1), "head_hidden": 0}


def test_the_shipped_backbone_folder_is_complete_and_licensed() -> None:
    folder = backbone_dir("nanodet-g")
    spec = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert spec["userDefinedMetadata"]["trimmed_from"]["outputs"] == list(BACKBONES["nanodet-g"].taps)
    assert "Apache License" in (folder / "LICENSE").read_text(encoding="utf-8")
    notice = (folder / "NOTICE.md").read_text(encoding="utf-8")
    assert backbone_sha256("nanodet-g") in notice and "RangiLyu" in notice
    with pytest.raises(ConfigError, match="unknown backbone 'resnet'"):
        backbone_spec("resnet")


def test_pooled_backbone_features_and_input_convention() -> None:
    backbone = PooledBackbone("nanodet-g")
    assert not list(backbone.parameters()) and not backbone.state_dict()  # frozen, saved nowhere
    torch.manual_seed(0)
    pixels = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        feats = backbone(pixels)
    assert feats.shape == (2, backbone_spec("nanodet-g").dim) and torch.isfinite(feats).all()
    # the same maps as the graph fed by hand: BGR, NanoDet's mean/std, NCHW
    spec = backbone.spec
    x = ((pixels + 1) * 127.5)[:, [2, 1, 0]]
    x = (x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        maps = backbone.graph(x)
    s16 = maps[spec.taps[0]]
    torch.testing.assert_close(feats[:, : spec.channels[0]], s16.mean(dim=(2, 3)))
    torch.testing.assert_close(feats[:, spec.channels[0] : 2 * spec.channels[0]], s16.amax(dim=(2, 3)))
    backbone.train()
    assert not backbone.training and not backbone.graph.training
    # a different image gives different features (the input reaches the graph)
    with torch.no_grad():
        assert float((backbone(-pixels) - feats).abs().max()) > 1e-3


def _chain(tmp: Path) -> Path:
    """x -> c1 (conv + bias, w1 stored as float16) -> c2 (conv) -> an op nobody implements."""
    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
    b1 = rng.normal(size=(4,)).astype(np.float32)
    w2 = rng.normal(size=(1, 1, 4, 2)).astype(np.float32)

    def conv(name: str, *inputs: str, fused: bool) -> dict:
        attr = {"strides": {"list": {"i": ["1", "1", "1", "1"]}}, "padding": {"s": "U0FNRQ=="}}
        if fused:
            attr["fused_ops"] = {"list": {"s": ["Qmlhc0FkZA=="]}}  # BiasAdd
        return {
            "name": name,
            "op": "_FusedConv2D" if fused else "Conv2D",
            "input": list(inputs),
            "attr": attr,
        }

    nodes = [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}}},
        *({"name": n, "op": "Const"} for n in ("w1", "b1", "w2")),
        conv("c1", "x", "w1", "b1", fused=True),
        conv("c2", "c1", "w2", fused=False),
        {"name": "head", "op": "NotARealOp", "input": ["c2"]},
    ]
    manifest = [
        {"name": "w1", "shape": [3, 3, 3, 4], "dtype": "float32", "quantization": {"dtype": "float16"}},
        {"name": "b1", "shape": [4], "dtype": "float32"},
        {"name": "w2", "shape": [1, 1, 4, 2], "dtype": "float32"},
    ]
    (tmp / "w.bin").write_bytes(w1.astype(np.float16).tobytes() + b1.tobytes() + w2.tobytes())
    spec = {"format": "graph-model", "modelTopology": {"node": nodes},
            "weightsManifest": [{"paths": ["w.bin"], "weights": manifest}]}  # fmt: skip
    (tmp / "model.json").write_text(json.dumps(spec), encoding="utf-8")
    return tmp / "model.json"


def test_trim_keeps_only_what_the_outputs_need(tmp_path: Path) -> None:
    path = _chain(tmp_path)
    trimmed = trim_tfjs_graph(path, ["c1"], tmp_path / "cut", note="test")
    names = {n["name"] for n in trimmed["modelTopology"]["node"]}
    assert names == {"x", "w1", "b1", "c1"}  # c2, w2 and the unsupported head are gone
    manifest = trimmed["weightsManifest"][0]["weights"]
    assert [w["name"] for w in manifest] == ["w1", "b1"]
    assert manifest[0]["quantization"]["dtype"] == "float16" and "quantization" not in manifest[1]
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(1, 6, 6, 3)).astype(np.float32))
    whole = load_tfjs_graph(path, ["c1"])
    cut = load_tfjs_graph(tmp_path / "cut" / "model.json")  # the signature names the outputs
    with torch.no_grad():
        torch.testing.assert_close(cut(x)["c1"], whole(x)["c1"], rtol=0, atol=0)


def test_tower_with_backbone_mixes_two_unit_vectors() -> None:
    cfg = StarterConfig(image_size=64, tower_size=32, backbone="nanodet-g", backbone_hidden=16,
                        backbone_weight=0.3, **TINY)  # fmt: skip
    model = build_model(cfg).eval()
    keys = set(model.state_dict())
    assert {"tower.backbone_mean", "tower.backbone_std"} <= keys
    assert not any(k.startswith("tower.backbone.") for k in keys)  # the frozen graph is not saved
    torch.manual_seed(0)
    pixels = torch.rand(3, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        got = model.image_features(pixels)
        cnn = F.normalize(model.tower.cnn_features(pixels), dim=-1)
        proj = F.normalize(model.tower.backbone_head(model.tower.backbone_features(pixels)), dim=-1)
    torch.testing.assert_close(got, 0.7 * cnn + 0.3 * proj)
    # the CNN reads the input average-pooled to tower_size
    with torch.no_grad():
        direct = model.tower.head(model.tower.norm(model.tower.body(F.avg_pool2d(pixels, 2)).mean((2, 3))))
    torch.testing.assert_close(model.tower.cnn_features(pixels), direct)
    # training reaches the projection, never the backbone
    model.train()
    model.items(pixels).sum().backward()
    assert model.tower.backbone_head[0].weight.grad is not None
    assert not any(p.requires_grad for p in model.tower.backbone.parameters())


def test_tower_with_backbone_exports_to_onnx(tmp_path: Path) -> None:
    cfg = StarterConfig(image_size=64, tower_size=32, backbone="nanodet-g", backbone_hidden=16, **TINY)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    model.tower.backbone_mean.normal_()
    model.tower.backbone_std.uniform_(0.5, 2.0)
    tower = OnnxTower(export_onnx(model, tmp_path / "tower.onnx"))
    pixels = torch.rand(5, 3, 64, 64) * 2 - 1
    emotion, mask = torch.randn(5, cfg.emotion_dim), torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0])
    features, items = tower.run(pixels.numpy(), emotion.numpy(), mask.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(features, model.image_features(pixels).numpy(), rtol=0, atol=1e-5)
        np.testing.assert_allclose(items, model.items(pixels, emotion, mask).numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"image_size": 64, "tower_size": 48}, "tower_size"),
        ({"image_size": 64, "tower_size": 32, "stem": 3}, "stem"),
        ({"backbone": "nanodet-g", "backbone_weight": 1.5}, "backbone_weight"),
        ({"backbone": "nanodet-g", "backbone_hidden": 0}, "backbone_hidden"),
    ],
)
def test_config_refuses_inconsistent_backbone_settings(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StarterConfig(**changes)


def test_branch_training_refuses_test_views_for_selection() -> None:
    with pytest.raises(ConfigError, match="never test"):
        BranchConfig(select_view="test")
    with pytest.raises(ConfigError, match="objective"):
        BranchConfig(objective="both")


def test_cnn_tasks_refuse_a_starter_with_a_backbone_as_init() -> None:
    """object-guided and uniclip-starter train the CNN's feature map: v3 (default ``starter``) is refused
    with a pointer to starter-v2 (the same CNN), which is their default init."""
    from memesearch.train.tasks.object_guided import ObjectGuidedConfig
    from memesearch.train.tasks.uniclip_starter import UniClipStarterConfig

    for cls, data in ((ObjectGuidedConfig, "data/collages"), (UniClipStarterConfig, "data/covers")):
        with pytest.raises(ConfigError, match=r"backbone branch.*init=starter-v2"):
            cls(dataset=data, init="starter-v3")
        default = cls(dataset=data).model
        assert default.backbone == "" and default.image_size == 64


def test_config_dicts_round_trip_and_plain_models_keep_their_old_dict() -> None:
    """A model without a backbone writes the dict it wrote before the backbone keys existed (its weights
    folders and ONNX file names stay as they were); a model with one records them."""
    from memesearch.models.starter.config import BACKBONE_KEYS

    plain = StarterConfig(**TINY)
    assert not set(BACKBONE_KEYS) & set(plain.to_dict())
    assert StarterConfig.from_dict(plain.to_dict()) == plain
    with_backbone = StarterConfig(image_size=128, tower_size=64, backbone="nanodet-g", backbone_weight=0.6)
    assert set(BACKBONE_KEYS) <= set(with_backbone.to_dict())
    assert StarterConfig.from_dict(with_backbone.to_dict()) == with_backbone
