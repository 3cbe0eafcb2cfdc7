"""Reference equivalence at full size: ``clip:<dir>`` vs a direct transformers call.

Randomly initialised models of the real architectures (OpenAI CLIP ViT-B/32; Chinese-CLIP ViT-B/16 with
a BERT-base text tower) are saved in HF layout, loaded through ``create_encoder("clip:<dir>")`` with
``HF_HUB_OFFLINE=1``, and their embeddings compared with ``processor`` + ``model.get_*_features``.

Tokenizers use the real vocabularies from ``<repo>/../shared/data/tokenizers`` when present. Without
them the checkpoints get stand-in vocabularies (character-level CLIP BPE, a CJK-character BERT
vocabulary): the equivalence still holds, and the tests that need the real segmentation skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from memesearch.models import create_encoder, load_image, save_random_clip

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

pytestmark = pytest.mark.slow

TOKENIZERS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "tokenizers"
CLIP_MERGES = TOKENIZERS / "clip-bpe" / "bpe_simple_vocab_16e6.txt.gz"
BERT_VOCAB = TOKENIZERS / "chinese-bert" / "vocab.txt"

TEXTS = [
    "a photo of a cat",
    "face with tears of joy, laughing so hard",
    "我今天很开心",
    "生气的表情包",
    "",
]


def sample_images() -> list[Image.Image]:
    """Varied sizes, aspect ratios and modes, as the encoder receives them after ``load_image``."""
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (300, 200, 3), dtype=np.uint8))
    sticker = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    sticker.paste(Image.new("RGBA", (80, 80), (250, 200, 20, 255)), (40, 40))
    grey = Image.fromarray(rng.integers(0, 256, (64, 96), dtype=np.uint8))
    return [load_image(image) for image in (noise, sticker, grey, Image.new("RGB", (224, 224), (9, 80, 160)))]


@pytest.fixture(scope="module")
def offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


def _build(tmp_path_factory: pytest.TempPathFactory, arch: str, **vocab: Any) -> Path:
    return save_random_clip(tmp_path_factory.mktemp(arch), arch, seed=0, **vocab)


@pytest.fixture(scope="module")
def vit_b32(tmp_path_factory: pytest.TempPathFactory, offline: None) -> Path:
    merges = CLIP_MERGES if CLIP_MERGES.is_file() else None
    return _build(tmp_path_factory, "clip-vit-b-32", bpe_merges=merges)


@pytest.fixture(scope="module")
def cn_b16(tmp_path_factory: pytest.TempPathFactory, offline: None) -> Path:
    vocab = BERT_VOCAB if BERT_VOCAB.is_file() else None
    return _build(tmp_path_factory, "chinese-clip-vit-b-16", bert_vocab=vocab)


def _reference(
    directory: Path, model_class: str, images: list[Image.Image], texts: list[str]
) -> tuple[Any, Any]:
    model = getattr(transformers, model_class).from_pretrained(directory).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(directory, backend="pil")
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    with torch.inference_mode():
        pixels = processor(images=images, return_tensors="pt")
        image_features = model.get_image_features(**pixels)
        tokens = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        text_features = model.get_text_features(**tokens)
    as_numpy = [
        (out if isinstance(out, torch.Tensor) else out.pooler_output).numpy()
        for out in (image_features, text_features)
    ]
    return as_numpy[0], as_numpy[1]


@pytest.mark.parametrize(
    ("checkpoint", "model_class", "kind", "patch"),
    [("vit_b32", "CLIPModel", "clip", 32), ("cn_b16", "ChineseCLIPModel", "chinese_clip", 16)],
)
def test_clip_dir_matches_transformers(
    checkpoint: str, model_class: str, kind: str, patch: int, request: pytest.FixtureRequest
) -> None:
    directory: Path = request.getfixturevalue(checkpoint)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    encoder = create_encoder(f"clip:{directory}", device="cpu")
    config = encoder.config
    assert (config.kind, config.dim, config.image_size) == (kind, 512, 224)
    assert encoder.model.config.vision_config.patch_size == patch
    assert sum(p.numel() for p in encoder.model.parameters()) > 140_000_000  # real size, not a toy

    images = sample_images()
    ref_images, ref_texts = _reference(directory, model_class, images, TEXTS)
    ours_images = encoder.encode_image(images, normalize=False, batch_size=3)
    ours_texts = encoder.encode_text(TEXTS, normalize=False, batch_size=2)
    np.testing.assert_allclose(ours_images, ref_images, atol=1e-5)
    np.testing.assert_allclose(ours_texts, ref_texts, atol=1e-5)

    unit = encoder.encode_text(TEXTS)
    np.testing.assert_allclose(unit, ref_texts / np.linalg.norm(ref_texts, axis=1, keepdims=True), atol=1e-5)


def test_vit_b32_uses_the_real_clip_tokenizer(vit_b32: Path) -> None:
    if not CLIP_MERGES.is_file():
        pytest.skip(
            f"CLIP BPE merges not found at {CLIP_MERGES}; the checkpoint uses the stand-in vocabulary"
        )
    encoder = create_encoder(f"clip:{vit_b32}", device="cpu")
    # token ids published with OpenAI CLIP
    assert encoder.tokenizer("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert encoder.config.max_length == 77


def test_chinese_clip_uses_the_real_bert_vocabulary(cn_b16: Path) -> None:
    if not BERT_VOCAB.is_file():
        pytest.skip(
            f"Chinese BERT vocabulary not found at {BERT_VOCAB}; the checkpoint uses the stand-in one"
        )
    vocab = BERT_VOCAB.read_text(encoding="utf-8").split("\n")
    encoder = create_encoder(f"clip:{cn_b16}", device="cpu", max_length=52)
    ids = encoder.tokenizer("开心")["input_ids"]
    assert ids == [vocab.index("[CLS]"), vocab.index("开"), vocab.index("心"), vocab.index("[SEP]")]
    assert encoder.config.max_length == 52
