"""``memesearch index backup DIR OUT``: taken while another process keeps adding and removing items, every
backup is an index that passes ``index check`` and holds one consistent state of the writer (whole batches,
a contiguous run of them, each vector exactly as written); a milvus-lite index backs up too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from memesearch.cli.main import main as cli
from memesearch.index import Index
from memesearch.index.backup import backup_index
from memesearch.index.check import check_index

MODEL = "tiny-clip:0"
BATCH = 5

# Adds batch s (BATCH vectors drawn from seed s, source "b<s>"), saving the vector stores after every other
# batch, and removes the oldest batch after every third: any state it passes through is a contiguous run
# of whole batches. Writes the number of batches done to LOG after each step; stops when STOP exists.
WRITER = """
import os, sys, time
from pathlib import Path
import numpy as np
from memesearch.index import Index

root, stop, log = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
idx = Index.open(root)
batches = {}
s = 0
while not stop.exists():
    rng = np.random.default_rng(s)
    v = rng.normal(size=(BATCH_SIZE, idx.dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    batches[s] = idx.insert_vectors(v, source=f"b{s}", save_now=s % 2 == 0)
    if s % 3 == 2:
        idx.remove(batches.pop(min(batches)))
    s += 1
    tmp = log.with_suffix(".tmp")
    tmp.write_text(str(s))
    os.replace(tmp, log)  # atomic: the test never reads a half-written count
idx.close()
""".replace("BATCH_SIZE", str(BATCH))


def _expected(s: int, dim: int) -> np.ndarray:
    rng = np.random.default_rng(s)
    v = rng.normal(size=(BATCH, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _steps(log: Path) -> int:
    try:
        return int(log.read_text() or 0)
    except (OSError, ValueError):
        return 0


def _assert_one_writer_state(backup: Path) -> tuple[int, int]:
    """The backup holds batches lo..hi, each whole, each vector as written; returns (lo, hi)."""
    with Index.open(backup) as idx:
        rowids, vecs = idx.all_vectors("image")
        by_row = dict(zip(rowids.tolist(), range(rowids.size), strict=True))
        items = idx.items(rowids.tolist())
        assert len(items) == len(idx) == rowids.size
        per: dict[int, list[int]] = defaultdict(list)
        for rowid, item in items.items():
            per[int(str(item.source)[1:])].append(rowid)
        if not per:
            return 0, -1
        lo, hi = min(per), max(per)
        assert sorted(per) == list(range(lo, hi + 1)), f"not a contiguous run of batches: {sorted(per)}"
        for s, rows in per.items():
            assert len(rows) == BATCH, f"batch {s} is cut: {len(rows)} of {BATCH} items"
            got = vecs[[by_row[r] for r in sorted(rows)]]
            assert np.array_equal(got, _expected(s, idx.dim)), f"batch {s}: vectors differ"
    return lo, hi


def test_backups_while_another_process_writes(tmp_path: Path) -> None:
    src = tmp_path / "idx"
    Index.create(src, model=MODEL).close()
    stop, log = tmp_path / "stop", tmp_path / "log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(src), str(stop), str(log)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while _steps(log) < 4:
            assert writer.poll() is None, writer.communicate()[1]
            assert time.monotonic() < deadline, "the writer did not start"
            time.sleep(0.05)
        states = []
        during = 0
        for k in range(4):
            before = _steps(log)
            report = backup_index(src, tmp_path / f"backup{k}")
            during += _steps(log) - before
            assert check_index(report.out).ok
            states.append(_assert_one_writer_state(report.out))
            assert report.items == (states[-1][1] - states[-1][0] + 1) * BATCH
    finally:
        stop.touch()
        _, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert during > 0, "the writer made no step while the backups ran: the test proved nothing"
    assert [hi for _, hi in states] == sorted(hi for _, hi in states)  # later backups, later states
    assert check_index(src).ok


def test_a_save_between_vector_copy_and_snapshot_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ordering rule itself: a writer that saves and drops the SQLite copies after the vector files were
    read but before the database snapshot would leave the backup without those vectors; it is retried."""
    from memesearch.index import backup as backup_module

    src = tmp_path / "idx"
    with Index.create(src, model=MODEL) as idx:
        idx.insert_vectors(_expected(0, idx.dim), source="b0")
    real = backup_module.snapshot_database
    calls: list[int] = []

    def writer_saves_in_between(db: Path, dst: Path) -> None:
        if not calls:
            with Index.open(src) as idx:
                idx.insert_vectors(_expected(1, idx.dim), source="b1")  # saved, SQLite copies dropped
        calls.append(1)
        real(db, dst)

    monkeypatch.setattr(backup_module, "snapshot_database", writer_saves_in_between)
    report = backup_index(src, tmp_path / "bk")
    assert report.attempts == 2 and "saved after the copy" in report.notes[0], report.notes
    assert _assert_one_writer_state(report.out) == (0, 1)


def test_backup_cli_and_milvus_lite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("milvus_lite")
    from memesearch.utils.synthetic import shapes_image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(5):
        shapes_image(i, (48, 48)).save(folder / f"{i}.png")
    src = tmp_path / "idx"
    args = ["index", str(folder), "--index", str(src), "--model", MODEL, "--no-ocr", "--no-emotions"]
    assert cli([*args, "--store", "milvus"]) == 0
    with Index.open(src) as idx:
        from memesearch.ingest import Ingestor

        assert Ingestor(idx).add_bytes((folder / "0.png").read_bytes(), source="upload").existing
        shapes_image(99, (48, 48)).save(tmp_path / "up.png")
        assert Ingestor(idx).add_bytes((tmp_path / "up.png").read_bytes(), source="upload").indexed
    capsys.readouterr()
    out = tmp_path / "bk"
    assert cli(["index", "backup", str(src), str(out)]) == 0
    line = capsys.readouterr().out
    assert line.startswith("backed up 6 items") and "1 uploads" in line, line
    assert (out / "vectors" / "milvus.db").exists() and len(list((out / "media").iterdir())) == 1
    assert check_index(out).ok
    hits = []
    for root in (src, out):
        assert cli(["search", "a red circle", "--index", str(root), "--json", "-k", "6"]) == 0
        hits.append([(h["id"], round(h["score"], 5)) for h in json.loads(capsys.readouterr().out)["hits"]])
    assert hits[0] == hits[1] and len(hits[0]) == 6
    assert cli(["index", "backup", str(src), str(out)]) == 2  # OUT is taken
    assert "not an empty folder" in capsys.readouterr().err


def test_a_damaged_source_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "idx"
    with Index.create(src, model=MODEL) as idx:
        idx.insert_vectors(_expected(0, idx.dim), source="b0")
    (src / "vectors" / "image.faiss").write_bytes(b"garbage")
    assert cli(["index", "backup", str(src), str(tmp_path / "bk")]) == 2
    assert "memesearch index check" in capsys.readouterr().err
    assert not (tmp_path / "bk").exists() and not list(tmp_path.glob(".bk.*"))
