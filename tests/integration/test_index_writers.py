"""One writer per index: a second writable open — in this process, from `memesearch index` — is refused at
once with a message naming the writer, readers are not, nothing is corrupted; `memesearch serve` started
while another process writes serves the index read-only (searches follow the writer, uploads answer 409
naming it); and a writable open removes the media files no row references (uploads cut off by a crash)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from memesearch.index import Index
from memesearch.index.recovery import orphan_media
from memesearch.index.writer_lock import IndexBusyError
from memesearch.ingest import add_bytes, add_paths
from memesearch.serve.load import png_bytes, start_server
from memesearch.utils.synthetic import shapes_image

TOKEN = "writers-token-0123456789"


def _folder(root: Path, n: int, start: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        shapes_image(i, (48, 48)).save(root / f"{i:03d}.png")
    return root


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memesearch", *args], capture_output=True, text=True, timeout=timeout
    )


def _assert_whole(root: Path) -> int:
    """Every item has its image vector and a readable file; no unreferenced upload. Returns the count."""
    with Index.open(root, readonly=True) as idx:
        ids, _ = idx.all_vectors("image")
        rowids = np.array(sorted(idx.items(ids.tolist())), dtype=np.int64)
        assert len(idx) == len(ids) == rowids.size
        for item in idx.items(ids.tolist()).values():
            path = idx.media_path(item.id)
            assert path is not None and path.is_file(), item.id
        assert orphan_media(root, idx.store) == []
        return len(idx)


@pytest.fixture
def small_index(tmp_path: Path) -> Path:
    root = tmp_path / "idx"
    with Index.create(root, model="tiny-clip:0", ocr=False, batch_size=4) as idx:
        add_paths(idx, [_folder(tmp_path / "first", 6)], workers=0)
    return root


def test_second_writer_in_process_is_refused_and_readers_are_not(small_index: Path) -> None:
    with Index.open(small_index) as writer:
        with pytest.raises(IndexBusyError) as err:
            Index.open(small_index)
        message = str(err.value)
        assert f"process {os.getpid()}" in message and "one writer at a time" in message
        assert "memesearch search" in message  # says that reads still work
        with Index.open(small_index, readonly=True) as reader:  # readers never wait for the lock
            assert len(reader) == 6
        add_bytes(writer, png_bytes(1), source="upload")
    with Index.open(small_index) as again:  # the lock went with close()
        assert len(again) == 7
    assert _assert_whole(small_index) == 7


def test_writable_open_removes_unreferenced_media_only(small_index: Path) -> None:
    with Index.open(small_index) as idx:
        kept = add_bytes(idx, png_bytes(2), source="upload").indexed[0]
    media = small_index / "media"
    stored = sorted(p.name for p in media.iterdir())
    assert len(stored) == 1
    # what a kill -9 leaves: a file whose row never came, a temporary file of a write cut short
    data = png_bytes(3)
    orphan = media / f"{hashlib.sha256(data).hexdigest()}.png"
    orphan.write_bytes(data)
    partial = media / f".{orphan.name}.x1y2.tmp"
    partial.write_bytes(data[:10])
    with Index.open(small_index, readonly=True) as reader:  # a reader only looks
        assert orphan_media(small_index, reader.store) == [partial, orphan]
    assert orphan.exists() and partial.exists()
    with Index.open(small_index) as idx:
        assert idx.get(kept) is not None
    assert sorted(p.name for p in media.iterdir()) == stored
    assert _assert_whole(small_index) == 7


@pytest.mark.slow
def test_cli_and_server_writing_one_index_are_serialised(small_index: Path, tmp_path: Path) -> None:
    more = _folder(tmp_path / "more", 4, start=100)
    server = start_server(small_index, token=TOKEN)
    try:
        # the server holds the lock: `memesearch index` is refused with one clear line, exit code 2
        run = _cli("index", str(more), "--index", str(small_index), "--workers", "0")
        assert run.returncode == 2, run.stderr
        lines = [line for line in run.stderr.strip().splitlines() if line]
        assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
        assert f"process {server.proc.pid}" in lines[0] and "serve" in lines[0], lines[0]
        assert "upload API" in lines[0]
        # the server still writes
        assert _post(f"{server.url}/api/items", png_bytes(4), TOKEN)[0] == 201
    finally:
        assert server.stop() == 0
    # a writer in another process holds the lock: `memesearch serve` starts read-only and says so; its
    # searches follow the other writer, its uploads answer 409 naming the writer
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(small_index)],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "holding"
        reader = start_server(small_index, token=TOKEN)
        try:
            warning = next(line for line in reader.output if line.startswith("warning:"))
            assert f"open for writing by process {holder.pid}" in warning and "read-only" in warning
            refused = _post(f"{reader.url}/api/items", png_bytes(5), TOKEN)
            assert refused[0] == 409 and refused[1]["error"]["code"] == "index-busy", refused
            assert f"process {holder.pid}" in refused[1]["error"]["message"]
            ready = json.loads(urllib.request.urlopen(f"{reader.url}/api/ready", timeout=60).read())
            assert ready["writes_enabled"] is False
            holder.stdin.write("add\n")
            holder.stdin.flush()
            added = holder.stdout.readline().strip()
            found = _post(f"{reader.url}/api/search/image?k=1", png_bytes(6), None)
            assert found[0] == 200 and found[1]["hits"][0]["id"] == added, found
        finally:
            assert reader.stop() == 0
        # the search command only reads: it works while the writer holds the lock
        searched = _cli("search", "red shapes", "--index", str(small_index), "--json")
        assert searched.returncode == 0, searched.stderr
    finally:
        holder.communicate("\n", timeout=120)
    # serialised, not lost: once the server is gone the CLI writes
    run = _cli("index", str(more), "--index", str(small_index), "--workers", "0")
    assert run.returncode == 0, run.stderr
    assert _assert_whole(small_index) == 6 + 1 + 1 + 4


_HOLD = """
import sys
from memesearch.index import Index
from memesearch.ingest import add_bytes
from memesearch.serve.load import png_bytes
with Index.open(sys.argv[1]) as idx:
    print("holding", flush=True)
    while sys.stdin.readline().strip() == "add":
        print(add_bytes(idx, png_bytes(6)).indexed[0], flush=True)
"""


def _post(url: str, data: bytes, token: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "image/png"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_busy_message_without_holder_record(tmp_path: Path) -> None:
    from memesearch.index.writer_lock import busy_message

    text = busy_message(tmp_path, None)
    assert "another process" in text and "one writer at a time" in text
    assert io.StringIO(text).read().count("\n") == 0


def test_check_repair_takes_the_writer_lock(small_index: Path) -> None:
    from memesearch.index.check import check_index

    with Index.open(small_index):
        assert check_index(small_index).ok  # the check alone only reads
        with pytest.raises(IndexBusyError, match="one writer at a time"):
            check_index(small_index, repair=True)
    assert check_index(small_index, repair=True).ok  # the lock went with the writer
