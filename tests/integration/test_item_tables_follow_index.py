"""Search's per-item tables (calibration features, emotion tags) follow the index's item log: after
additions, removals and a reused rowid they equal tables read from nothing, and an index written before
the item log existed gets one on its first writable open (a read-only view reads every item)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from memesearch.index import Index
from memesearch.ingest import add_paths
from memesearch.models import create_encoder
from memesearch.search.branches import EmotionBranch
from memesearch.search.calibration import ItemFeatureTable
from memesearch.utils.synthetic import shapes_image

CAPTIONS = ["so tired today", "", "加班 今天 好累", "happy cat", ""]


def _folder(root: Path, start: int, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["path,captions"]
    for i in range(start, start + n):
        shapes_image(500 + i, (48, 48)).save(root / f"s{i}.png")
        lines.append(f"s{i}.png,{CAPTIONS[i % len(CAPTIONS)]}")
    (root / f"list{start}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / f"list{start}.csv"


def _create(path: Path) -> Index:
    return Index.create(path, encoder=create_encoder("tiny-clip:0"), ocr=False, emotions=True)


def _tables(features: ItemFeatureTable, emotions: EmotionBranch, rowids: np.ndarray) -> list[np.ndarray]:
    _, ids, table = emotions._table()
    return [features.lookup(rowids), ids, table]


def _assert_same(followed: list[np.ndarray], fresh: list[np.ndarray]) -> None:
    for a, b in zip(followed, fresh, strict=True):
        np.testing.assert_array_equal(a, b)


def test_tables_follow_additions_removals_and_reused_rowids(tmp_path: Path) -> None:
    with _create(tmp_path / "idx") as idx:
        add_paths(idx, [_folder(tmp_path / "a", 0, 10)], workers=0)
        features, emotions = ItemFeatureTable(idx), EmotionBranch(idx)
        probe = np.arange(0, 40, dtype=np.int64)
        before = _tables(features, emotions, probe)
        assert before[1].size >= 3 and before[0][:, 2].sum() == 6  # some items tagged; 6 with captions
        add_paths(idx, [_folder(tmp_path / "b", 10, 6)], workers=0)
        gone = [str(tmp_path / "a" / f"s{i}.png") for i in (2, 5)] + [str(tmp_path / "b" / "s15.png")]
        assert idx.remove(gone) == 3  # s15 held the largest rowid: the next item gets it again
        add_paths(idx, [_folder(tmp_path / "c", 16, 2)], workers=0)
        followed = _tables(features, emotions, probe)
        fresh = _tables(ItemFeatureTable(idx), EmotionBranch(idx), probe)
        _assert_same(followed, fresh)
        live = set(idx.rowids_where().tolist())
        assert set(followed[1].tolist()) <= live and len(live) == 15
        assert not followed[0][[r for r in range(40) if r not in live]].any()  # removed: zeros


def test_an_index_from_before_the_item_log_gets_one(tmp_path: Path) -> None:
    with _create(tmp_path / "idx") as idx:
        add_paths(idx, [_folder(tmp_path / "a", 0, 8)], workers=0)
        probe = np.arange(0, 12, dtype=np.int64)
        expected = _tables(ItemFeatureTable(idx), EmotionBranch(idx), probe)
    conn = sqlite3.connect(tmp_path / "idx" / "meta.sqlite")
    conn.execute("DROP TABLE item_log")
    conn.execute("DELETE FROM kv WHERE key='item_log'")
    conn.commit()
    conn.close()
    with Index.open(tmp_path / "idx", encoder=create_encoder("tiny-clip:0"), readonly=True) as idx:
        assert idx.item_log_position() == 0
        _assert_same(_tables(ItemFeatureTable(idx), EmotionBranch(idx), probe), expected)
    with Index.open(tmp_path / "idx", encoder=create_encoder("tiny-clip:0")) as idx:
        position, changes = idx.item_changes(0)
        assert position == 8 and sorted(r for r, live in changes if live) == sorted(
            idx.rowids_where().tolist()
        )
        features, emotions = ItemFeatureTable(idx), EmotionBranch(idx)
        _assert_same(_tables(features, emotions, probe), expected)
        add_paths(idx, [_folder(tmp_path / "b", 8, 3)], workers=0)
        _assert_same(
            _tables(features, emotions, probe), _tables(ItemFeatureTable(idx), EmotionBranch(idx), probe)
        )
