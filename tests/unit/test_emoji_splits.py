"""Concept split of the emoji benchmark: seeded, stable, per-concept, with the requested fractions."""

from __future__ import annotations

import pytest

from memesearch.data.emoji.splits import assign_split, check_fractions, select_subset, subset_sizes, unit_hash
from memesearch.errors import ConfigError

KEYS = [f"{cp:X}" for cp in range(0x1F300, 0x1F300 + 4000)]


def test_same_seed_same_split() -> None:
    first = [assign_split(k, seed=7) for k in KEYS]
    assert first == [assign_split(k, seed=7) for k in KEYS]


def test_different_seed_moves_many_concepts() -> None:
    a = [assign_split(k, seed=0) for k in KEYS]
    b = [assign_split(k, seed=1) for k in KEYS]
    moved = sum(x != y for x, y in zip(a, b, strict=True)) / len(KEYS)
    # Two independent 70/10/20 draws disagree with probability 1 - (.49 + .01 + .04) = 0.46.
    assert 0.40 < moved < 0.52


def test_fractions_are_respected() -> None:
    splits = [assign_split(k, seed=3) for k in KEYS]
    for name, expected in (("train", 0.7), ("val", 0.1), ("test", 0.2)):
        assert abs(splits.count(name) / len(KEYS) - expected) < 0.03, name


def test_split_of_a_concept_does_not_depend_on_the_other_concepts() -> None:
    # A newer package version adds emoji: the split is a function of (seed, key) only, so nothing moves.
    small = {k: assign_split(k, seed=5) for k in KEYS[:100]}
    large = {k: assign_split(k, seed=5) for k in KEYS}
    assert all(large[k] == v for k, v in small.items())


def test_custom_fractions() -> None:
    splits = {assign_split(k, seed=0, fractions=(0.0, 0.0, 1.0)) for k in KEYS[:200]}
    assert splits == {"test"}


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.7, 0.2, 0.2), (1.2, -0.1, -0.1)])
def test_bad_fractions_are_rejected(fractions: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError, match="fractions"):
        check_fractions(fractions)


def test_unit_hash_range_and_salt() -> None:
    values = [unit_hash(0, k) for k in KEYS[:500]]
    assert all(0.0 <= v < 1.0 for v in values)
    assert [unit_hash(0, k, "subset:") for k in KEYS[:5]] != values[:5]


def test_subset_represents_every_split_and_keeps_the_full_split() -> None:
    split_of = {k: assign_split(k, seed=2) for k in KEYS}
    chosen = select_subset(((k, k) for k in KEYS), split_of, limit=40, seed=2)
    sizes = subset_sizes(40)
    assert len(chosen) == sum(sizes.values()) == 40
    for name, n in sizes.items():
        assert sum(split_of[k] == name for k in chosen) == n
    # deterministic, and in input order
    assert chosen == select_subset(((k, k) for k in KEYS), split_of, limit=40, seed=2)
    assert chosen == sorted(chosen, key=KEYS.index)


def test_subset_limit_too_small() -> None:
    with pytest.raises(ConfigError, match="at least 3"):
        subset_sizes(2)
