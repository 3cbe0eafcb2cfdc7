"""Content hashes (exact duplicates) and a DCT perceptual hash (near duplicates).

* :func:`sha256_file` / :func:`sha256_bytes` (from :mod:`memesearch.utils.io`) identify content exactly:
  the same bytes under two names are
  one item.
* :func:`phash` is the classic DCT perceptual hash: two encodings of the same picture (resized,
  re-compressed as JPEG, converted to another format) get hashes a few bits apart, unrelated pictures
  differ in about half of the 64 bits. Compare hashes with :func:`hamming`.

Example::

    >>> a = phash(Image.open("cat.png"))                       # doctest: +SKIP
    >>> b = phash(Image.open("cat_small.jpg"))                 # doctest: +SKIP
    >>> hamming(a, b) <= 6                                      # doctest: +SKIP
    True
    >>> phash_hex(a)                                            # doctest: +SKIP
    'c3a1e07c1f0f8f87'
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from memesearch.models.encoders.images import to_rgb
from memesearch.utils.io import sha256_bytes, sha256_file

_SIDE = 32  # the image is reduced to (32, 32) before the DCT
_LOW = 8  # the hash keeps the (8, 8) lowest frequencies -> 64 bits
HASH_BITS = _LOW * _LOW


@lru_cache(maxsize=1)
def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix C (n, n): ``C @ x`` is the DCT-II of a length-n signal ``x``.

    ``C[k, i] = s_k * cos(pi * (2i + 1) * k / (2n))`` with ``s_0 = sqrt(1/n)``, ``s_k = sqrt(2/n)``.
    """
    k = np.arange(n, dtype=np.float64)[:, None]  # (n, 1) frequency
    i = np.arange(n, dtype=np.float64)[None, :]  # (1, n) sample
    matrix = np.cos(np.pi * (2.0 * i + 1.0) * k / (2.0 * n)) * np.sqrt(2.0 / n)
    matrix[0, :] = np.sqrt(1.0 / n)
    matrix.setflags(write=False)
    return matrix


def dct2(block: np.ndarray) -> np.ndarray:
    """2-D orthonormal DCT-II of a square array (n, n): ``C @ block @ C.T``."""
    c = _dct_matrix(block.shape[0])
    out: np.ndarray = c @ block @ c.T
    return out


def phash(image: Image.Image) -> int:
    """64-bit DCT perceptual hash of ``image`` (any PIL mode; transparency is composited onto white).

    Steps: greyscale -> (32, 32) with LANCZOS -> 2-D DCT-II -> the (8, 8) lowest frequencies (DC term
    included) -> bit = coefficient > median. The median is taken over the 63 AC coefficients: the DC
    term is the mean brightness, far larger than the rest, and would shift the median of a 64-value set.
    Bits are laid out row by row, the DC bit is the most significant.

    Known limit of the method: on small, flat or mirror-symmetric drawings (emoji) many coefficients sit
    near the median, so re-encoding can flip more bits than on photos and screenshots.
    """
    plain_grey = image.mode == "L" and "transparency" not in image.info
    grey = image if plain_grey else to_rgb(image).convert("L")
    # reducing_gap: integer box reduction first, then LANCZOS; the result differs from a plain LANCZOS
    # resize by less than one grey level, at a fraction of the cost for large images
    small = grey.resize((_SIDE, _SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    pixels = np.asarray(small, dtype=np.float64)  # (32, 32), 0..255
    low = dct2(pixels)[:_LOW, :_LOW].ravel()  # (64,)
    median = float(np.median(low[1:]))
    bits = low > median
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value


def phash_hex(h: int) -> str:
    """A 64-bit hash as 16 lower-case hex digits (zero-padded): ``phash_hex(255) == '00000000000000ff'``."""
    if not 0 <= h < 1 << HASH_BITS:
        raise ValueError(f"expected a 64-bit unsigned hash, got {h}")
    return f"{h:016x}"


def phash_from_hex(text: str) -> int:
    """Inverse of :func:`phash_hex`: ``phash_from_hex('00000000000000ff') == 255``."""
    if len(text) != HASH_BITS // 4:
        raise ValueError(f"expected {HASH_BITS // 4} hex digits, got {text!r}")
    return int(text, 16)


def hamming(a: int, b: int) -> int:
    """Number of bits in which two hashes differ (0 = same picture, ~32 = unrelated pictures)."""
    return (a ^ b).bit_count()


__all__ = [
    "HASH_BITS",
    "dct2",
    "hamming",
    "phash",
    "phash_from_hex",
    "phash_hex",
    "sha256_bytes",
    "sha256_file",
]
