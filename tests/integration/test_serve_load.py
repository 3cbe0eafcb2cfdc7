"""A real `memesearch serve` (child process, 127.0.0.1) under load and under `kill -9`.

* load: concurrent clients mixing text and image searches, uploads and deletes for a few seconds — no
  error, and afterwards every upload kept is there with its file, every deleted one is gone (the full
  20 clients x 60 s version is ``bench/bench_load.py``);
* crash: the server is killed with SIGKILL while uploads are in flight, then restarted — every upload it
  had acknowledged (2xx) is there, no item lacks its file or vector, no media file lacks its item.
"""

from __future__ import annotations

import http.client
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from memesearch.index import Index
from memesearch.index.recovery import orphan_media
from memesearch.ingest import add_paths
from memesearch.serve.load import check_after, run_load, start_server, upload_until_killed
from memesearch.utils.synthetic import shapes_image

pytestmark = pytest.mark.slow

TOKEN = "load-token-0123456789"


def _seed_index(root: Path, folder: Path, n: int = 20) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        shapes_image(i, (48, 48)).save(folder / f"{i:03d}.png")
    with Index.create(root, model="tiny-clip:0", ocr=False) as idx:
        add_paths(idx, [folder], workers=0)
    return root


def _whole(root: Path) -> tuple[int, set[str]]:
    """Check the index at rest: every item has its image vector and its file, every media file its item.
    Returns the item count and the ids of the uploaded items."""
    with Index.open(root, readonly=True) as idx:
        ids, _ = idx.all_vectors("image")
        items = idx.items(ids.tolist())
        assert len(idx) == ids.size == len(items), (len(idx), ids.size, len(items))
        uploads = set()
        for item in items.values():
            path = idx.media_path(item.id)
            assert path is not None and path.is_file(), f"item {item.id} has no file"
            if item.source == "upload":
                uploads.add(item.id)
        assert orphan_media(root, idx.store) == []
        return len(idx), uploads


def test_short_load_has_no_errors_and_leaves_a_consistent_index(tmp_path: Path) -> None:
    root = _seed_index(tmp_path / "idx", tmp_path / "seed")
    server = start_server(root, token=TOKEN)
    try:
        report = run_load(server.url, token=TOKEN, clients=5, seconds=8.0, seed=1)
        summary = report.to_dict()
        print({op: (s["count"], s["p50_ms"], s["p99_ms"]) for op, s in summary["ops"].items()})
        assert report.errors == 0, report.error_samples
        for op, stats in report.ops.items():
            assert stats.latencies_ms, f"no {op} ran"
        assert check_after(server.url, report) == []
    finally:
        assert server.stop() == 0, "\n".join(server.output[-20:])
    count, uploads = _whole(root)
    assert count == 20 + len(report.kept)
    assert uploads == set(report.kept)
    assert uploads.isdisjoint(report.deleted)


def test_kill_9_during_uploads_loses_no_acknowledged_upload(tmp_path: Path) -> None:
    root = _seed_index(tmp_path / "idx", tmp_path / "seed", n=8)
    server = start_server(root, token=TOKEN)
    acked, failures = upload_until_killed(server, token=TOKEN, clients=4, acks=12)
    assert server.proc.returncode == -9
    assert failures == []
    seen = set(acked)
    # what the crash left on disk, before any recovery (a read-only look changes nothing)
    with Index.open(root, readonly=True) as idx:
        leftover = len(orphan_media(root, idx.store))
    print(f"{len(seen)} uploads acknowledged before kill -9; {leftover} unreferenced media file(s) left")

    restarted = start_server(root, token=TOKEN)
    try:
        parts = urllib.parse.urlsplit(restarted.url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=60)
        for item_id in sorted(seen):
            for path in (f"/api/items/{item_id}", f"/api/items/{item_id}/image"):
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 200, f"acknowledged upload {item_id}: GET {path} -> {resp.status}"
        conn.close()
    finally:
        assert restarted.stop() == 0
    count, uploads = _whole(root)
    assert seen <= uploads  # every acknowledged upload is there (one in flight may be there too)
    assert count == 8 + len(uploads)
    assert np.all([len(i) == 16 for i in uploads])
