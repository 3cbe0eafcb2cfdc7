"""The emoji benchmark's join, views, graded queries and image writing, on a small synthetic package tree.

The real npm packages are exercised by tests/integration/test_emoji_build.py; here the files are
written in the packages' own layout so that every rule can be checked on known data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from memesearch.data.emoji.assemble import make_dataset
from memesearch.data.emoji.catalogue import join_key, load_catalogue
from memesearch.data.emoji.config import EmojiBuildConfig
from memesearch.data.emoji.images import ImageJob, write_image, write_images
from memesearch.data.emoji.sources import NpmUnavailableError, ensure_packages, installed_version
from memesearch.data.records import Dataset
from memesearch.errors import ConfigError, DataFormatError

N_FACES = 60


def _entry(
    unified: str, category: str, subcategory: str, order: int, facebook: bool = True
) -> dict[str, Any]:
    return {
        "name": f"EMOJI {unified}",
        "unified": unified,
        "image": unified.lower() + ".png",
        "category": category,
        "subcategory": subcategory,
        "sort_order": order,
        "has_img_google": True,
        "has_img_twitter": True,
        "has_img_facebook": facebook,
        "has_img_apple": True,
        "skin_variations": {"1F3FB": {"unified": unified + "-1F3FB", "image": "x.png"}},
    }


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake npm cache: emoji.json with 60 faces + 3 special entries, emojibase en/zh."""
    root = tmp_path_factory.mktemp("npm") / "node_modules"
    entries = [
        _entry(f"{0x1F600 + i:X}", "Smileys & Emotion", "face-smiling", i, facebook=i % 10 != 3)
        for i in range(N_FACES)
    ]
    entries.append(_entry("263A-FE0F", "Smileys & Emotion", "face-affection", 100))  # FE0F in unified only
    entries.append(_entry("1F415", "Animals & Nature", "animal-mammal", 101))
    entries.append(_entry("1F3FB", "Component", "skin-tone", 102))
    for style in ("google", "twitter", "facebook"):
        pkg = root / f"emoji-datasource-{style}"
        (pkg / "img" / style / "64").mkdir(parents=True)
        (pkg / "emoji.json").write_text(json.dumps(entries), encoding="utf-8")
        (pkg / "package.json").write_text(
            json.dumps({"name": pkg.name, "version": "16.0.0"}), encoding="utf-8"
        )
    en, zh = [], []
    for e in entries:
        hexcode = e["unified"].replace("-FE0F", "")
        n = int(hexcode, 16) - 0x1F600
        en.append(
            {
                "hexcode": hexcode,
                "label": "smile" if hexcode == "1F415" else f"face {n}",  # a name that is also generic
                "tags": ["face", "smile", f"mood{n % 7}", f"face {n + 1}"],
            }
        )
        zh.append({"hexcode": hexcode, "label": f"脸{n}", "tags": ["脸", f"心情{n % 7}"]})
    text = root / "emojibase-data"
    for lang, rows in (("en", en), ("zh", zh)):
        (text / lang).mkdir(parents=True)
        (text / lang / "data.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (text / "package.json").write_text(
        json.dumps({"name": "emojibase-data", "version": "17.0.0"}), encoding="utf-8"
    )
    return root


def _build(packages: Path, **kwargs: Any) -> tuple[Dataset, Any, Any]:
    catalogue = load_catalogue(
        packages / "emoji-datasource-google" / "emoji.json", packages / "emojibase-data"
    )
    config = EmojiBuildConfig(**{"max_keyword_concepts": 40, **kwargs})
    return make_dataset(catalogue, config)


def test_join_key() -> None:
    assert join_key("263a-fe0f") == "263A"
    assert join_key("1F3F3-FE0F-200D-1F308") == "1F3F3-200D-1F308"
    assert join_key("0023-FE0F-20E3") == "0023-20E3"


def test_catalogue_joins_without_fe0f_and_drops_components(packages: Path) -> None:
    catalogue = load_catalogue(
        packages / "emoji-datasource-google" / "emoji.json", packages / "emojibase-data"
    )
    keys = [c.key for c in catalogue.concepts]
    assert "263A" in keys and "1F3FB" not in keys
    assert catalogue.skipped_categories == {"Component": 1}
    smile = next(c for c in catalogue.concepts if c.key == "263A")
    assert smile.char == "\u263a\ufe0f" and smile.labels["zh"].startswith("脸")
    # skin-tone variants are not concepts
    assert all("1F3FB" not in k for k in keys)


def test_unknown_locale_lists_the_available_ones(packages: Path) -> None:
    with pytest.raises(DataFormatError, match="available locales: en, zh"):
        load_catalogue(
            packages / "emoji-datasource-google" / "emoji.json", packages / "emojibase-data", ["xx"]
        )


