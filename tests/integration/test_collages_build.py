"""End to end: ``memesearch datasets build collages`` on the real npm emoji packages, a small build.

Checks determinism (same seed, same bytes), the split rules (views follow the emoji benchmark's concept
and style splits: test = unseen concepts in the held-out style), that queries name an emoji the relevant
collages contain, that every truth box lies inside its image, and that the ``auto`` segmenter finds the
pasted emoji of the plain-background collages. Skips only when npm is absent and the packages are missing.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from PIL import Image

from memesearch.cli.main import main
from memesearch.data.emoji.catalogue import Catalogue, load_catalogue
from memesearch.data.emoji.sources import default_npm_cache, ensure_packages, installed_version
from memesearch.data.emoji.splits import assign_split
from memesearch.data.formats import read_dataset
from memesearch.objects import box_iou, create_segmenter

PACKAGES = [
    "emoji-datasource-google",
    "emoji-datasource-twitter",
    "emoji-datasource-facebook",
    "emojibase-data",
]
ARGS = ["--seed", "3", "--counts", "train=24,val=6,test=16,test-seen=6", "--size", "192", "--no-progress"]


@pytest.fixture(scope="session")
def npm_cache() -> Path:
    cache = default_npm_cache()
    if shutil.which("npm") is None and any(installed_version(p, cache) is None for p in PACKAGES):
        pytest.skip(f"npm is not installed and the emoji npm packages are not in {cache}: install Node.js")
    ensure_packages(PACKAGES, cache, progress=False)
    return cache


@pytest.fixture(scope="session")
def catalogue(npm_cache: Path) -> Catalogue:
    nm = npm_cache / "node_modules"
    return load_catalogue(nm / "emoji-datasource-google" / "emoji.json", nm / "emojibase-data")


@pytest.fixture(scope="module")
def built(npm_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("collages") / "collages"
    argv = ["datasets", "build", "collages", "--out", str(out), *ARGS, "--npm-cache", str(npm_cache)]
    assert main([*argv, "--workers", "2"]) == 0
    return out


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in ("card.json", "CARD.md", "dataset.json")
    }


def test_views_follow_the_emoji_splits(built: Path, catalogue: Catalogue) -> None:
    ds = read_dataset(built)
    assert ds.split_names == ["train", "val", "test", "test-seen"]
    assert [len(ds[v].items) for v in ds.split_names] == [24, 6, 16, 6]
    want = {"train": ("train", {"google", "twitter"}), "val": ("val", {"google", "twitter"})}
    want |= {"test": ("test", {"facebook"}), "test-seen": ("train", {"facebook"})}
    for view, (split, styles) in want.items():
        for it in ds[view].items:
            assert it.meta["style"] in styles and it.source == it.meta["style"]
            assert {assign_split(k, 3) for k in it.meta["concepts"]} == {split}, (view, it.id)
    train_concepts = {k for it in ds["train"].items for k in it.meta["concepts"]}
    test_concepts = {k for it in ds["test"].items for k in it.meta["concepts"]}
    assert train_concepts and test_concepts and not train_concepts & test_concepts


def test_items_objects_and_queries(built: Path, catalogue: Catalogue) -> None:
    ds = read_dataset(built)
    by_key = {c.key: c for c in catalogue.concepts}
    for split in ds:
        items = split.item_index()
        for it in split.items:
            assert 1 <= len(it.objects) == len(it.meta["concepts"]) <= 6
            with Image.open(ds.root / it.path) as im:  # type: ignore[operator]
                assert im.size == (192, 192) and im.mode == "RGB"
            for region, key in zip(it.objects, it.meta["concepts"], strict=True):
                x0, y0, x1, y1 = region.box
                assert 0 <= x0 < x1 <= 192 and 0 <= y0 < y1 <= 192
                assert region.label == by_key[key].labels["en"]
        langs = {q.meta["lang"] for q in split.queries}
        assert langs == {"en", "zh"}
        for q in split.queries:
            assert q.qrels and set(q.qrels.values()) == {2}
            for item_id in q.qrels:  # every relevant collage holds an emoji of that name
                names = {by_key[k].labels[q.meta["lang"]] for k in items[item_id].meta["concepts"]}
                assert q.text in names
            # and no collage holding it is missing from the judgements
            holders = {
                it.id
                for it in split.items
                if q.text in {by_key[k].labels[q.meta["lang"]] for k in it.meta["concepts"]}
            }
            assert holders == set(q.qrels)


def test_auto_finds_the_emoji_on_plain_backgrounds(built: Path) -> None:
    ds = read_dataset(built)
    seg = create_segmenter("auto")
    found = total = 0
    for split in ds:
        for it in split.items:
            if it.meta["background"] != "plain":
                continue
            regions = seg.segment(Image.open(ds.root / it.path))  # type: ignore[operator]
            for truth in it.objects:
                total += 1
                found += max((box_iou(truth.box, r.box) for r in regions), default=0.0) >= 0.9
    assert total >= 20
    assert found / total >= 0.9, (found, total)


def test_same_seed_same_bytes(built: Path, npm_cache: Path, tmp_path: Path) -> None:
    before = _digests(built)
    assert any(k.startswith("images/test/") for k in before)
    other = tmp_path / "again"  # drawn in this process (the fixture used a pool of 2): same bytes
    argv = ["datasets", "build", "collages", "--out", str(other), *ARGS, "--npm-cache", str(npm_cache)]
    assert main([*argv, "--workers", "1"]) == 0
    assert _digests(other) == before
    reseeded = [a if a != "3" else "4" for a in ARGS]
    argv = [
        "datasets",
        "build",
        "collages",
        "--out",
        str(tmp_path / "s4"),
        *reseeded,
        "--npm-cache",
        str(npm_cache),
    ]
    assert main(argv) == 0
    assert _digests(tmp_path / "s4")["test/items.jsonl"] != before["test/items.jsonl"]


def test_bad_options_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for extra, message in (
        (["--counts", "tset=3"], "--counts expects VIEW=N"),
        (["--objects", "5-2"], "1 <= min <= max <= 8"),
        (["--objects", "two"], "--objects expects MIN-MAX"),
        (["--backgrounds", "space"], "--backgrounds must list"),
        (["--size", "64"], "--size must be between"),
    ):
        assert main(["datasets", "build", "collages", "--out", str(tmp_path / "x"), *extra]) == 2
        assert message in capsys.readouterr().err


def test_views_without_collages_are_left_out(npm_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "only-test"
    argv = ["datasets", "build", "collages", "--out", str(out), "--counts", "test=5", "--no-progress"]
    assert main([*argv, "--npm-cache", str(npm_cache)]) == 0
    ds = read_dataset(out)
    assert ds.split_names == ["test"] and len(ds["test"].items) == 5
