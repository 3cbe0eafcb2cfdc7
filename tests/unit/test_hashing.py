"""Content hashes and the DCT perceptual hash: oracle checks of the DCT, robustness to resizing and JPEG,
separation of unrelated pictures, determinism."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from memesearch.enrich.hashing import (
    dct2,
    hamming,
    phash,
    phash_from_hex,
    phash_hex,
    sha256_bytes,
    sha256_file,
)

EMOJI_DIR = Path(__file__).resolve().parents[2] / "data" / "emoji" / "images"


def _scene(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A picture with large shapes at seeded positions and colours (and a line of text)."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    width, height = size
    for _ in range(6):
        x0, y0 = int(rng.integers(0, width * 3 // 4)), int(rng.integers(0, height * 3 // 4))
        x1, y1 = (
            x0 + int(rng.integers(width // 8, width // 2)),
            y0 + int(rng.integers(height // 8, height // 2)),
        )
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    draw.text((8, height - 20), f"scene {seed}", fill=(0, 0, 0))
    return image


def _gradient(size: tuple[int, int] = (256, 256)) -> Image.Image:
    ramp = np.linspace(0, 255, size[0], dtype=np.float64)[None, :].repeat(size[1], axis=0)  # (H, W)
    return Image.fromarray(ramp.astype(np.uint8), "L").convert("RGB")


def _noise(seed: int, size: tuple[int, int] = (256, 256)) -> Image.Image:
    return Image.fromarray(
        np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    )


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    out.seek(0)
    return Image.open(out)


# --------------------------------------------------------------------------------------------------- sha256


def test_sha256_file_streams_large_and_empty_files(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(0, 256, 2_621_445, dtype=np.uint8).tobytes()  # 2.5 MiB + 5
    (tmp_path / "big.bin").write_bytes(data)
    (tmp_path / "empty.bin").write_bytes(b"")
    assert sha256_file(tmp_path / "big.bin") == hashlib.sha256(data).hexdigest() == sha256_bytes(data)
    assert sha256_file(str(tmp_path / "empty.bin")) == hashlib.sha256(b"").hexdigest()
    with pytest.raises(FileNotFoundError):
        sha256_file(tmp_path / "missing.bin")


# ------------------------------------------------------------------------------------------------------ DCT


def _naive_dct2(block: np.ndarray) -> np.ndarray:
    """Orthonormal 2-D DCT-II straight from the definition (one sum per output coefficient)."""
    n = block.shape[0]
    i = np.arange(n)
    out = np.zeros((n, n))
    for u in range(n):
        for v in range(n):
            basis = np.outer(
                np.cos(np.pi * (2 * i + 1) * u / (2 * n)), np.cos(np.pi * (2 * i + 1) * v / (2 * n))
            )
            scale = (np.sqrt(1 / n) if u == 0 else np.sqrt(2 / n)) * (
                np.sqrt(1 / n) if v == 0 else np.sqrt(2 / n)
            )
            out[u, v] = scale * float((block * basis).sum())
    return out


@pytest.mark.parametrize("n", [8, 32])
def test_dct_matches_definition_and_is_orthonormal(n: int) -> None:
    block = np.random.default_rng(n).random((n, n)) * 255
    assert np.allclose(dct2(block), _naive_dct2(block), atol=1e-9)
    # orthonormal: energy is preserved and a constant block has only a DC term
    assert np.isclose((dct2(block) ** 2).sum(), (block**2).sum())
    flat = dct2(np.full((n, n), 7.0))
    assert np.isclose(flat[0, 0], 7.0 * n) and np.allclose(flat.ravel()[1:], 0.0, atol=1e-9)


# ---------------------------------------------------------------------------------------------------- phash


def test_phash_is_a_deterministic_64_bit_int() -> None:
    image = _scene(1)
    h = phash(image)
    assert isinstance(h, int) and 0 <= h < 1 << 64
    assert phash(image) == h == phash(image.copy())
    assert phash(_scene(1)) == h  # the same picture drawn again
    assert bin(h).count("1") in range(16, 49)  # a median threshold splits the bits roughly in half


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_phash_survives_resizing_and_jpeg(seed: int) -> None:
    original = _scene(seed)
    h = phash(original)
    resized = original.resize((160, 120), Image.Resampling.BILINEAR)
    assert hamming(h, phash(resized)) <= 6
    assert hamming(h, phash(_jpeg(original, 70))) <= 6
    assert hamming(h, phash(_jpeg(resized, 70))) <= 6
    assert hamming(h, phash(original.resize((640, 480)))) <= 6  # upscaled
    assert hamming(h, phash(original.convert("L"))) <= 2  # greyscale copy


def test_phash_separates_unrelated_pictures() -> None:
    assert hamming(phash(_noise(0)), phash(_gradient())) >= 16
    assert hamming(phash(_noise(0)), phash(_noise(1))) >= 16
    hashes = [phash(_scene(seed)) for seed in range(1, 7)]
    for a in range(len(hashes)):
        for b in range(a + 1, len(hashes)):
            assert hamming(hashes[a], hashes[b]) >= 16, (a, b)


def test_phash_sees_transparency_as_white() -> None:
    sticker = Image.new("RGBA", (128, 128), (0, 0, 0, 0))  # transparent black
    ImageDraw.Draw(sticker).ellipse((20, 20, 100, 100), fill=(200, 30, 30, 255))
    on_white = Image.new("RGB", (128, 128), "white")
    ImageDraw.Draw(on_white).ellipse((20, 20, 100, 100), fill=(200, 30, 30))
    assert hamming(phash(sticker), phash(on_white)) <= 2


def test_phash_hex_round_trip_and_hamming() -> None:
    assert phash_hex(255) == "00000000000000ff"
    assert phash_from_hex(phash_hex(0xC3A1E07C1F0F8F87)) == 0xC3A1E07C1F0F8F87
    h = phash(_scene(4))
    assert len(phash_hex(h)) == 16 and phash_from_hex(phash_hex(h)) == h
    with pytest.raises(ValueError):
        phash_hex(1 << 64)
    with pytest.raises(ValueError):
        phash_from_hex("abc")
    assert hamming(0, (1 << 64) - 1) == 64 and hamming(h, h) == 0 and hamming(0b1010, 0b0110) == 2


def test_phash_on_real_emoji() -> None:
    files = sorted(EMOJI_DIR.glob("twitter/*.png")) if EMOJI_DIR.is_dir() else []
    if len(files) < 24:
        pytest.skip(
            f"no emoji images under {EMOJI_DIR} (run `memesearch datasets build emoji` to create them)"
        )
    picked = [files[i] for i in np.linspace(0, len(files) - 1, 24).astype(int)]
    images = [Image.open(path).convert("RGB") for path in picked]
    hashes = [phash(image) for image in images]
    upscaled = [
        hamming(h, phash(im.resize((2 * im.width, 2 * im.height))))
        for im, h in zip(images, hashes, strict=True)
    ]
    jpeg = [hamming(h, phash(_jpeg(im, 70))) for im, h in zip(images, hashes, strict=True)]
    unrelated = [hamming(hashes[a], hashes[b]) for a in range(24) for b in range(a + 1, 24)]
    # small, flat, often left-right symmetric drawings: many DCT coefficients sit near the median, so a
    # few emoji flip more bits; most stay within the near-duplicate radius and none come near each other
    assert np.median(upscaled) <= 2 and np.mean(np.array(upscaled) <= 6) >= 0.75
    assert np.median(jpeg) <= 4 and np.mean(np.array(jpeg) <= 6) >= 0.6
    assert min(unrelated) > 6 and np.median(unrelated) >= 16