def test_views_separate_concepts_and_styles(packages: Path) -> None:
    ds, _, report = _build(packages)
    concepts = {name: {it.meta["concept"] for it in ds[name].items} for name in ds.split_names}
    assert not concepts["train"] & concepts["val"]
    assert not concepts["train"] & concepts["test"]
    assert not concepts["val"] & concepts["test"]
    assert concepts["test-seen"] <= concepts["train"]
    assert {it.source for it in ds["train"].items} | {it.source for it in ds["val"].items} <= {
        "google",
        "twitter",
    }
    assert (
        {it.source for it in ds["test"].items} == {it.source for it in ds["test-seen"].items} == {"facebook"}
    )
    # concepts lacking a facebook image are reported, not silently dropped
    no_fb = {k for keys in report.no_heldout_image.values() for k in keys}
    assert no_fb == {f"{0x1F600 + i:X}" for i in range(N_FACES) if i % 10 == 3} & set(report.concept_split)


def test_val_heldout_view_draws_the_val_concepts_in_the_val_style(packages: Path) -> None:
    plain, _, _ = _build(packages)
    ds, _, _ = _build(packages, val_style="apple")
    assert "val-heldout" not in plain.split_names
    assert ds.split_names == [*plain.split_names, "val-heldout"]
    # the other views are exactly the default build's
    for name in plain.split_names:
        assert ds[name].item_ids() == plain[name].item_ids()
        assert [q.id for q in ds[name].queries] == [q.id for q in plain[name].queries]
    view = ds["val-heldout"]
    assert {it.source for it in view.items} == {"apple"}
    assert {it.meta["concept"] for it in view.items} == {it.meta["concept"] for it in plain["val"].items}
    relevant = {item for q in view.queries for item, grade in q.qrels.items() if grade > 0}
    assert relevant and relevant <= set(view.item_ids())


def test_val_style_must_be_unused_elsewhere() -> None:
    assert EmojiBuildConfig(val_style="apple").all_styles == ("google", "twitter", "facebook", "apple")
    for bad in ("facebook", "google", "fluent-flat", "noto"):
        with pytest.raises(ConfigError, match="--val-style"):
            EmojiBuildConfig(val_style=bad)


def test_every_query_has_a_relevant_item_in_its_view(packages: Path) -> None:
    ds, _, _ = _build(packages)
    for split in ds:
        ids = set(split.item_ids())
        assert split.queries
        for q in split.queries:
            assert q.relevant(), q
            assert set(q.qrels) <= ids


def test_grades_are_max_over_roles_and_generic_keywords_are_dropped(packages: Path) -> None:
    ds, _, report = _build(packages)
    train = ds["train"]
    by_text = {(q.meta["lang"], q.text): q for q in train.queries}
    item_concept = {it.id: it.meta["concept"] for it in train.items}
    concepts = {it.meta["concept"] for it in train.items}
    # "face N" is the name of emoji N (grade 2) and a keyword of emoji N-1 (grade 1)
    for key in concepts:
        n = int(key, 16) - 0x1F600
        if not 0 < n < N_FACES:
            continue
        q = by_text[("en", f"face {n}")]
        assert q.meta["kind"] == "name"
        grades = {item_concept[i]: g for i, g in q.qrels.items()}
        assert grades[key] == 2
        if f"{0x1F600 + n - 1:X}" in concepts:
            assert grades[f"{0x1F600 + n - 1:X}"] == 1
    # "face"/"脸"/"smile" tag every emoji (> 40): dropped; "moodK" tags about 9: kept, as keyword queries
    dropped = {(d["lang"], d["text"]) for d in report.dropped_generic}
    assert dropped == {("en", "face"), ("en", "smile"), ("zh", "脸")}
    assert not dropped & set(by_text)
    assert {d["text"]: d["name_of"] for d in report.dropped_generic}["smile"] == "1F415"
    assert all(q.text != "smile" for split in ds for q in split.queries)
    mood = [q for (lang, text), q in by_text.items() if text.startswith("mood")]
    assert mood and all(q.meta["kind"] == "keyword" and set(q.qrels.values()) == {1} for q in mood)
    # one query per unique (language, text); both styles of a concept carry its grade
    assert len(by_text) == len(train.queries)
    q = by_text[("zh", "心情1")]
    assert len(q.qrels) == 2 * q.meta["concepts"]


def test_keep_all_keywords(packages: Path) -> None:
    ds, _, report = _build(packages, max_keyword_concepts=0)
    assert report.dropped_generic == []
    face = next(q for q in ds["train"].queries if q.text == "face")
    assert len(face.qrels) == len(ds["train"].items)


