"""Sticker augmentation of the starter Task: seeded determinism, shapes and ranges, and what each step
does to a transparent drawing (outline, background, JPEG), plus the Task's config keys and its emotion
words as extra training queries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from memesearch.errors import ConfigError
from memesearch.models.starter.model import StarterConfig
from memesearch.train.tasks.starter import StarterTask, StarterTaskConfig, augment
from memesearch.train.tasks.sticker_augment import StickerAugmentConfig, augment_stickers

#: geometry, colour and down-sampling off: only the step under test changes pixels
STILL = {
    "zoom": (1.0, 1.0),
    "shift": 0.0,
    "rotate": 0.0,
    "downsample_prob": 0.0,
    "gamma": 0.0,
    "contrast": 0.0,
    "saturation": 0.0,
}


def _disc(size: int = 32) -> torch.Tensor:
    """(1, 4, S, S) in [0, 1]: an opaque dark-red disc in the middle of a transparent square."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((10, 10, size - 10, size - 10), fill=(150, 20, 20, 255))
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255.0


def _full_config() -> StickerAugmentConfig:
    return StickerAugmentConfig(outline_prob=0.5, background_prob=0.5, jpeg_prob=0.5, brightness=0.2)


def test_augmentation_is_deterministic_under_a_seed_and_keeps_shape_and_range() -> None:
    batch = torch.rand(16, 4, 32, 32)
    before = batch.clone()
    torch.manual_seed(7)
    first = augment_stickers(batch, _full_config())
    torch.manual_seed(7)
    second = augment_stickers(batch, _full_config())
    torch.manual_seed(8)
    other = augment_stickers(batch, _full_config())
    assert first.shape == (16, 3, 32, 32)
    assert first.dtype == torch.float32
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert torch.equal(first, second)
    assert not torch.equal(first, other)
    assert torch.equal(batch, before)  # the input is not modified


def test_rgb_input_is_taken_as_opaque_and_bad_shapes_are_refused() -> None:
    rgb = torch.rand(2, 3, 16, 16)
    out = augment_stickers(rgb, StickerAugmentConfig(**STILL))  # type: ignore[arg-type]
    assert torch.allclose(out, rgb, atol=1e-5)
    with pytest.raises(ConfigError, match="expected a"):
        augment_stickers(torch.rand(2, 2, 16, 16), StickerAugmentConfig())


def test_white_background_by_default_and_random_backgrounds_fill_only_transparent_pixels() -> None:
    disc = _disc()
    plain = augment_stickers(disc, StickerAugmentConfig(**STILL))  # type: ignore[arg-type]
    alpha = disc[:, 3:4]
    assert torch.allclose(plain[:, :, 0, 0], torch.ones(1, 3))  # transparent corner -> white
    assert torch.allclose(plain * alpha, disc[:, :3] * alpha, atol=1e-5)  # the drawing itself is kept
    torch.manual_seed(0)
    backed = augment_stickers(disc.repeat(8, 1, 1, 1), StickerAugmentConfig(**STILL, background_prob=1.0))  # type: ignore[arg-type]
    opaque = (alpha[0, 0] == 1).expand(3, -1, -1)
    for img in backed:
        assert torch.allclose(img[opaque], disc[0, :3][opaque], atol=1e-5)
        assert not torch.allclose(img[:, 0, 0], torch.ones(3))  # the corner shows a background now


def test_outline_is_a_white_rim_around_the_drawing() -> None:
    disc = _disc()
    cfg = StickerAugmentConfig(
        **STILL, outline_prob=1.0, outline_width=(2, 2), background_prob=1.0, background_kinds=("flat",)
    )  # type: ignore[arg-type]
    torch.manual_seed(0)
    out = augment_stickers(disc, cfg)[0]
    # left of the disc: pixel 9 is one pixel outside its edge (10): inside the 2-px rim -> white
    assert torch.allclose(out[:, 16, 9], torch.ones(3), atol=1e-5)
    # far outside the rim: the flat background colour, the same in both corners, not white
    assert torch.allclose(out[:, 0, 0], out[:, 31, 31])
    assert not torch.allclose(out[:, 0, 0], torch.ones(3))
    # the centre of the drawing is unchanged
    assert torch.allclose(out[:, 16, 16], disc[0, :3, 16, 16], atol=1e-5)


