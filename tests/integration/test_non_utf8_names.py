"""File names that are not UTF-8 (a POSIX name is bytes): one such name in a folder aborted the whole
`memesearch index` run with a UnicodeEncodeError from SQLite. They are indexed like any other file now,
found again on a re-run, removable by folder, and shown as valid text in JSON and over HTTP."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from memesearch.cli.main import main as cli
from memesearch.index import Index
from memesearch.index.records import display_path, path_from_db, path_to_db

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="non-UTF-8 names need a byte file system")

SURROGATE = os.fsdecode(b"\xff\xfe")  # what os.listdir gives for those bytes


@pytest.mark.parametrize(
    "path",
    [
        "/a/b.png",
        f"/a/bad{SURROGATE}.png",
        "/a/\uffff.png",
        f"/a/\uffff!{SURROGATE}\uffffff.png",
        "/\u4e2d/x",
    ],
)
def test_the_paths_table_text_round_trips_and_keeps_prefixes(path: str) -> None:
    text = path_to_db(path)
    text.encode("utf-8")  # valid text for SQLite
    assert path_from_db(text) == path
    folder = path.rsplit("/", 1)[0] + "/"
    assert text.startswith(path_to_db(folder))  # a folder's text is a prefix of its files' text
    if "\uffff" not in path and SURROGATE[0] not in path:
        assert text == path  # UTF-8 names are stored as they are: old indexes need no migration


def test_a_folder_with_names_that_are_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "stickers"
    folder.mkdir()
    raw = os.fsencode(folder)
    Image.new("RGB", (32, 32), (200, 0, 0)).save(raw + b"/ok.png")
    Image.new("RGB", (32, 32), (0, 200, 0)).save(raw + b"/bad\xff\xfe.png")
    with open(raw + b"/broken\xff.png", "wb") as fh:
        fh.write(b"not an image")
    index_dir = tmp_path / "idx"

    # exit code 1: one input (broken\xff.png) failed, the others were indexed
    assert cli(["index", str(folder), "--index", str(index_dir), "--no-ocr", "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["indexed"] == 2 and summary["items_in_index"] == 2
    (failure,) = summary["failed"]
    assert failure["reason"] == "not-media" and failure["path"].endswith("broken\ufffd.png")
    bad = os.fsdecode(raw + b"/bad\xff\xfe.png")
    with Index.open(index_dir, readonly=True) as idx:
        assert sorted(idx.all_paths()) == sorted([bad, str(folder / "ok.png")])
        entry = idx.path_entry(bad)
        assert entry is not None
        assert idx.items([entry[0]])[entry[0]].paths == [bad]  # the exact name comes back

    assert cli(["index", str(folder), "--index", str(index_dir), "--no-ocr", "--json"]) == 1  # broken again
    again = json.loads(capsys.readouterr().out)
    assert again["indexed"] == 0 and again["skipped"] == 2  # found again: unchanged, not re-indexed

    assert cli(["search", "green", "--index", str(index_dir), "-k", "2", "--json"]) == 0
    out = capsys.readouterr().out
    hits = json.loads(out)["hits"]
    shown = sorted(p for h in hits for p in h["item"]["paths"])
    assert shown == sorted([display_path(bad), str(folder / "ok.png")]) and "\ufffd" in display_path(bad)

    from fastapi.testclient import TestClient

    from memesearch.serve import ServeSettings, create_app

    with TestClient(create_app(ServeSettings(index_dir=str(index_dir)))) as client:
        resp = client.get("/api/search", params={"q": "green", "k": 2})
        assert resp.status_code == 200
        assert display_path(bad) in {p for h in resp.json()["hits"] for p in h["item"]["paths"]}

    assert cli(["remove", str(folder), "--index", str(index_dir)]) == 0
    with Index.open(index_dir, readonly=True) as idx:
        assert len(idx) == 0 and idx.all_paths() == []
