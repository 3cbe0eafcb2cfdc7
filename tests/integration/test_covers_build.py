"""End to end: ``memesearch datasets build covers`` on the real npm packages, on a subset of 24 topics.

Uses the emoji benchmark's npm packages (installed once into the user npm cache and reused); the tests
skip only when npm is absent and the packages are not there yet, or when a font is missing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from memesearch.cli.main import main
from memesearch.data.covers.config import FONTS, CoversBuildConfig
from memesearch.data.emoji.sources import default_npm_cache, ensure_packages, installed_version
from memesearch.data.formats import read_dataset
from memesearch.data.records import Dataset

PACKAGES = ["emoji-datasource-google", "emoji-datasource-twitter", "emojibase-data"]
ARGS = ["--topics", "24", "--size", "160", "--no-progress"]


@pytest.fixture(scope="session")
def npm_cache() -> Path:
    cache = default_npm_cache()
    if shutil.which("npm") is None and any(installed_version(p, cache) is None for p in PACKAGES):
        pytest.skip(f"npm is not installed and the emoji npm packages are not in {cache}: install Node.js")
    for specs in FONTS.values():
        for spec, _ in specs:
            if not spec.path().is_file():
                pytest.skip(f"font {spec.path()} missing: install the Debian package {spec.package}")
    ensure_packages(PACKAGES, cache, progress=False)
    return cache


def _build(out: Path, npm_cache: Path, *extra: str) -> Path:
    argv = ["datasets", "build", "covers", "--out", str(out), *ARGS, *extra, "--npm-cache", str(npm_cache)]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def built(npm_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("covers") / "covers", npm_cache, "--seed", "3")


@pytest.fixture(scope="module")
def ds(built: Path) -> Dataset:
    return read_dataset(built, fmt="native")


def _digests(root: Path) -> dict[str, str]:
    """Every file's digest, the card (build time) left out, the folder's own path (CBVS urls, the command
    in ``dataset.json``) replaced."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in {"card.json", "CARD.md"}:
            data = p.read_bytes().replace(root.resolve().as_uri().encode(), b"ROOT")
            data = data.replace(str(root).encode(), b"ROOT")
            out[str(p.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return out


def test_same_seed_same_bytes_other_seed_other_split(
    built: Path, npm_cache: Path, tmp_path: Path, ds: Dataset
) -> None:
    again = _build(tmp_path / "again", npm_cache, "--seed", "3")
    first, second = _digests(built), _digests(again)
    assert first == second and sum(k.endswith(".jpg") for k in first) == 24 * 6
    other = read_dataset(_build(tmp_path / "other", npm_cache, "--seed", "4"), fmt="native")
    topics = {s.name: {it.meta["topic"] for it in s.items} for s in ds}
    other_topics = {s.name: {it.meta["topic"] for it in s.items} for s in other}
    assert topics != other_topics


def test_splits_are_topic_disjoint_and_card_counts_match(built: Path, ds: Dataset) -> None:
    topics = {s.name: {it.meta["topic"] for it in s.items} for s in ds}
    assert set(topics) == {"train", "val", "test"} and all(topics.values())
    assert not (
        topics["train"] & topics["val"] or topics["train"] & topics["test"] or topics["val"] & topics["test"]
    )
    for split in ds:  # queries judge covers of their own split only
        ids = set(split.item_ids())
        assert all(set(q.qrels) <= ids for q in split.queries)
    card = json.loads((built / "card.json").read_text(encoding="utf-8"))
    assert card["protocol"] == "cbvs" and ds.meta["protocol"] == "cbvs"
    assert "--topics 24" in card["command"] and "--seed 3" in card["command"]
    assert card["splits"]["test"]["covers"] == len(ds["test"].items)


def test_share_of_covers_without_text(ds: Dataset) -> None:
    for split in ds:
        textless = [it for it in split.items if not it.meta["has_text"]]
        assert len(textless) == round(0.3 * len(split.items))
        assert all(it.ocr is None and "rendered_text" not in it.meta for it in textless)
        assert all(it.ocr for it in split.items if it.meta["has_text"])
    langs = {it.meta["text_lang"] for s in ds for it in s.items if it.meta["has_text"]}
    assert langs == {"en", "zh"}


def test_titles_say_more_than_the_cover_and_train_only_captions(ds: Dataset) -> None:
    for split in ds:
        for it in split.items:
            title = it.meta["title"]
            assert it.captions == ([title] if split.name == "train" else [])
            if it.ocr is not None:
                assert len(title) > len(it.ocr)


def test_graded_labels_of_each_query(ds: Dataset) -> None:
    for split in ds:
        assert split.queries
        items = split.item_index()
        for q in split.queries:
            assert set(q.qrels.values()) == {0, 1, 2}
            assert 5 <= len(q.qrels) <= 29
            for item_id, grade in q.qrels.items():
                meta = items[item_id].meta
                same_topic, same_genre = meta["topic"] == q.meta["topic"], meta["genre"] == q.meta["genre"]
                assert grade == (2 if same_topic and same_genre else 1 if same_topic else 0)
    assert {q.meta["lang"] for q in ds["test"].queries} == {"en", "zh"}


def test_cbvs_files_round_trip_through_the_readers(built: Path, ds: Dataset) -> None:
    for name in ("val", "test"):
        tsv = read_dataset(built / "cbvs" / f"{name}.txt", fmt="cbvs")
        split = tsv["test"]
        native = ds[name]
        assert {q.text: q.qrels for q in split.queries} == {q.text: q.qrels for q in native.queries}
        assert {it.id: Path(str(it.path)) for it in split.items} == {
            it.id: (built / str(it.path)) for it in native.items
        }
    train = read_dataset(built / "cbvs" / "train.tsv", fmt="cbvs-train")["train"]
    native_train = {(built / str(it.path)).as_uri(): it for it in ds["train"].items}
    assert len(train.items) == len(native_train)
    for it in train.items:
        twin = native_train[it.id]
        assert it.ocr == twin.ocr and it.captions == twin.captions
        assert Path(str(it.path)).is_file()
    lines = (built / "cbvs" / "train.tsv").read_text(encoding="utf-8").splitlines()
    assert sum(line.endswith("\t\\N") for line in lines) == sum(it.ocr is None for it in train.items)


def test_images_match_their_manifest(built: Path, ds: Dataset) -> None:
    for it in ds["test"].items:
        with Image.open(built / str(it.path)) as im:
            assert im.format == "JPEG" and im.mode == "RGB"
            assert im.size == (it.meta["width"], it.meta["height"]) and max(im.size) == 160


def test_evaluate_prints_cbvs_metrics_with_a_tiny_clip(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["evaluate", "--dataset", str(built), "--split", "test", "--model", "tiny-clip"]
    assert main([*argv, "--out", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    names = ("R@1", "R@5", "R@10", "MR", "PNR", "NDCG@1", "NDCG@5", "NDCG@10", "MAP")
    assert all(f" {name} " in out for name in names)
    report = json.loads((tmp_path / "m" / "metrics.json").read_text(encoding="utf-8"))
    assert report["settings"]["protocol"] == "cbvs" and report["settings"]["threshold"] == 2
    test = read_dataset(built, fmt="native")["test"]
    assert report["counts"]["candidates"] == len(test.queries) * len(test.items)  # R@K: the whole gallery
    assert report["counts"]["candidates_candidates"] < report["counts"]["candidates"]  # NDCG: its own


@pytest.mark.slow
def test_rapidocr_reads_the_drawn_text(built: Path, ds: Dataset) -> None:
    pytest.importorskip("rapidocr")
    from memesearch.enrich.ocr import OCRReader
    from memesearch.text import normalize_text

    reader = OCRReader()
    covers = [it for it in ds["train"].items if it.meta["has_text"] and it.meta["text_lang"] == "en"][:4]
    covers += [it for it in ds["train"].items if it.meta["has_text"] and it.meta["text_lang"] == "zh"][:4]
    hits = 0
    for it in covers:
        with Image.open(built / str(it.path)) as im:
            read = normalize_text(" ".join(line.text for line in reader.read(im.convert("RGB"))))
        drawn = normalize_text(str(it.ocr))
        words = [w for w in drawn.split() if len(w) >= 3] or [drawn[:2]]
        hits += any(w.replace(" ", "") in read.replace(" ", "") for w in words)
    assert hits >= len(covers) // 2, f"OCR read the drawn text on only {hits} of {len(covers)} covers"


def test_bad_options_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["datasets", "build", "covers", "--out", str(tmp_path / "c"), "--topics", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --topics must be 0 (all) or at least 3") and err.count("\n") == 1
    with pytest.raises(Exception, match="--covers-per-topic"):
        CoversBuildConfig(covers_per_topic=2, genres_per_topic=3)