def test_jpeg_reencoding_changes_pixels_a_little() -> None:
    torch.manual_seed(0)
    batch = torch.rand(4, 3, 32, 32)
    out = augment_stickers(batch, StickerAugmentConfig(**STILL, jpeg_prob=1.0, jpeg_quality=(50, 50)))  # type: ignore[arg-type]
    diff = (out - batch).abs().mean()
    assert 0.01 < float(diff) < 0.5
    # quantised to 8 bits as a decoded JPEG is
    assert torch.allclose(out * 255, (out * 255).round(), atol=1e-4)


def test_config_checks() -> None:
    with pytest.raises(ConfigError, match="outline_prob"):
        StickerAugmentConfig(outline_prob=1.5)
    with pytest.raises(ConfigError, match="jpeg_quality"):
        StickerAugmentConfig(jpeg_quality=(0, 90))
    with pytest.raises(ConfigError, match="background_kinds"):
        StickerAugmentConfig(background_kinds=("stripes",))
    with pytest.raises(ConfigError, match="jpeg_prob"):
        StarterTaskConfig(dataset="unused", jpeg_prob=2.0)


def test_task_config_defaults_keep_the_v1_augmentation() -> None:
    """With the new keys at their defaults the Task augments as before: white fill, no outline/JPEG."""
    cfg = StarterTaskConfig(dataset="unused")
    aug = cfg.sticker_augment()
    assert (aug.outline_prob, aug.background_prob, aug.jpeg_prob, aug.brightness) == (0, 0, 0, 0)
    torch.manual_seed(0)
    white = torch.ones(4, 3, 32, 32)
    assert torch.allclose(augment(white, cfg), white, atol=1e-5)


def _tiny_dataset(root: Path) -> Path:
    """Four transparent items, two with emotion words, one name query each (native format)."""
    from memesearch.data.formats import write_dataset
    from memesearch.data.records import Dataset, Item, Query, Split

    (root / "images").mkdir(parents=True)
    items, queries = [], []
    for i, (name, emotions) in enumerate([("grin", ["happy"]), ("cry", ["sad"]), ("cat", []), ("dog", [])]):
        img = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
        ImageDraw.Draw(img).ellipse((3, 3, 12, 12), fill=(40 * i, 100, 200, 255))
        img.save(root / "images" / f"{name}.png")
        items.append(Item(id=name, path=f"images/{name}.png", emotions=emotions))
        queries.append(Query(id=f"q{i}", text=f"{name} face", qrels={name: 2}))
    write_dataset(
        Dataset(name="tiny", splits={"train": Split("train", items, queries)}, root=root), root, "native"
    )
    return root


def test_task_reads_alpha_and_adds_emotion_words_as_queries(tmp_path: Path) -> None:
    root = _tiny_dataset(tmp_path / "tiny")
    cfg = StarterTaskConfig(
        dataset=str(root),
        val_split="train",
        model=StarterConfig(image_size=16, widths=(4,), depths=(1,), head_hidden=0),
        emotion_queries=True,
        augment=False,
        cache_dir=str(tmp_path / "cache"),
    )
    task = StarterTask(cfg)
    pairs = task.train_dataset()  # real e5-small embeddings of the query and emotion texts
    data = task.train_tensors()
    assert data.images.shape == (4, 4, 16, 16)
    assert int(data.images[0, 3, 0, 0]) == 0 and int(data.images[0, 3, 8, 8]) == 255  # alpha kept
    # 4 name queries + happy, 开心 (grin) + sad, 难过 (cry)
    assert len(pairs) == 8
    assert data.queries.shape == (8, 384)
    assert int(data.relevant.sum()) == 8
    batch = task.collate([pairs[i] for i in range(len(pairs))])
    assert batch["pixels"].shape == (8, 3, 16, 16)
    assert torch.allclose(batch["pixels"][:, :, 0, 0], torch.ones(8, 3))  # transparent corner on white
