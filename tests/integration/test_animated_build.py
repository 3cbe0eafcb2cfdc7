"""``memesearch datasets build animated`` on the real npm emoji packages, a tiny build: deterministic (same
seed, same manifest and file bytes), splits as the emoji benchmark's, captions only in later frames,
graded queries. Skips only when npm is absent and the packages are missing."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from memesearch.cli.main import main
from memesearch.data.emoji.sources import default_npm_cache, ensure_packages, installed_version
from memesearch.data.emoji.splits import DEFAULT_FRACTIONS, assign_split
from memesearch.data.formats import read_dataset
from memesearch.enrich.media import decode_media

PACKAGES = [
    "emoji-datasource-google",
    "emoji-datasource-twitter",
    "emoji-datasource-facebook",
    "emojibase-data",
]
ARGS = ["--seed", "5", "--counts", "train=6,val=3,test=6,test-seen=2", "--size", "128", "--no-progress"]


@pytest.fixture(scope="module")
def npm_cache() -> Path:
    cache = default_npm_cache()
    if shutil.which("npm") is None and any(installed_version(p, cache) is None for p in PACKAGES):
        pytest.skip(f"npm is not installed and the emoji npm packages are not in {cache}: install Node.js")
    ensure_packages(PACKAGES, cache, progress=False)
    return cache


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in ("card.json", "CARD.md")  # the card holds the build time
    }


def _only_command_differs(root: Path) -> bool:
    """dataset.json records the build command, whose --out differs between the two builds."""
    a, b = (_digest(root / n) for n in ("a", "b"))
    del a["dataset.json"], b["dataset.json"]
    ja, jb = (json.loads((root / n / "dataset.json").read_text()) for n in ("a", "b"))
    for meta in (ja["meta"], jb["meta"]):
        meta["command"] = meta["command"].replace(str(root), "")
        meta["command"] = meta["command"].replace("--out /a", "--out /b")
    return a == b and ja == jb


def test_build_is_deterministic_and_follows_the_splits(tmp_path: Path, npm_cache: Path) -> None:
    for name in ("a", "b"):
        argv = ["datasets", "build", "animated", "--out", str(tmp_path / name), *ARGS, "--workers", "1"]
        assert main([*argv, "--npm-cache", str(npm_cache)]) in (0, None)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") or _only_command_differs(tmp_path)
    ds = read_dataset(tmp_path / "a")
    assert set(ds.splits) == {"train", "val", "test", "test-seen"}
    card = json.loads((tmp_path / "a" / "card.json").read_text())
    assert card["splits"]["test"]["items"] == 6
    for split in ds:
        wanted = "train" if split.name == "test-seen" else split.name
        styles = {"facebook"} if split.name.startswith("test") else {"google", "twitter"}
        for item in split.items:
            assert item.media == "gif" and item.meta["style"] in styles
            assert 2 <= len(item.meta["concepts"]) <= 3
            assert all(assign_split(k, 5, DEFAULT_FRACTIONS) == wanted for k in item.meta["concepts"])
            assert item.ocr is None  # the caption is in meta only: an index must read it from the frames
            decoded = decode_media(item.resolve_path(ds.root), max_frames=16)
            assert decoded.media == "gif" and decoded.total_frames == item.meta["frames"]
            assert decoded.frame_times == [i * 0.5 for i in range(item.meta["frames"])]
            if item.meta["text"]:
                # the caption's white strip is on the last emoji's frames only
                first_text = item.meta["text_frame"]
                assert first_text >= 2
                strips = [f.crop((0, int(f.height * 0.75), f.width, f.height)) for f in decoded.frames]
                white = [
                    min(s.convert("L").getextrema()) < 60 and max(s.convert("L").getextrema()) == 255
                    for s in strips
                ]
                assert all(white[first_text:])
        grades = {g for q in split.queries for g in q.qrels.values()}
        assert grades <= {1, 2} and 2 in grades
        by_id = {it.id: it for it in split.items}
        for q in split.queries:
            assert set(q.qrels) <= set(by_id) and set(q.meta["later_only"]) <= set(q.qrels)
        # some relevant animations show the query's emoji only after the cover
        assert any(q.meta["later_only"] for q in split.queries)
    # some animations carry a caption, and formats vary
    items = [it for split in ds for it in split.items]
    assert any(it.meta["text"] for it in items) and len({it.meta["format"] for it in items}) >= 2
