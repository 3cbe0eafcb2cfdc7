"""The starter tower through onnxruntime gives the torch path's embeddings (to 1e-5), for the committed
weights and for any ``starter:DIR`` (one ONNX file per weights hash, built on first use into the cache)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from memesearch.errors import ConfigError
from memesearch.models import create_encoder
from memesearch.models.starter.encoder import MODEL_FILE, weights_dir


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    """Drawn shapes of random colours and sizes (some not 64 px, so the resize is exercised)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        side = int(rng.choice([40, 64, 97, 128]))
        image = Image.new("RGB", (side, side), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(image)
        box = sorted(rng.integers(0, side, 2).tolist()) + sorted(rng.integers(0, side, 2).tolist())
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if i % 2 else draw.rectangle)((box[0], box[2], box[1] + 1, box[3] + 1), fill=fill)
        out.append(image)
    return out


EMOTIONS = [["happy"], ["sad", "tired"], [], ["angry"], []]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MEMESEARCH_CACHE_DIR", str(folder))
    return folder


def _embed(name: str, runtime: str, images: list[Image.Image], monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("MEMESEARCH_IMAGE_RUNTIME", runtime)
    enc = create_encoder(name)
    emotions = [EMOTIONS[i % len(EMOTIONS)] for i in range(len(images))]
    out = {
        "image": enc.encode_image(images, batch_size=16),
        "raw": enc.encode_image(images, normalize=False, batch_size=16),
        "items": enc.encode_items(images, emotions, batch_size=16),  # type: ignore[attr-defined]
        "items_plain": enc.encode_items(images[:3]),  # type: ignore[attr-defined]
        "one": enc.encode_image(images[:1]),
        "runtime": enc.image_runtime,  # type: ignore[attr-defined]
    }
    return out


def test_onnx_equals_torch_on_the_committed_starter(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = _images(37)
    onnx = _embed("starter", "onnx", images, monkeypatch)
    files = sorted((cache / "onnx").glob("starter-*.onnx"))
    assert onnx["runtime"] == "onnx" and len(files) == 1
    torch_ = _embed("starter", "torch", images, monkeypatch)
    assert torch_["runtime"] == "torch"
    for key in ("image", "items", "items_plain", "one"):
        np.testing.assert_allclose(onnx[key], torch_[key], rtol=0, atol=1e-5, err_msg=key)
        assert np.allclose(np.linalg.norm(onnx[key], axis=1), 1.0, atol=1e-5)
    scale = float(np.abs(torch_["raw"]).max())
    np.testing.assert_allclose(onnx["raw"], torch_["raw"], rtol=0, atol=1e-5 * max(scale, 1.0))
    # the emotion words move the item vectors (the gate is in the graph, not dropped)
    assert float(np.abs(onnx["items"] - onnx["image"]).max()) > 1e-3
    # a second encoder reuses the cached file (no second export)
    mtime = files[0].stat().st_mtime_ns
    _embed("starter", "auto", images[:2], monkeypatch)
    assert files[0].stat().st_mtime_ns == mtime


def test_the_onnx_file_is_keyed_by_the_weights(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other weights (a starter:DIR, e.g. a retrained default) get their own file and their own vectors."""
    from safetensors.numpy import load_file, save_file

    other = tmp_path / "other-starter"
    shutil.copytree(weights_dir(), other)
    tensors = load_file(str(other / MODEL_FILE))
    name = next(k for k in sorted(tensors) if k.endswith("head.0.bias") or k.endswith("head.bias"))
    tensors[name] = tensors[name] + np.float32(0.5)
    save_file(tensors, str(other / MODEL_FILE), metadata={"format": "pt"})
    assert json.loads((other / "config.json").read_text(encoding="utf-8"))["format"] == "memesearch-starter"

    images = _images(9, seed=1)
    default = _embed("starter", "onnx", images, monkeypatch)
    changed = _embed(f"starter:{other}", "onnx", images, monkeypatch)
    assert len(list((cache / "onnx").glob("starter-*.onnx"))) == 2
    assert float(np.abs(changed["raw"] - default["raw"]).max()) > 1e-3
    changed_torch = _embed(f"starter:{other}", "torch", images, monkeypatch)
    for key in ("image", "items", "one"):
        np.testing.assert_allclose(changed[key], changed_torch[key], rtol=0, atol=1e-5, err_msg=key)


def test_a_text_only_use_never_builds_the_torch_model(cache: Path) -> None:
    enc = create_encoder("starter")
    vectors = enc.encode_text(["开心", "so sleepy"], kind="query")
    assert vectors.shape == (2, 384)
    assert enc._model is None  # type: ignore[attr-defined]
    assert not (cache / "onnx").exists()


def test_an_unknown_runtime_is_refused(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMESEARCH_IMAGE_RUNTIME", "tensorrt")
    enc = create_encoder("starter")
    with pytest.raises(ConfigError, match="MEMESEARCH_IMAGE_RUNTIME"):
        enc.encode_image(_images(1))


def test_memesearch_models_onnx_builds_the_file_ahead(
    cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from memesearch.cli.main import main

    assert main(["models", "onnx", "starter"]) == 0
    out = capsys.readouterr().out
    path = Path(out.split()[0])
    assert path.is_file() and path.parent == cache / "onnx"
    diff = float(out.split("=")[1].split()[0])
    assert diff < 1e-5


def test_a_damaged_cache_file_is_exported_again(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = _images(4, seed=2)
    first = _embed("starter", "onnx", images, monkeypatch)
    (path,) = (cache / "onnx").glob("starter-*.onnx")
    path.write_bytes(b"not an onnx graph")
    again = _embed("starter", "onnx", images, monkeypatch)
    assert again["runtime"] == "onnx" and path.stat().st_size > 1_000_000
    np.testing.assert_allclose(again["image"], first["image"], rtol=0, atol=1e-6)
