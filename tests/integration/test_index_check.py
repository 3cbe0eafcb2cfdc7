"""``memesearch index check DIR [--repair]``: each way an index folder can be damaged is found, named in the
verdict, and repaired where that is safe; ``memesearch index PATH... --index DIR`` keeps working beside the
new operations."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from memesearch.cli.main import main as cli
from memesearch.index import Index
from memesearch.index import index as index_module
from memesearch.index.check import check_index
from memesearch.ingest import Ingestor
from memesearch.utils.synthetic import shapes_image

MODEL = "tiny-clip:0"


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    shapes_image(seed, (48, 48)).save(buf, format="PNG")
    return buf.getvalue()


def _index(root: Path, *, store: str = "faiss", folder_items: int = 6, uploads: int = 3) -> Path:
    """An index of ``folder_items`` files and ``uploads`` uploads, closed (every vector saved)."""
    folder = root / "imgs"
    folder.mkdir(parents=True)
    for i in range(folder_items):
        (folder / f"{i}.png").write_bytes(_png(i))
    idx_dir = root / "idx"
    args = ["index", str(folder), "--index", str(idx_dir), "--model", MODEL, "--no-ocr", "--no-emotions"]
    assert cli([*args, "--store", store]) == 0
    with Index.open(idx_dir) as idx:
        for i in range(uploads):
            assert Ingestor(idx).add_bytes(_png(100 + i), source="upload").indexed
    return idx_dir


def _age(path: Path, seconds: float = 3600) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def _codes(report: object) -> set[str]:
    return {f.code for f in report.findings}  # type: ignore[attr-defined]


def test_a_healthy_index_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    idx = _index(tmp_path)
    capsys.readouterr()
    assert cli(["index", "check", str(idx)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("ok: ") and "9 items" in out[0] and "3 media files" in out[0]
    assert cli(["index", "check", str(idx), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["vectors"]["image"] == 9 and report["findings"] == []


def test_not_an_index_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["index", "check", str(tmp_path / "nothing")]) == 2
    assert "not a memesearch index" in capsys.readouterr().err


def test_orphan_and_missing_media(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    idx = _index(tmp_path)
    capsys.readouterr()
    media = sorted((idx / "media").iterdir())
    assert len(media) == 3
    orphan = idx / "media" / ("ab" * 32 + ".png")  # an upload killed before its commit
    orphan.write_bytes(_png(7))
    tmp_left = idx / "media" / ".x.png.1234.tmp"  # an interrupted atomic write
    tmp_left.write_bytes(b"half")
    young = idx / "media" / ("cd" * 32 + ".png")  # may be an upload being written right now
    young.write_bytes(_png(8))
    _age(orphan)
    _age(tmp_left)
    media[0].unlink()  # an uploaded item lost its file (it has no other path)
    assert cli(["index", "check", str(idx)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("PROBLEMS: ")
    assert "2 orphan-media" in captured.out and "1 missing-media" in captured.out
    assert "--repair" in captured.out and "upload may be in flight" in captured.err
    assert "problem [orphan-media]" in captured.err

    report = check_index(idx, repair=True)
    assert not orphan.exists() and not tmp_left.exists() and young.exists()
    assert any("deleted 2 orphan" in r for r in report.repaired)
    assert any("dropped 1 item" in r for r in report.repaired)
    # the young file may be an upload in flight: a note, left alone, until it is older
    assert report.ok and any("upload may be in flight" in n for n in report.notes)
    _age(young)
    assert _codes(check_index(idx)) == {"orphan-media"}
    assert check_index(idx, repair=True).ok and not young.exists()
    with Index.open(idx) as opened:
        assert len(opened) == 8


def test_vector_file_lost_drops_only_rows_without_any_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx = _index(tmp_path, uploads=0)
    monkeypatch.setattr(index_module, "SAVE_SHARE", 0)  # small writes stay in SQLite until a save is due
    # a writer adds 4 items and is killed before saving: their vectors wait in SQLite
    opened = Index.open(idx)
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(4, opened.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    new_ids = opened.insert_vectors(vecs, save_now=False)
    opened.store.close()  # no flush: the process died here
    opened._writer.release()  # (and with it went its writer lock)
    (idx / "vectors" / "image.faiss").write_bytes(b"not a faiss index at all")
    report = check_index(idx)
    assert {"image-store-unreadable", "image-vectors-lost"} <= _codes(report)
    lost = next(f for f in report.findings if f.code == "image-vectors-lost")
    assert lost.count == 6  # the saved ones; the 4 in SQLite are not lost
    assert cli(["index", "check", str(idx)]) == 1

    repaired = check_index(idx, repair=True)
    assert repaired.ok, repaired.verdict()
    assert any("dropped 6 item(s)" in r for r in repaired.repaired)
    with Index.open(idx) as again:
        assert sorted(it for it in new_ids if again.get(it) is not None) == sorted(new_ids)
        assert len(again) == 4
        got = again.vector_scores("image", vecs, np.array([again.rowid_of(i) for i in new_ids]))
        assert np.allclose(np.diag(got), 1.0, atol=1e-5)  # the SQLite copies, exactly
    # their paths were forgotten with them: indexing the folder again brings them back
    args = ["index", str(tmp_path / "imgs"), "--index", str(idx), "--no-ocr", "--no-emotions"]
    assert cli(args) == 0
    assert check_index(idx).ok


def test_stale_vectors_and_dangling_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    idx = _index(tmp_path, uploads=0)
    monkeypatch.setattr(index_module, "SAVE_SHARE", 0)
    opened = Index.open(idx)
    first = opened.store.items_by_rowid([1])[1].id
    opened.remove([first])  # committed in SQLite; the vector files are saved later (or the process dies)
    opened.store.close()
    opened._writer.release()  # as when the process dies
    # normal between saves: a note, not a problem
    waiting = check_index(idx)
    assert waiting.ok and any("1 vector(s) of removed rows" in n for n in waiting.notes), waiting.notes
    # a store that claims the database's generation yet holds a gone row's vector is a problem
    with sqlite3.connect(idx / "meta.sqlite") as conn:
        gen = int(conn.execute("SELECT value FROM kv WHERE key='generation'").fetchone()[0])
    side = idx / "vectors" / "image.faiss.json"
    meta = json.loads(side.read_text())
    side.write_text(json.dumps({**meta, "generation": gen}))
    with sqlite3.connect(idx / "meta.sqlite") as conn:
        conn.execute("INSERT INTO paths VALUES ('/gone/file.png', 9999, 1, 1, 0)")
    report = check_index(idx)
    assert {"image-vectors-stale", "dangling-paths"} == _codes(report), report.verdict()
    repaired = check_index(idx, repair=True)
    assert repaired.ok and not repaired.notes, repaired.to_dict()
    with Index.open(idx) as again:
        assert len(again) == 5 and again.vector_count("image") == 5


def test_corrupt_database_is_reported_not_repaired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    idx = _index(tmp_path, uploads=0)
    capsys.readouterr()
    db = idx / "meta.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(db.read_bytes())
    for p in range(1, len(data) // page):  # scribble over every page but the header page
        data[p * page + 8 : p * page + 64] = b"\xa5" * 56
    db.write_bytes(bytes(data))
    assert cli(["index", "check", str(idx), "--repair"]) == 1
    out = capsys.readouterr()
    assert "database-corrupt" in out.out and "restore a backup" in out.out
    assert "nothing repaired" not in out.out  # stopped at the database, said so in the verdict


def test_milvus_lite_store(tmp_path: Path) -> None:
    pytest.importorskip("milvus_lite")
    idx = _index(tmp_path, store="milvus", uploads=1)
    assert check_index(idx).ok
    # the collection keeps a vector of a gone row (a crash between the SQLite commit and the Milvus delete)
    opened = Index.open(idx)
    with opened.store.transaction() as conn:
        conn.execute("DELETE FROM items WHERE rowid=2")
        conn.execute("DELETE FROM paths WHERE item_rowid=2")
    opened.close()
    waiting = check_index(idx)
    assert waiting.ok and any("1 vector(s) of removed rows" in n for n in waiting.notes), waiting.notes
    # its sidecar is lost: the collection is reattached, and it is a problem until repaired
    (idx / "vectors" / "image.milvus").unlink()
    report = check_index(idx)
    assert "image-store-unreadable" in _codes(report), report.verdict()
    repaired = check_index(idx, repair=True)
    assert repaired.ok and not repaired.notes, repaired.to_dict()
    with Index.open(idx) as again:
        assert again.vector_count("image") == len(again) == 6


def test_index_paths_still_work_beside_the_operations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a folder named like an operation is indexed when --index is given
    (tmp_path / "check").mkdir()
    (tmp_path / "check" / "a.png").write_bytes(_png(1))
    (tmp_path / "b.png").write_bytes(_png(2))
    monkeypatch.chdir(tmp_path)
    base = ["--model", MODEL, "--no-ocr", "--no-emotions", "--json"]
    assert cli(["index", "check", "b.png", "--index", "idx", *base]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["indexed"] == 2 and summary["items_in_index"] == 2
    assert cli(["index", "check", "idx"]) == 0
    assert capsys.readouterr().out.startswith("ok: idx: 2 items")


def test_an_index_with_regions_checks_backs_up_and_repairs(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    from memesearch.index.backup import backup_index
    from memesearch.ingest import add_paths

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        im = Image.new("RGB", (96, 96), "white")
        d = ImageDraw.Draw(im)
        d.rectangle((8, 8, 40, 40), fill=(200, 30 * i, 0))
        d.ellipse((52, 52, 90, 90), fill=(0, 30 * i, 200))
        im.save(folder / f"s{i}.png")
    idx_dir = tmp_path / "idx"
    with Index.create(idx_dir, model=MODEL, ocr=False, emotions=False, objects="auto") as idx:
        add_paths(idx, [folder], workers=0)
        regions = idx.vector_count("region")
    assert regions >= 8
    report = check_index(idx_dir)
    assert report.ok and report.vectors["region"] == regions, report.verdict()
    backup = backup_index(idx_dir, tmp_path / "bk")
    assert backup.vectors["region"] == regions and check_index(backup.out).ok
    # the region vectors are lost (file gone, SQLite copies dropped): their items are dropped by repair
    (idx_dir / "vectors" / "region.faiss").unlink()
    lost = check_index(idx_dir)
    assert {"region-store-unreadable", "region-vectors-lost"} <= _codes(lost), lost.verdict()
    assert next(f for f in lost.findings if f.code == "region-vectors-lost").count == 4
    assert check_index(idx_dir, repair=True).ok
    # the backup still has them all
    with Index.open(backup.out) as restored:
        assert len(restored) == 4 and restored.vector_count("region") == regions
