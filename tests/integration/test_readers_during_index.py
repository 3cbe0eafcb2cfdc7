"""Searches while `memesearch index` writes: reader processes search in a loop the whole time the writer
runs, and every hit they get is a complete item (its record, its file, its image vector) — none fails.

Two kinds of reader run at once, each in its own process: one opens the index afresh for every search
(what `memesearch search` does), one keeps a single read-only :class:`Searcher` open throughout (what a
long-lived reader does; it follows the writes through the change logs).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from memesearch.index import Index
from memesearch.ingest import add_paths
from memesearch.utils.synthetic import shapes_image

pytestmark = pytest.mark.slow

WORDS = ["tired", "happy", "monday", "pizza", "cat", "dog", "coffee", "night", "angry", "party"]

READER = r"""
import json, sys, time, traceback
from pathlib import Path
import numpy as np
from memesearch.index import Index
from memesearch.search import Searcher
from memesearch.utils.synthetic import shapes_image

root, mode, stop = sys.argv[1], sys.argv[2], Path(sys.argv[3])
words = sys.argv[4].split(",")
stats = {"searches": 0, "hits": 0, "bad": [], "errors": [], "items_seen": []}
long_lived = Searcher(Index.open(root, readonly=True)) if mode == "long" else None
print("ready", flush=True)


def check(searcher, response, query_vec):
    idx = searcher.index
    for hit in response.hits:
        stats["hits"] += 1
        item = hit.item
        problems = []
        if item is None or item.id != hit.id or not item.sha256 or item.width <= 0:
            problems.append("record")
        if idx.get(hit.id) is None:
            problems.append("row")
        path = idx.media_path(hit.id)
        if path is None or not Path(path).is_file():
            problems.append("media")
        rowid = idx.rowid_of(hit.id)
        if rowid is None or np.isnan(idx.vector_scores("image", query_vec, np.array([rowid]))).any():
            problems.append("image vector")
        if problems:
            stats["bad"].append(f"{hit.id}: no {', '.join(problems)}")


i = 0
while not stop.exists() or i < 3:
    i += 1
    try:
        searcher = long_lived or Searcher(Index.open(root, readonly=True))
        try:
            q = f"{words[i % len(words)]} {words[(i * 7) % len(words)]}"
            response = searcher.search(q, k=10)
            check(searcher, response, searcher.index.encoder.encode_text([q])[0])
            image = shapes_image(1000 + i, (48, 48))
            response = searcher.search_image(image, k=10)
            check(searcher, response, searcher.index.encoder.encode_image([image])[0])
            stats["searches"] += 2
            stats["items_seen"].append(len(searcher.index))
        finally:
            if long_lived is None:
                searcher.index.close()
    except Exception:
        stats["errors"].append(traceback.format_exc()[-800:])
if long_lived is not None:
    long_lived.index.close()
print(json.dumps(stats), flush=True)
"""


def _corpus(folder: Path, start: int, n: int) -> Path:
    """``n`` images with a caption each (text and lexical branches get something) and their manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(start, start + n):
        name = f"{i:03d}.png"
        shapes_image(i, (48, 48)).save(folder / name)
        caption = f"{WORDS[i % len(WORDS)]} {WORDS[(i // 3) % len(WORDS)]} meme {i}"
        lines.append(json.dumps({"path": name, "captions": [caption]}))
    manifest = folder / "list.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def test_readers_only_see_whole_items_while_the_cli_indexes(tmp_path: Path) -> None:
    root = tmp_path / "idx"
    with Index.create(root, model="tiny-clip:0", ocr=False, batch_size=2) as idx:
        add_paths(idx, [_corpus(tmp_path / "first", 0, 6)], workers=0)
    manifest = _corpus(tmp_path / "more", 100, 60)
    stop = tmp_path / "stop"
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(root), mode, str(stop), ",".join(WORDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in ("fresh", "long")
    ]
    try:
        for r in readers:
            assert r.stdout is not None and r.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        writer = subprocess.run(
            [
                sys.executable,
                "-m",
                "memesearch",
                "index",
                str(manifest),
                "--index",
                str(root),
                "--workers",
                "0",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        write_s = time.monotonic() - t0
        assert writer.returncode == 0, writer.stderr
    finally:
        stop.touch()
    results = []
    for r in readers:
        out, err = r.communicate(timeout=300)
        assert r.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    for mode, stats in zip(("fresh", "long"), results, strict=True):
        print(
            f"{mode} reader: {stats['searches']} searches, {stats['hits']} hits checked during a "
            f"{write_s:.0f} s write; items seen {min(stats['items_seen'])}..{max(stats['items_seen'])}"
        )
        assert stats["errors"] == [], f"{mode}: {stats['errors'][:3]}"
        assert stats["bad"] == [], f"{mode}: {stats['bad'][:10]}"
        assert stats["searches"] >= 6 and stats["hits"] > 0
    # the readers ran while the index grew (they overlapped the writes, not only before or after them)
    seen = sorted({n for stats in results for n in stats["items_seen"]})
    assert len(seen) >= 3 and seen[0] < 66 and seen[-1] > 6, seen
    with Index.open(root, readonly=True) as idx:
        assert len(idx) == 66
        ids, _ = idx.all_vectors("image")
        assert np.array_equal(np.sort(ids), np.sort(np.array(list(idx.items(ids.tolist())), dtype=np.int64)))
