"""End to end: ``memesearch datasets build emoji`` on the real npm packages, on a subset of 40 emoji.

The packages (about 300 MB) are installed once into the user npm cache (``$MEMESEARCH_NPM_CACHE`` or
``~/.cache/memesearch/npm``) and reused by later runs; the tests skip only when npm is absent and the
packages are not there yet.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memesearch.cli.main import main
from memesearch.data.emoji.assemble import make_dataset
from memesearch.data.emoji.catalogue import Catalogue, load_catalogue
from memesearch.data.emoji.config import EmojiBuildConfig
from memesearch.data.emoji.emotions import EMOTION_CATEGORY, SUBCATEGORY_EMOTIONS, emotions_for
from memesearch.data.emoji.sources import (
    NpmUnavailableError,
    default_npm_cache,
    ensure_packages,
    installed_version,
)
from memesearch.data.formats import read_dataset
from memesearch.data.records import Dataset

PACKAGES = [
    "emoji-datasource-google",
    "emoji-datasource-twitter",
    "emoji-datasource-facebook",
    "emojibase-data",
]
LIMIT = 40


@pytest.fixture(scope="session")
def npm_cache() -> Path:
    cache = default_npm_cache()
    if shutil.which("npm") is None and any(installed_version(p, cache) is None for p in PACKAGES):
        pytest.skip(
            f"npm is not installed and the emoji npm packages are not in {cache}: install Node.js with npm"
        )
    ensure_packages(PACKAGES, cache, progress=False)
    return cache


@pytest.fixture(scope="session")
def catalogue(npm_cache: Path) -> Catalogue:
    nm = npm_cache / "node_modules"
    return load_catalogue(nm / "emoji-datasource-google" / "emoji.json", nm / "emojibase-data")


@pytest.fixture(scope="module")
def built(npm_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("emoji") / "emoji"
    argv = ["datasets", "build", "emoji", "--out", str(out), "--limit", str(LIMIT), "--seed", "3"]
    assert main([*argv, "--npm-cache", str(npm_cache), "--no-progress"]) == 0
    return out


def _concepts(ds: Dataset, split: str) -> set[str]:
    return {it.meta["concept"] for it in ds[split].items}


def test_catalogue_joins_every_emoji(catalogue: Catalogue) -> None:
    # emojibase-data 17 names every emoji of emoji-datasource 16 in en and zh (research/F §2)
    assert len(catalogue.concepts) > 1800
    assert not catalogue.missing_text and not catalogue.dropped_no_text
    assert all(c.labels.keys() == {"en", "zh"} for c in catalogue.concepts)
    joy = next(c for c in catalogue.concepts if c.key == "1F602")
    assert joy.labels == {"en": "face with tears of joy", "zh": "笑哭了"}
    assert "lol" in joy.tags["en"] and "喜极而泣" in joy.tags["zh"]


def test_emotion_mapping_covers_every_smileys_subcategory(catalogue: Catalogue) -> None:
    present = {c.subcategory for c in catalogue.concepts if c.category == EMOTION_CATEGORY}
    assert present and present <= set(SUBCATEGORY_EMOTIONS)
    faces = [c for c in catalogue.concepts if c.category == EMOTION_CATEGORY and c.subcategory != "emotion"]
    assert all(emotions_for(c.key, c.category, c.subcategory) for c in faces)


def test_full_split_is_stable_and_seeded(catalogue: Catalogue) -> None:
    a = make_dataset(catalogue, EmojiBuildConfig(seed=0))[2].concept_split
    b = make_dataset(catalogue, EmojiBuildConfig(seed=0))[2].concept_split
    c = make_dataset(catalogue, EmojiBuildConfig(seed=1))[2].concept_split
    assert a == b
    assert a != c
    counts = Counter(a.values())
    assert abs(counts["train"] / len(a) - 0.7) < 0.05 and abs(counts["test"] / len(a) - 0.2) < 0.05


def test_full_views_are_disjoint_and_every_query_is_answerable(catalogue: Catalogue) -> None:
    ds, _, report = make_dataset(catalogue, EmojiBuildConfig())
    train, val, test = (_concepts(ds, s) for s in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert _concepts(ds, "test-seen") <= train
    for split in ds:
        for q in split.queries:
            assert q.relevant(), (split.name, q.text)
    # facebook lacks some emoji (Emoji 15.0): they leave the test views, and are counted
    assert 0 < len(report.no_heldout_image["test"]) < 100


def test_cli_writes_every_artifact(built: Path) -> None:
    for name in ("dataset.json", "card.json", "CARD.md", "msrvtt/train_data.json", "msrvtt/test_data.json"):
        assert (built / name).is_file(), name
    card = json.loads((built / "card.json").read_text(encoding="utf-8"))
    assert card["config"]["limit"] == LIMIT and card["sources"]["emojibase-data"]
    assert card["licences"]["images"]["facebook"]["redistributable"] is False
    assert card["licences"]["images"]["twitter"]["licence"] == "CC-BY-4.0"
    assert set(card["splits"]) == {"train", "val", "test", "test-seen"}
    assert "--limit 40" in card["command"]
    assert "Twemoji" in (built / "CARD.md").read_text(encoding="utf-8")


def test_read_back_equals_the_in_memory_build(built: Path, npm_cache: Path) -> None:
    nm = npm_cache / "node_modules"
    catalogue = load_catalogue(nm / "emoji-datasource-google" / "emoji.json", nm / "emojibase-data")
    expected, _, _ = make_dataset(catalogue, EmojiBuildConfig(limit=LIMIT, seed=3))
    got = read_dataset(built)
    assert got.split_names == expected.split_names
    for name in expected.split_names:
        assert got[name].items == expected[name].items, name
        assert got[name].queries == expected[name].queries, name
    assert got.meta["config"]["seed"] == 3


def test_subset_views(built: Path) -> None:
    ds = read_dataset(built)
    train, val, test = (_concepts(ds, s) for s in ("train", "val", "test"))
    assert train and val and test
    assert not (train & val or train & test or val & test)
    assert _concepts(ds, "test-seen") <= train
    assert {it.source for it in ds["train"].items} == {"google", "twitter"}
    assert {it.source for it in ds["test"].items} == {"facebook"}
    for split in ds:
        ids = set(split.item_ids())
        for q in split.queries:
            assert q.relevant() and set(q.qrels) <= ids, (split.name, q.text)
            assert q.meta["lang"] in {"en", "zh"} and q.meta["kind"] in {"name", "keyword"}
        names = [q for q in split.queries if q.meta["kind"] == "name"]
        assert all(2 in q.qrels.values() for q in names)


def test_images_match_the_package_drawings(built: Path, npm_cache: Path, catalogue: Catalogue) -> None:
    ds = read_dataset(built)
    image_of = {c.key: c.image for c in catalogue.concepts}
    for item in ds["train"].items[:10] + ds["test"].items[:5]:
        path = item.resolve_path(built)
        assert path is not None
        with Image.open(path) as im:
            assert im.mode == "RGB" and im.size == (64, 64)
            got = np.asarray(im)
        style = str(item.source)
        src_path = npm_cache / "node_modules" / f"emoji-datasource-{style}" / "img" / style / "64"
        with Image.open(src_path / image_of[item.meta["concept"]]) as src:
            canvas = Image.new("RGBA", src.size, (255, 255, 255, 255))
            canvas.alpha_composite(src.convert("RGBA"))
            assert np.array_equal(got, np.asarray(canvas.convert("RGB")))


def test_msrvtt_copy_reads_back(built: Path) -> None:
    native = read_dataset(built)
    ms = read_dataset(built / "msrvtt", fmt="msrvtt")
    assert set(ms.split_names) == {"train", "test"}
    assert len(ms["train"].items) == len(native["train"].items)
    assert len(ms["test"].items) == len(native["test"].items)


def test_existing_output_needs_overwrite(
    built: Path, npm_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["datasets", "build", "emoji", "--out", str(built), "--limit", str(LIMIT), "--seed", "3"]
    argv += ["--npm-cache", str(npm_cache), "--no-progress"]
    assert main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    before = read_dataset(built)
    assert main([*argv, "--overwrite"]) == 0
    after = read_dataset(built)
    assert [s.items for s in after] == [s.items for s in before]


def test_bigger_images_and_other_heldout_style(npm_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "emoji-128"
    argv = [
        "datasets",
        "build",
        "emoji",
        "--out",
        str(out),
        "--limit",
        "12",
        "--size",
        "128",
        "--transparent",
    ]
    argv += ["--styles", "google,facebook", "--heldout-style", "twitter", "--npm-cache", str(npm_cache)]
    assert main([*argv, "--no-progress"]) == 0
    ds = read_dataset(out)
    assert {it.source for it in ds["train"].items} == {"google", "facebook"}
    assert {it.source for it in ds["test"].items} == {"twitter"}
    path = ds["test"].items[0].resolve_path(out)
    assert path is not None
    with Image.open(path) as im:
        assert im.size == (128, 128) and im.mode == "RGBA"


def test_sprite_sheet_holds_the_same_64px_pixels(npm_cache: Path) -> None:
    # Why the builder reads img/<style>/64: the sheets (66-px cells, 1-px transparent border) hold the
    # same 64-px drawings, and sheets-128/256 are colour-quantised versions, not larger images.
    pkg = npm_cache / "node_modules" / "emoji-datasource-google"
    entries = json.loads((pkg / "emoji.json").read_text(encoding="utf-8"))
    with Image.open(pkg / "img" / "google" / "sheets" / "64.png") as sheet:
        sheet_rgba = sheet.convert("RGBA")
    with Image.open(pkg / "img" / "google" / "sheets-256" / "64.png") as quantised:
        assert quantised.size == sheet_rgba.size and quantised.mode == "P"
    for entry in entries[::200]:
        x, y = entry["sheet_x"] * 66 + 1, entry["sheet_y"] * 66 + 1
        cut = np.asarray(sheet_rgba.crop((x, y, x + 64, y + 64))).astype(int)
        with Image.open(pkg / "img" / "google" / "64" / entry["image"]) as im:
            ref = np.asarray(im.convert("RGBA")).astype(int)
        # compare premultiplied: colours under alpha 0 differ and are invisible
        assert np.array_equal(cut[..., 3], ref[..., 3])
        assert np.abs(cut[..., :3] * cut[..., 3:] - ref[..., :3] * ref[..., 3:]).max() == 0


def test_unreachable_registry_gives_one_clear_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    # a closed local port stands for an offline registry; no retries so that npm gives up at once
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    with pytest.raises(NpmUnavailableError) as info:
        ensure_packages(["emojibase-data"], tmp_path / "cache", progress=False)
    message = str(info.value)
    assert "ECONNREFUSED" in message and "npm install --prefix" in message and "\n" not in message