def test_items_carry_oracle_captions_and_emotions(packages: Path) -> None:
    ds, jobs, _ = _build(packages)
    items = {it.id: it for split in ds for it in split.items}
    smile = next(it for it in items.values() if it.meta["concept"] == "263A")
    assert smile.captions == [f"face {0x263A - 0x1F600}", f"脸{0x263A - 0x1F600}"]
    assert smile.meta["caption_kind"] == "oracle" and smile.meta["oracle_captions"] is True
    assert smile.emotions == ["happy"] and smile.meta["emotions_zh"] == ["开心"]  # 263A override
    assert smile.path == f"images/{smile.source}/263a.png"
    dog = [it for it in items.values() if it.meta["concept"] == "1F415"]
    assert all(it.emotions == [] for it in dog)
    # one image job per written image, named like the item path
    assert sorted(j.target for j in jobs) == sorted({it.path for it in items.values() if it.path})


def test_limit_keeps_every_split(packages: Path) -> None:
    _, _, report = _build(packages, limit=12)
    assert len(report.concept_split) == 12
    assert set(report.concept_split.values()) == {"train", "val", "test"}
    full = _build(packages)[2].concept_split
    assert all(full[k] == v for k, v in report.concept_split.items())


def test_heldout_style_is_removed_from_train_styles() -> None:
    cfg = EmojiBuildConfig(styles=("google", "twitter", "facebook"), heldout_style="facebook")
    assert cfg.train_styles == ("google", "twitter")
    with pytest.raises(ConfigError, match="no train style left"):
        EmojiBuildConfig(styles=("facebook",), heldout_style="facebook")
    with pytest.raises(ConfigError, match="unknown emoji style 'noto'"):
        EmojiBuildConfig(styles=("noto",))
    with pytest.raises(ConfigError, match="--size"):
        EmojiBuildConfig(size=100)


def _junk_rgba(path: Path) -> None:
    # A red disc on a transparent background whose hidden colour (alpha 0) is green, as in the packages.
    im = Image.new("RGBA", (64, 64), (0, 255, 0, 0))
    for x in range(20, 44):
        for y in range(20, 44):
            im.putpixel((x, y), (255, 0, 0, 255))
    im.save(path)


def test_write_image_composites_on_white(tmp_path: Path) -> None:
    _junk_rgba(tmp_path / "src.png")
    write_image(ImageJob(str(tmp_path / "src.png"), "out/a.png", 64, "white"), str(tmp_path))
    with Image.open(tmp_path / "out" / "a.png") as im:
        assert im.mode == "RGB" and im.size == (64, 64)
        assert im.getpixel((0, 0)) == (255, 255, 255)
        assert im.getpixel((30, 30)) == (255, 0, 0)


def test_write_image_resizes_and_keeps_alpha(tmp_path: Path) -> None:
    _junk_rgba(tmp_path / "src.png")
    write_image(ImageJob(str(tmp_path / "src.png"), "b.png", 256, "transparent"), str(tmp_path))
    with Image.open(tmp_path / "b.png") as im:
        assert im.mode == "RGBA" and im.size == (256, 256)
        assert im.getpixel((0, 0))[3] == 0
        r, g, _, a = im.getpixel((80, 82))  # just inside the disc's edge: no green bleeding in
        assert a > 0 and g <= 2 and r > 200


def test_write_images_pool_matches_serial(tmp_path: Path) -> None:
    _junk_rgba(tmp_path / "src.png")
    jobs = [ImageJob(str(tmp_path / "src.png"), f"p/{i}.png", 32, "white") for i in range(300)]
    write_images(jobs, tmp_path / "pool", workers=2)
    write_images(jobs[:3], tmp_path / "serial", workers=1)
    for i in range(3):
        assert (tmp_path / "pool" / f"p/{i}.png").read_bytes() == (
            tmp_path / "serial" / f"p/{i}.png"
        ).read_bytes()
    assert len(list((tmp_path / "pool" / "p").iterdir())) == 300


def test_missing_source_image_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="source images are missing"):
        write_images([ImageJob(str(tmp_path / "nope.png"), "x.png", 64, "white")], tmp_path)


def test_npm_missing_gives_one_clear_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(NpmUnavailableError) as info:
        ensure_packages(["emojibase-data"], tmp_path / "cache", progress=False)
    message = str(info.value)
    assert (
        "npm was not found" in message
        and "npm install --prefix" in message
        and "emojibase-data@17.0.0" in message
    )
    assert "\n" not in message


def test_installed_packages_are_used_without_npm(packages: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    found = ensure_packages(["emoji-datasource-google", "emojibase-data"], packages.parent, progress=False)
    assert found["emojibase-data"] == packages / "emojibase-data"
    assert installed_version("emoji-datasource-facebook", packages.parent) == "16.0.0"


def test_incomplete_package_counts_as_missing(tmp_path: Path) -> None:
    pkg = tmp_path / "node_modules" / "emoji-datasource-google"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text('{"version": "16.0.0"}', encoding="utf-8")
    assert installed_version("emoji-datasource-google", tmp_path) is None
