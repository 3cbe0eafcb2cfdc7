"""The starter model: architecture config, augmentation, the emotion gate, the text-embedding cache and
the ``starter`` encoder API on the committed weights (shapes, unit vectors, e5-small delegation)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from memesearch.errors import ConfigError
from memesearch.models import create_encoder, list_encoders
from memesearch.models.encoders import EncoderLoadError
from memesearch.models.starter.encoder import CONFIG_FILE, MODEL_FILE, weights_dir
from memesearch.models.starter.model import StarterConfig, build_model, emotion_text
from memesearch.models.starter.text_cache import TextEmbeddingCache
from memesearch.train.tasks.starter import StarterTaskConfig, augment

TINY = StarterConfig(
    image_size=32, stem=2, widths=(8, 16), depths=(1, 1), head_hidden=0, dim=16, emotion_dim=16
)


def _emoji_like(size: int = 64, colour: tuple[int, int, int] = (250, 200, 20)) -> Image.Image:
    """A yellow disc with two eyes on a transparent canvas."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    from PIL import ImageDraw

    draw = ImageDraw.Draw(img)
    draw.ellipse((4, 4, size - 4, size - 4), fill=(*colour, 255))
    draw.ellipse((size // 3, size // 3, size // 3 + 4, size // 3 + 8), fill=(40, 30, 20, 255))
    return img


def test_config_round_trip_and_checks() -> None:
    cfg = StarterConfig(widths=(16, 32), depths=(1, 2))
    assert StarterConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ConfigError, match="depths"):
        StarterConfig(widths=(16, 32), depths=(1,))
    with pytest.raises(ConfigError, match="stem"):
        StarterConfig(image_size=64, stem=3)
    with pytest.raises(ConfigError, match="unknown starter config keys"):
        StarterConfig.from_dict({"width": [8]})


def test_model_items_are_unit_and_emotion_gate_only_touches_items_with_emotions() -> None:
    torch.manual_seed(0)
    model = build_model(TINY).eval()
    pixels = torch.rand(3, 3, 32, 32) * 2 - 1
    emotion = torch.randn(3, 16)
    mask = torch.tensor([True, False, True])
    with torch.no_grad():
        items = model.items(pixels, emotion, mask)
        image = torch.nn.functional.normalize(model.image_features(pixels), dim=-1)
    assert items.shape == (3, 16)
    assert torch.allclose(items.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.allclose(items[1], image[1], atol=1e-6)  # no emotion: the image vector itself
    assert not torch.allclose(items[0], image[0], atol=1e-4)
    # the gate starts at gate_init
    assert float(model.qi.gate.detach()) == pytest.approx(TINY.gate_init)


def test_augment_keeps_range_shape_and_white_background() -> None:
    torch.manual_seed(0)
    cfg = StarterTaskConfig(dataset="unused")
    white = torch.ones(4, 3, 32, 32)
    out = augment(white, cfg)
    assert out.shape == white.shape
    assert torch.allclose(out, white, atol=1e-5)  # zoom-out / shift / rotation fill with white
    batch = torch.rand(8, 3, 32, 32)
    out = augment(batch, cfg)
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, batch)


def test_emotion_text() -> None:
    assert emotion_text(["happy", " love "]) == "happy, love"
    assert emotion_text([]) is None
    assert emotion_text(None) is None
    assert emotion_text(["", "  "]) is None


def test_text_cache_reuses_stored_vectors(tmp_path: Path) -> None:
    cache = TextEmbeddingCache("e5-small", tmp_path)
    texts = ["开心", "grinning face", "开心"]
    first = cache.embed(texts, kind="query")
    assert first.shape == (3, 384)
    assert np.allclose(first[0], first[2])
    direct = create_encoder("e5-small").encode_text(["开心", "grinning face"], kind="query")
    assert np.allclose(first[:2], direct, atol=1e-6)
    again = TextEmbeddingCache("e5-small", tmp_path)
    assert np.array_equal(again.embed(texts, kind="query"), first)
    assert again._encoder is None  # everything came from the file: the encoder was never started
    passage = again.embed(["开心"], kind="passage")  # another kind is another table
    assert not np.allclose(passage[0], first[0])


# ------------------------------------------------------------------------------------------------
# the encoder on the committed weights


@pytest.fixture(scope="module")
def encoder():  # type: ignore[no-untyped-def]
    if not (weights_dir() / MODEL_FILE).is_file():
        pytest.fail(f"the committed starter weights are missing from {weights_dir()}")
    return create_encoder("starter", device="cpu")


def test_committed_weights_are_small_and_self_describing(encoder) -> None:  # type: ignore[no-untyped-def]
    size = (weights_dir() / MODEL_FILE).stat().st_size
    assert size <= 25 * 2**20
    described = json.loads((weights_dir() / CONFIG_FILE).read_text(encoding="utf-8"))
    assert described["format"] == "memesearch-starter"
    assert described["model"]["text_encoder"] == "e5-small"
    cfg = encoder.config
    assert cfg.kind == "starter" and cfg.dim == 384 and cfg.image_size == described["model"]["image_size"]
    assert cfg.modalities == ("image", "text")
    assert cfg.extra["text_encoder"] == "e5-small"
    assert len(cfg.extra["weights_sha256"]) == 64
    assert "starter[:<weights dir>]" in list_encoders()


def test_encode_image_and_items(encoder) -> None:  # type: ignore[no-untyped-def]
    images = [_emoji_like(), _emoji_like(colour=(220, 30, 30)), _emoji_like(48)]
    assert encoder.supports_images and encoder.supports_text
    vecs = encoder.encode_image(images)
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    items = encoder.encode_items(images, [["happy"], [], None])
    assert items.shape == (3, 384)
    assert np.allclose(np.linalg.norm(items, axis=1), 1, atol=1e-5)
    assert np.allclose(items[1:], vecs[1:], atol=1e-5)  # no emotion words: the image vector
    assert not np.allclose(items[0], vecs[0], atol=1e-4)
    assert np.allclose(encoder.encode_items(images), vecs, atol=1e-5)
    with pytest.raises(ConfigError, match="emotion lists"):
        encoder.encode_items(images, [["happy"]])


def test_encode_text_is_e5_small(encoder) -> None:  # type: ignore[no-untyped-def]
    e5 = create_encoder("e5-small")
    texts = ["笑哭了", "face with tears of joy"]
    for kind in ("query", "passage"):
        assert np.allclose(encoder.encode_text(texts, kind=kind), e5.encode_text(texts, kind=kind), atol=1e-6)
    assert encoder.config.prefixes == e5.config.prefixes


def test_starter_weights_dir_argument_and_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(EncoderLoadError, match="no starter weights"):
        create_encoder(f"starter:{tmp_path}")
