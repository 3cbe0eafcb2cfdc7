"""Seeded, stable assignment of emoji concepts to train / val / test.

A concept's split depends only on the seed and its own join key: ``u = sha256("<seed>:<key>")`` read
as a number in [0, 1), then ``train`` if ``u < 0.7``, ``val`` if ``u < 0.8``, else ``test`` (for the
default fractions). Runs with the same seed give the same split; a newer emoji-datasource version
that adds emoji leaves every existing concept where it was; a different seed gives another split.

Example::

    >>> assign_split("1F602", seed=0) == assign_split("1F602", seed=0)
    True
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from typing import TypeVar

from memesearch.errors import ConfigError

SPLIT_NAMES: tuple[str, str, str] = ("train", "val", "test")
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.7, 0.1, 0.2)

T = TypeVar("T")


def unit_hash(seed: int, key: str, salt: str = "") -> float:
    """A number in [0, 1) fixed by ``seed``, ``salt`` and ``key`` (first 8 bytes of a sha256)."""
    digest = hashlib.sha256(f"{seed}:{salt}{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate train/val/test fractions: three non-negative numbers summing to 1."""
    if (
        len(fractions) != 3
        or any(f < 0 for f in fractions)
        or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6)
    ):
        raise ConfigError(
            f"split fractions must be three non-negative numbers summing to 1, got {list(fractions)}"
        )
    return (float(fractions[0]), float(fractions[1]), float(fractions[2]))


def parse_view_counts(text: str, views: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """``"train=600,val=150"`` -> ``(view, count)`` pairs in ``views`` order; views left out get 0 (the
    ``--counts`` option of the benchmarks drawn from emoji: collages, animated)."""
    counts = dict.fromkeys(views, 0)
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in counts or not value.strip().isdigit():
            raise ConfigError(f"--counts expects VIEW=N pairs with VIEW in {', '.join(views)}, got {part!r}")
        counts[name] = int(value)
    return tuple(counts.items())


def assign_split(key: str, seed: int, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> str:
    """``"train"``, ``"val"`` or ``"test"`` for the concept ``key``."""
    train, val, _ = check_fractions(fractions)
    u = unit_hash(seed, key)
    if u < train:
        return "train"
    if u < train + val:
        return "val"
    return "test"


def subset_sizes(limit: int, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> dict[str, int]:
    """How many concepts of each split a subset of ``limit`` concepts keeps (at least one each)."""
    if limit < 3:
        raise ConfigError(f"--limit must be at least 3 (one concept per split), got {limit}")
    _, val_f, test_f = check_fractions(fractions)
    val = max(1, round(limit * val_f))
    test = max(1, round(limit * test_f))
    return {"train": max(1, limit - val - test), "val": val, "test": test}


def select_subset(
    keyed: Iterable[tuple[str, T]],
    split_of: dict[str, str],
    limit: int,
    seed: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> list[T]:
    """A deterministic subset of about ``limit`` concepts with every split represented.

    Within each split the concepts with the smallest ``unit_hash(seed, key, "subset")`` are kept, so a
    subset is a seeded sample and each kept concept stays in the split it has in the full build.
    """
    sizes = subset_sizes(limit, fractions)
    rows = list(keyed)
    ranked: dict[str, list[tuple[float, str]]] = {name: [] for name in SPLIT_NAMES}
    for key, _ in rows:
        ranked[split_of[key]].append((unit_hash(seed, key, "subset:"), key))
    keep: set[str] = set()
    for name, ranks in ranked.items():
        ranks.sort()
        keep.update(key for _, key in ranks[: sizes[name]])
    # Keep the input order (the CLDR order of the catalogue), not the hash order.
    return [value for key, value in rows if key in keep]
