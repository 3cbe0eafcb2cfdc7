"""The SVG emoji styles (Fluent, OpenMoji): file-to-concept matching, rendering, and their place in a build.

Small package trees in the packages' own layouts are written here, so every matching rule is checked on
known files; tests/integration/test_emoji_svg_build.py builds from the real npm packages.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memesearch.data.emoji.assemble import make_dataset
from memesearch.data.emoji.catalogue import Catalogue, EmojiConcept
from memesearch.data.emoji.config import EmojiBuildConfig
from memesearch.data.emoji.images import ImageJob, write_image
from memesearch.data.emoji.sources import installed_version, style_package
from memesearch.data.emoji.svgstyles import index_fluent, index_openmoji, name_table, render_svg, slug
from memesearch.errors import ConfigError

SVG = '<svg xmlns="http://www.w3.org/2000/svg"'
# 8 x 8 user units drawn at 16 px: a red left half, a blue square at the bottom right, transparent elsewhere
HALVES = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8">'
    '<rect x="0" y="0" width="4" height="8" fill="#ff0000"/>'
    '<rect x="6" y="6" width="2" height="2" fill="#0000ff"/></svg>'
)


def _svg(path: Path, text: str = HALVES) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _expected_halves(size: int) -> np.ndarray:
    want = np.zeros((size, size, 4), dtype=np.uint8)
    want[:, : size // 2] = (255, 0, 0, 255)
    want[size * 3 // 4 :, size * 3 // 4 :] = (0, 0, 255, 255)
    return want


@pytest.mark.parametrize("size", [16, 64])
def test_render_matches_the_reference_raster(tmp_path: Path, size: int) -> None:
    im = render_svg(_svg(tmp_path / "a.svg"), size)
    assert im.mode == "RGBA" and im.size == (size, size)
    got = np.asarray(im).astype(int)
    # edges on the pixel grid: every pixel within 2 levels of the hand-made reference
    assert np.abs(got - _expected_halves(size)).max() <= 2


def test_render_antialiases_within_tolerance(tmp_path: Path) -> None:
    # a disc of radius 3 centred in 8 x 8 units: inside opaque, corners transparent, edge partly covered
    svg = _svg(
        tmp_path / "disc.svg",
        f'{SVG} viewBox="0 0 8 8"><circle cx="4" cy="4" r="3" fill="#00ff00"/></svg>',
    )
    alpha = np.asarray(render_svg(svg, 32))[:, :, 3].astype(float) / 255
    assert alpha[16, 16] == 1.0 and alpha[0, 0] == 0.0
    assert 0.05 < alpha[7, 7] < 0.95  # the diagonal edge crosses pixel (7, 7) at 7.5 px: antialiased
    covered = alpha.sum() / 32**2
    assert covered == pytest.approx(np.pi * 9 / 64, abs=0.01)  # disc area / square area


def test_render_centres_a_wide_svg(tmp_path: Path) -> None:
    svg = _svg(
        tmp_path / "wide.svg",
        f'{SVG} viewBox="0 0 20 10"><rect width="20" height="10" fill="red"/></svg>',
    )
    im = np.asarray(render_svg(svg, 16))
    assert im.shape == (16, 16, 4)
    assert im[0, 8, 3] == 0 and im[15, 8, 3] == 0  # transparent bands above and below
    assert (im[4:12, :, 3] == 255).all()


def test_write_image_renders_svg_onto_white(tmp_path: Path) -> None:
    _svg(tmp_path / "a.svg")
    write_image(ImageJob(str(tmp_path / "a.svg"), "out/a.png", 32, "white"), str(tmp_path))
    with Image.open(tmp_path / "out" / "a.png") as im:
        assert im.mode == "RGB" and im.size == (32, 32)
        assert im.getpixel((2, 2)) == (255, 0, 0)
        assert im.getpixel((28, 2)) == (255, 255, 255)  # transparent -> white, like the PNG styles
        assert im.getpixel((29, 29)) == (0, 0, 255)
    write_image(ImageJob(str(tmp_path / "a.svg"), "b.png", 32, "transparent"), str(tmp_path))
    with Image.open(tmp_path / "b.png") as im:
        assert im.mode == "RGBA" and im.getpixel((28, 2))[3] == 0


def test_slug_folds_like_fluent_file_names() -> None:
    assert slug("face with tears of joy") == "face-with-tears-of-joy"
    assert slug("one o’clock") == "one-oclock"
    assert slug("piñata") == "pinata"
    assert slug("flag: Côte d’Ivoire") == "flag-cote-divoire"
    assert slug("keycap: *") == "keycap"


def test_name_table_prefers_cldr_names_and_drops_ambiguous_slugs() -> None:
    table = name_table(
        {
            "1F46F": ["people with bunny ears", "WOMAN WITH BUNNY EARS"],
            "1F46F-200D-2640": ["women with bunny ears"],
            "0023-20E3": ["keycap: #"],
            "002A-20E3": ["keycap: *"],
        }
    )
    assert table["people-with-bunny-ears"] == ("1F46F", 0)
    assert table["woman-with-bunny-ears"] == ("1F46F", 1)
    assert "keycap" not in table  # both keycaps fold to it


NAMES = {
    "1F602": ["face with tears of joy"],
    "1F44D": ["thumbs up", "THUMBS UP SIGN"],
    "1F6A5": ["horizontal traffic light"],
    "1F9DD": ["elf"],
    "1F3C4-200D-2640": ["woman surfing"],
}


def test_fluent_files_match_by_name_and_skin_variants_are_left_out(tmp_path: Path) -> None:
    folder = tmp_path / "icons" / "flat"
    for stem in [
        "face-with-tears-of-joy",
        "thumbs-up-default",
        *(f"thumbs-up-{t}" for t in ("light", "medium-light", "medium", "medium-dark", "dark")),
        "horizontal-traffic-light",  # ends in a tone's name but has no -default sibling: a base file
        "person-elf-default",  # an alias: CLDR "elf"
        "person-elf-dark",
        "woman-surfing",
        "thumbs-up-sign",  # a second file for 1F44D, matched by a non-CLDR name: loses to the CLDR one
        "sparkly-unicorn-hat",  # no emoji of that name
    ]:
        _svg(folder / f"{stem}.svg")
    index = index_fluent("fluent-flat", folder, NAMES)
    assert index.total == 13
    assert index.skin_variants == 6
    assert {k: Path(v).stem for k, v in index.files.items()} == {
        "1F602": "face-with-tears-of-joy",
        "1F44D": "thumbs-up-default",
        "1F6A5": "horizontal-traffic-light",
        "1F9DD": "person-elf-default",
        "1F3C4-200D-2640": "woman-surfing",
    }
    assert index.unmatched == ["sparkly-unicorn-hat", "thumbs-up-sign"]
    summary = index.summary()
    assert summary["unmatched"] == 2 and summary["matched_concepts"] == 5


def test_openmoji_files_match_by_hexcode(tmp_path: Path) -> None:
    root = tmp_path / "openmoji"
    rows = [
        {"hexcode": "1F602", "skintone": ""},
        {"hexcode": "263A-FE0F", "skintone": ""},  # FE0F dropped by the join key
        {"hexcode": "1F44D", "skintone": ""},
        {"hexcode": "1F44D-1F3FB", "skintone": 1},
        {"hexcode": "E000", "skintone": ""},  # an OpenMoji extra: no Unicode emoji
        {"hexcode": "1F600", "skintone": ""},  # described, but its file is missing: ignored
    ]
    (root / "data").mkdir(parents=True)
    (root / "data" / "openmoji.json").write_text(json.dumps(rows), encoding="utf-8")
    for hexcode in ["1F602", "263A-FE0F", "1F44D", "1F44D-1F3FB", "E000", "E301"]:
        _svg(root / "black" / "svg" / f"{hexcode}.svg")
    index = index_openmoji(
        "openmoji-black", root / "black" / "svg", root / "data" / "openmoji.json", ["1F602", "263A", "1F44D"]
    )
    assert index.total == 6 and index.skin_variants == 1
    assert {k: Path(v).name for k, v in index.files.items()} == {
        "1F602": "1F602.svg",
        "263A": "263A-FE0F.svg",
        "1F44D": "1F44D.svg",
    }
    assert index.unmatched == ["E000", "E301"]  # E301 is on disk but not in the metadata


def test_svg_styles_are_train_side_only() -> None:
    cfg = EmojiBuildConfig(styles=("google", "fluent-flat", "openmoji-black"))
    assert cfg.train_styles == ("google", "fluent-flat", "openmoji-black")
    assert cfg.svg_styles == ("fluent-flat", "openmoji-black")
    assert EmojiBuildConfig().svg_styles == ()
    with pytest.raises(ConfigError, match="train-only"):
        EmojiBuildConfig(heldout_style="openmoji-color")
    with pytest.raises(ConfigError, match="fluent-high-contrast"):
        EmojiBuildConfig(styles=("fluent-hc",))  # the error lists the known styles
    assert style_package("fluent-color") == "fluentui-emoji"
    assert style_package("openmoji-black") == "openmoji"


def test_incomplete_svg_package_counts_as_missing(tmp_path: Path) -> None:
    pkg = tmp_path / "node_modules" / "openmoji"
    (pkg / "color" / "svg").mkdir(parents=True)
    (pkg / "black" / "svg").mkdir(parents=True)
    (pkg / "package.json").write_text('{"version": "17.0.0"}', encoding="utf-8")
    assert installed_version("openmoji", tmp_path) is None  # data/openmoji.json is missing
    (pkg / "data").mkdir()
    (pkg / "data" / "openmoji.json").write_text("[]", encoding="utf-8")
    assert installed_version("openmoji", tmp_path) == "17.0.0"


def _catalogue(n: int = 40) -> Catalogue:
    concepts = [
        EmojiConcept(
            key=f"{0x1F600 + i:X}",
            unified=f"{0x1F600 + i:X}",
            char=chr(0x1F600 + i),
            name=f"EMOJI {i}",
            category="Smileys & Emotion",
            subcategory="face-smiling",
            sort_order=i,
            image=f"{0x1F600 + i:x}.png",
            styles=frozenset({"google", "twitter", "facebook"}),
            labels={"en": f"face {i}"},
            tags={"en": (f"mood{i % 5}",)},
        )
        for i in range(n)
    ]
    return Catalogue(concepts=concepts, languages=("en",))


def test_svg_styles_add_train_items_and_move_no_concept() -> None:
    catalogue = _catalogue()
    base, base_jobs, base_report = make_dataset(catalogue, EmojiBuildConfig(languages=("en",)))
    # the SVG style draws every other concept
    svg = {"openmoji-color": {c.key: f"/pkg/{c.key}.svg" for c in catalogue.concepts[::2]}}
    config = EmojiBuildConfig(styles=("google", "twitter", "openmoji-color"), languages=("en",))
    more, jobs, report = make_dataset(catalogue, config, None, svg)
    assert report.concept_split == base_report.concept_split
    for view in ("test", "test-seen"):  # the held-out views are untouched
        assert [it.id for it in more[view].items] == [it.id for it in base[view].items]
        assert [(q.id, q.qrels) for q in more[view].queries] == [(q.id, q.qrels) for q in base[view].queries]
    for view in ("train", "val"):
        old_ids = [it.id for it in base[view].items]
        new = [it for it in more[view].items if it.source != "openmoji-color"]
        assert [it.id for it in new] == old_ids
        drawn = {it.meta["concept"] for it in more[view].items if it.source == "openmoji-color"}
        assert drawn == {c.key for c in catalogue.concepts[::2]} & {it.meta["concept"] for it in new}
    svg_jobs = [j for j in jobs if j.source.endswith(".svg")]
    assert svg_jobs and all(j.target.startswith("images/openmoji-color/") for j in svg_jobs)
    assert {j.target for j in base_jobs} <= {j.target for j in jobs}
    item = next(it for it in more["train"].items if it.source == "openmoji-color")
    assert item.meta["licence"] == "CC-BY-SA-4.0" and item.meta["redistributable"] is True
