"""Best-frame scoring (pure) and the per-frame vector rows of an index (SQLite)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from memesearch.errors import ConfigError
from memesearch.index import frame_rows
from memesearch.index.config import IndexConfig
from memesearch.search.frames import best_frame_scores, describe_frame


def _unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, np.float32)
    return a / np.linalg.norm(a)


def test_a_gif_whose_later_frame_matches_outranks_one_that_never_does() -> None:
    query = _unit([1, 0, 0])[None, :]
    later = np.stack([_unit([0, 1, 0]), _unit([0, 0, 1]), _unit([1, 0.1, 0])])  # the match is frame 3
    never = np.stack([_unit([0.8, 1, 0]), _unit([0.8, 0, 1]), _unit([0.8, 1, 1])])  # a bit of it everywhere
    mean = np.stack([_unit(list(later.mean(0))), _unit(list(never.mean(0)))])
    base = query @ mean.T
    assert base[0, 1] > base[0, 0]  # by the mean, the one that never shows it wins
    frames = {
        10: frame_rows.ItemFrames(later, [0, 100, 200]),
        11: frame_rows.ItemFrames(never, [0, 100, 200]),
    }
    scores, best = best_frame_scores(base, query, np.array([10, 11]), frames)
    assert scores[0, 0] > scores[0, 1] and best[0, 0] == 2
    assert scores[0, 0] == pytest.approx(float(later[2] @ query[0]))
    # an item without frames (a still image) keeps its score, and no frame index
    scores, best = best_frame_scores(base, query, np.array([10, 99]), frames)
    assert scores[0, 1] == base[0, 1] and best[0, 1] == -1


def test_describe_frame() -> None:
    assert describe_frame({"index": 2, "frames": 4, "time_ms": 1200}) == "frame 3/4 at 1.20 s"
    assert describe_frame({"index": 0, "frames": 3, "time_ms": None}) == "frame 1/3"
    assert describe_frame(None) == ""


def test_frame_rows_round_trip_and_delete() -> None:
    conn = sqlite3.connect(":memory:")
    assert frame_rows.frames_of(conn, [1], 3) == {}  # no table yet (an index from before)
    conn.executescript(frame_rows.SCHEMA)
    vecs = np.stack([_unit([1, 0, 0]), _unit([0, 1, 0])])
    frame_rows.insert(conn, 1, vecs, [0.0, 0.25])
    frame_rows.insert(conn, 2, vecs[:1], None)  # one frame: nothing kept (the item vector is it)
    frame_rows.insert(conn, 3, vecs, None)
    got = frame_rows.frames_of(conn, [1, 2, 3], 3)
    assert set(got) == {1, 3} and got[1].times_ms == [0, 250] and got[3].times_ms == [None, None]
    np.testing.assert_array_equal(got[1].vectors, vecs)
    assert frame_rows.count(conn) == 2
    frame_rows.delete(conn, [1])
    assert set(frame_rows.frames_of(conn, [1, 3], 3)) == {3}
    with pytest.raises(ValueError):
        frame_rows.insert(conn, 4, vecs, [0.0])


def test_frame_pooling_setting() -> None:
    assert IndexConfig().frame_pooling == "best"
    assert IndexConfig.from_dict({"frame_pooling": "mean"}).frame_pooling == "mean"
    with pytest.raises(ConfigError, match="frame_pooling"):
        IndexConfig(frame_pooling="max")
