"""The lexical branch follows the index's passage log: after additions and removals its scores equal a
branch built from nothing on the same index, and an index written before the log existed gets one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from memesearch.index import Index
from memesearch.ingest import add_paths
from memesearch.models import create_encoder
from memesearch.search.branches import LexicalBranch, SearchQuery
from memesearch.utils.synthetic import shapes_image

CAPTIONS = ["so tired today", "happy friday cat", "加班 今天 好累", "tired cat meme", "开心 开心", ""]
QUERIES = ["tired", "happy cat", "今天 加班", "开心", "nothing matches"]


def _folder(root: Path, start: int, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["path,captions"]
    for i in range(start, start + n):
        shapes_image(300 + i, (48, 48)).save(root / f"s{i}.png")
        caption = CAPTIONS[i % len(CAPTIONS)]
        lines.append(f"s{i}.png,{caption} {i}" if caption and i % 3 else f"s{i}.png,{caption}")
    (root / f"list{start}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / f"list{start}.csv"


def _new_index(path: Path) -> Index:
    return Index.create(path, encoder=create_encoder("tiny-clip:0"), ocr=False, emotions=False)


def _scores(branch: LexicalBranch, idx: Index) -> np.ndarray:
    rows = idx.rowids_where()
    vec = np.zeros(idx.dim, np.float32)
    return branch.score([SearchQuery(q, vec) for q in QUERIES], rows)


def test_the_branch_follows_additions_and_removals(tmp_path: Path) -> None:
    with Index.create(
        tmp_path / "idx", encoder=create_encoder("tiny-clip:0"), ocr=False, emotions=False
    ) as idx:
        add_paths(idx, [_folder(tmp_path / "a", 0, 12)], workers=0)
        live = LexicalBranch(idx)
        first = live.candidates(SearchQuery("tired", np.zeros(idx.dim, np.float32)), 50)
        assert first.size >= 2
        add_paths(idx, [_folder(tmp_path / "b", 12, 9)], workers=0)
        gone = [str(tmp_path / "a" / f"s{i}.png") for i in (1, 3, 4)]
        assert idx.remove(gone) == 3
        followed = _scores(live, idx)
        fresh = _scores(LexicalBranch(idx), idx)
        np.testing.assert_allclose(followed, fresh, rtol=0, atol=1e-9)
        assert np.isfinite(followed).any() and np.isnan(followed).any()  # "" has no text: no score
        query = SearchQuery("tired cat", np.zeros(idx.dim, np.float32))
        assert live.candidates(query, 5).tolist() == LexicalBranch(idx).candidates(query, 5).tolist()


def test_an_index_from_before_the_log_gets_one(tmp_path: Path) -> None:
    with Index.create(
        tmp_path / "idx", encoder=create_encoder("tiny-clip:0"), ocr=False, emotions=False
    ) as idx:
        add_paths(idx, [_folder(tmp_path / "a", 0, 10)], workers=0)
        expected = _scores(LexicalBranch(idx), idx)
    conn = sqlite3.connect(tmp_path / "idx" / "meta.sqlite")
    conn.execute("DROP TABLE text_log")
    conn.execute("DELETE FROM kv WHERE key='text_log'")
    conn.commit()
    conn.close()
    with Index.open(tmp_path / "idx", encoder=create_encoder("tiny-clip:0")) as idx:
        np.testing.assert_allclose(_scores(LexicalBranch(idx), idx), expected, rtol=0, atol=1e-9)
