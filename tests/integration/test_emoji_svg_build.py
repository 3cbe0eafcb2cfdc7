"""End to end: the emoji benchmark with the SVG styles (Fluent, OpenMoji) from the real npm packages.

A subset of 40 concepts (``--limit 40 --seed 3``) is built twice, with the default styles and with the
five SVG styles added; the held-out views and the PNG styles' items must be the same in both, and the
default build must be exactly the one made before the SVG styles existed. The packages are installed
once into the user npm cache; the tests skip only when npm is absent and the packages are not there.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memesearch.cli.main import main
from memesearch.data.emoji.sources import SVG_STYLES, default_npm_cache, ensure_packages, installed_version
from memesearch.data.formats import read_dataset

PACKAGES = [
    "emoji-datasource-google",
    "emoji-datasource-twitter",
    "emoji-datasource-facebook",
    "emojibase-data",
    "fluentui-emoji",
    "openmoji",
]
ARGS = ["--limit", "40", "--seed", "3", "--no-progress"]

#: sha256 over the split files and decoded pixels of the default build (``--limit 40 --seed 3``) made
#: by the code before the SVG styles were added (see :func:`_digest`). A deliberate change to the default
#: benchmark (items, queries, images) updates this number in the same commit.
DEFAULT_DIGEST = "c4c7dd43ef755db78f52e6eac18a0d198c88479fbb9bb5614dc84fc67a8d1de6"


@pytest.fixture(scope="module")
def npm_cache() -> Path:
    cache = default_npm_cache()
    if shutil.which("npm") is None and any(installed_version(p, cache) is None for p in PACKAGES):
        pytest.skip(f"npm is not installed and the emoji npm packages are not in {cache}")
    ensure_packages(PACKAGES, cache, progress=False)
    return cache


@pytest.fixture(scope="module")
def builds(npm_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("emoji-svg")
    default, svg = root / "default", root / "svg"
    cache = ["--npm-cache", str(npm_cache)]
    assert main(["datasets", "build", "emoji", "--out", str(default), *ARGS, *cache]) == 0
    styles = ",".join(["google", "twitter", *SVG_STYLES])
    assert main(["datasets", "build", "emoji", "--out", str(svg), "--styles", styles, *ARGS, *cache]) == 0
    return default, svg


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for split in json.loads((root / "dataset.json").read_text(encoding="utf-8"))["splits"]:
        for name in ("items.jsonl", "queries.jsonl"):
            h.update((root / split / name).read_bytes())
    for path in sorted((root / "images").rglob("*.png")):
        h.update(str(path.relative_to(root)).encode())
        with Image.open(path) as im:
            h.update(np.asarray(im.convert("RGBA")).tobytes())
    return h.hexdigest()


def test_default_build_is_unchanged(builds: tuple[Path, Path]) -> None:
    assert _digest(builds[0]) == DEFAULT_DIGEST


def test_svg_styles_only_add_train_items(builds: tuple[Path, Path]) -> None:
    default, svg = (read_dataset(p, fmt="native") for p in builds)
    for view in ("test", "test-seen"):
        assert [it.id for it in svg[view].items] == [it.id for it in default[view].items]
        assert [(q.id, q.qrels) for q in svg[view].queries] == [
            (q.id, q.qrels) for q in default[view].queries
        ]
    for view in ("train", "val"):
        png = [it.id for it in svg[view].items if it.source in ("google", "twitter")]
        assert png == [it.id for it in default[view].items]
        concepts = {it.meta["concept"] for it in default[view].items}
        assert {it.meta["concept"] for it in svg[view].items} == concepts  # same concepts, more drawings
    sources = {it.source for it in svg["train"].items}
    assert sources == {"google", "twitter", *SVG_STYLES}
    old = {p.relative_to(builds[0]) for p in (builds[0] / "images").rglob("*.png")}
    for rel in old:  # the PNG styles' images are byte-identical
        assert (builds[0] / rel).read_bytes() == (builds[1] / rel).read_bytes()


def test_svg_images_are_rendered_emoji(builds: tuple[Path, Path]) -> None:
    svg = read_dataset(builds[1], fmt="native")
    items = [it for it in svg["train"].items if it.source in SVG_STYLES]
    assert items
    for it in items:
        assert it.path is not None
        with Image.open(builds[1] / it.path) as im:
            assert im.size == (64, 64) and im.mode == "RGB"
            px = np.asarray(im).astype(int)
        # white background around a drawing: corners white, a real share of the pixels drawn
        assert (px[0, 0] == 255).all()
        assert 0.05 < (px.min(axis=2) < 200).mean() < 0.95, it.path
    joy = [it for it in items if it.meta["concept"] == "1F602"]
    if joy:  # face with tears of joy, when the subset holds it
        assert {it.source for it in joy} == set(SVG_STYLES)


def test_card_reports_licences_and_unmatched_files(builds: tuple[Path, Path]) -> None:
    card = json.loads((builds[1] / "card.json").read_text(encoding="utf-8"))
    licences = card["licences"]["images"]
    assert licences["fluent-flat"]["licence"] == "MIT"
    assert licences["openmoji-black"]["licence"] == "CC-BY-SA-4.0"
    assert card["sources"]["fluentui-emoji"] == "1.3.0" and card["sources"]["openmoji"] == "17.0.0"
    stats = card["svg_styles"]
    assert set(stats) == set(SVG_STYLES)
    for style, st in stats.items():
        assert st["matched_concepts"] > 1500, style  # of the catalogue's ~1870 concepts
        assert st["unmatched"] == len(st["unmatched_files"])
        assert st["files"] == st["matched_concepts"] + st["skin_variants_left_out"] + st["unmatched"]
    assert stats["openmoji-color"]["unmatched"] > 100  # OpenMoji's own extras (no Unicode emoji)
    markdown = (builds[1] / "CARD.md").read_text(encoding="utf-8")
    assert "| openmoji-black |" in markdown and "CC-BY-SA-4.0" in markdown
    default_card = json.loads((builds[0] / "card.json").read_text(encoding="utf-8"))
    assert default_card["svg_styles"] == {}


def test_transparent_seven_style_build_keeps_the_heldout_views(
    builds: tuple[Path, Path], npm_cache: Path, tmp_path: Path
) -> None:
    """The starter-v2 training build (all seven train styles, ``--transparent``) holds the same test and
    test-seen views as the default build — items, queries, judgements and the pixels models read — and
    its train images keep their transparency (what the sticker augmentation's outline and background
    need)."""
    from memesearch.eval.emoji_views import compare_views

    out = tmp_path / "rgba"
    styles = ",".join(["google", "twitter", *SVG_STYLES])
    cache = ["--npm-cache", str(npm_cache)]
    assert main(["datasets", "build", "emoji", "--out", str(out), "--styles", styles, "--transparent",
                 *ARGS, *cache]) == 0  # fmt: skip
    diff = compare_views(builds[0], out)
    assert diff["same"], diff
    assert diff["test"]["max_pixel_difference"] == 0
    train = read_dataset(out, fmt="native")["train"]
    first = train.items[0].resolve_path(out)
    assert first is not None
    with Image.open(first) as im:
        assert im.mode == "RGBA"
        assert np.asarray(im)[..., 3].min() == 0  # a transparent background
