"""Emotions from pixels end to end: the training script reproduces the shipped head, and a plain folder of
text-less emoji images indexed with the defaults gets image emotion tags that ``--emotion`` finds."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_script_reproduces_the_shipped_head(emoji_benchmark: Path, tmp_path: Path) -> None:
    from memesearch.models.starter.emotion_head import CONFIG_FILE, WEIGHTS_FILE, head_dir

    script = load_script("train_emotion_head")
    out = tmp_path / "head"
    assert (
        script.main(
            ["--dataset", str(emoji_benchmark), "--out", str(out), "--cache", str(tmp_path / "c.npz")]
        )
        == 0
    )
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        assert (out / name).read_bytes() == (head_dir() / name).read_bytes(), name


def test_text_less_folder_gets_image_emotions_and_the_filter_finds_them(
    emoji_benchmark: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from memesearch.cli.main import main as cli
    from memesearch.data.formats import read_dataset
    from memesearch.index import Index
    from memesearch.models import create_encoder
    from memesearch.models.starter.emotion_head import head_for_encoder, image_features

    # held-out-style (facebook) emoji the shipped head tags "love", and some it leaves untagged
    ds = read_dataset(emoji_benchmark)
    paths = [it.resolve_path(ds.root) for it in ds["test-seen"].items]
    encoder = create_encoder("starter", device="cpu")
    head = head_for_encoder(encoder)
    assert head is not None and "love" in head.active
    tags = head.tag(image_features(encoder, paths))
    love = [p for p, t in zip(paths, tags, strict=True) if any(e == "love" for e, _ in t)][:4]
    untagged = [p for p, t in zip(paths, tags, strict=True) if not t][:4]
    assert len(love) == 4 and len(untagged) == 4
    folder = tmp_path / "stickers"
    folder.mkdir()
    for p in [*love, *untagged]:
        shutil.copy(p, folder / p.name)  # a plain folder: no captions, no emotions, no manifest

    index_dir = tmp_path / "idx"
    # the defaults (starter, OCR on) with the head turned on; without it a text-less sticker gets no tag
    assert cli(["index", str(folder), "--index", str(tmp_path / "off")]) == 0
    with Index.open(tmp_path / "off") as index:
        rowids = sorted({entry[0] for p in index.all_paths() if (entry := index.path_entry(p)) is not None})
        assert not any(it.emotions and not it.ocr_text for it in index.items(rowids).values())
    assert cli(["index", str(folder), "--index", str(index_dir), "--image-emotions"]) == 0
    with Index.open(index_dir) as index:
        rowids = sorted({entry[0] for p in index.all_paths() if (entry := index.path_entry(p)) is not None})
        items = {Path(it.paths[0]).name: it for it in index.items(rowids).values()}
    assert len(items) == 8
    text_less = {name for name, it in items.items() if not it.ocr_text}
    expected = {p.name for p in love} & text_less
    assert expected, "the OCR read text on every tagged sticker; pick other images"
    for name in expected:
        assert "love" in [e for e, _ in items[name].emotions]
        assert items[name].meta.get("emotion_source") == "image"
    for name in {p.name for p in untagged} & text_less:
        assert not items[name].emotions

    capsys.readouterr()
    assert (
        cli(
            [
                "search",
                "heart",
                "--index",
                str(index_dir),
                "--emotion",
                "love",
                "--json",
                "-k",
                "20",
                "--explain",
            ]
        )
        == 0
    )
    response = json.loads(capsys.readouterr().out)
    found = {Path(h["item"]["paths"][0]).name for h in response["hits"]}
    assert expected <= found
    assert found <= {name for name, it in items.items() if "love" in [e for e, _ in it.emotions]}
    # the filter in Chinese finds the same stickers, and the reasons say where the emotion came from
    capsys.readouterr()
    assert cli(["search", "爱心", "--index", str(index_dir), "--emotion", "爱", "--json", "-k", "20"]) == 0
    response_zh = json.loads(capsys.readouterr().out)
    assert {Path(h["item"]["paths"][0]).name for h in response_zh["hits"]} == found
    reasons = [r for h in response["hits"] for r in h.get("why", [])]
    assert any(r.startswith("emotion from the picture") for r in reasons)
    # the soft emotion branch scores them too (no filter): a love query gives the tagged stickers an
    # emotion score above the untagged ones'
    capsys.readouterr()
    assert cli(["search", "in love", "--index", str(index_dir), "--json", "-k", "20"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    emotion_score = {Path(h["item"]["paths"][0]).name: h["scores"].get("emotion", 0.0) for h in hits}
    tagged = [emotion_score[n] for n in expected if n in emotion_score]
    others = [s for n, s in emotion_score.items() if n in text_less and n not in expected]
    assert tagged and others and min(tagged) > max(others)
