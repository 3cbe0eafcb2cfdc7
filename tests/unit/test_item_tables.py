"""FollowedItemTable on a stand-in log: it reads every item once, then only the rowids the log names."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memesearch.search.item_tables import FollowedItemTable


class LoggedRows:
    """An in-memory index with an item log: rowid -> value, every write appended to the log."""

    def __init__(self) -> None:
        self.values: dict[int, float] = {}
        self.log: list[tuple[int, bool]] = []
        self.generation = 0
        self.reads: list[list[int] | None] = []

    def write(self, rowid: int, value: float) -> None:
        self.values[rowid] = value
        self.log.append((rowid, True))
        self.generation += 1

    def remove(self, rowid: int) -> None:
        del self.values[rowid]
        self.log.append((rowid, False))
        self.generation += 1

    def item_log_position(self) -> int:
        return len(self.log)

    def item_changes(self, after: int) -> tuple[int, list[tuple[int, bool]]]:
        return len(self.log), self.log[after:]

    def read(self, rowids: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray]:
        self.reads.append(None if rowids is None else list(rowids))
        keys = sorted(self.values) if rowids is None else [r for r in rowids if r in self.values]
        return np.array(keys, np.int64), np.array([[self.values[k]] for k in keys])


def test_reads_everything_once_then_only_changes() -> None:
    src = LoggedRows()
    for r in range(1, 6):
        src.write(r, float(r))
    table = FollowedItemTable(src, src.read, 1)
    ids, rows = table.current()
    assert ids.tolist() == [1, 2, 3, 4, 5] and rows[:, 0].tolist() == [1, 2, 3, 4, 5]
    table.current()
    assert src.reads == [None]  # unchanged generation: nothing read again
    src.write(6, 6.0)
    src.remove(2)
    src.remove(6)
    src.write(6, 60.0)  # a reused rowid with a new value
    src.write(3, 30.0)  # rewritten in place
    ids, rows = table.current()
    assert src.reads[1] == [2, 3, 6]
    assert ids.tolist() == [1, 3, 4, 5, 6] and rows[:, 0].tolist() == [1, 30, 4, 5, 60]
    found, got = table.lookup(np.array([6, 2, 1, 99]), fill=-1.0)
    assert found.tolist() == [True, False, True, False] and got[:, 0].tolist() == [60, -1, 1, -1]


def test_a_lazy_table_reads_only_what_is_looked_up_and_forgets_what_changed() -> None:
    src = LoggedRows()
    for r in range(1, 6):
        src.write(r, float(r))
    table = FollowedItemTable(src, src.read, 1, lazy=True)
    assert table.current()[0].size == 0 and src.reads == []  # nothing read up front
    found, got = table.lookup(np.array([4, 2, 99]), fill=-1.0)
    assert src.reads == [[2, 4, 99]]
    assert found.tolist() == [True, True, False] and got[:, 0].tolist() == [4, 2, -1]
    table.lookup(np.array([2, 99, 4]))
    assert len(src.reads) == 1  # seen before, absent ones included: not read again
    src.write(4, 40.0)
    src.remove(2)
    src.write(99, 9.0)  # a rowid once absent, now written
    found, got = table.lookup(np.array([4, 2, 99, 1]), fill=-1.0)
    assert src.reads[1] == [1, 2, 4, 99]  # the changed ones again, the new one first time
    assert found.tolist() == [True, False, True, True] and got[:, 0].tolist() == [40, -1, 9, 1]
    table.lookup(np.array([1, 4]))
    assert len(src.reads) == 2
