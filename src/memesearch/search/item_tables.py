"""Per-item tables that search keeps over an index, followed through the index's item log.

Calibration features and emotion tags are needed for every candidate of every query, so search holds
them as dense arrays sorted by rowid. Re-reading every item after each write stalled the first search
after an upload for seconds at 1,000,000 items; a :class:`FollowedItemTable` reads every item once, then
after a write only the items the item log says were written or removed since
(:meth:`memesearch.index.index.Index.item_changes`). A *lazy* table reads nothing up front: it reads the
rows of the rowids it is asked about, once, and forgets those a write touched (calibration features: a
query only ever looks at its candidates, so the first search after opening a 1M-item index need not read
1M rows).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: reads the rows of the given rowids (None: of every item) -> (rowids, (n, width) rows); a rowid that is
#: no longer in the index (or has nothing to show) is simply absent
RowReader = Callable[[Sequence[int] | None], tuple[np.ndarray, np.ndarray]]


class FollowedItemTable:
    """``(rowids, rows)`` of an index, sorted by rowid, brought up to date when its generation changes."""

    def __init__(
        self, index: Any, read: RowReader, width: int, dtype: Any = np.float64, *, lazy: bool = False
    ) -> None:
        self.index = index
        self._read = read
        self.lazy = lazy
        self._known: set[int] = set()  # lazy: rowids read (present in the table or known to be absent)
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._position = 0
        self._ids = np.zeros(0, np.int64)
        self._rows = np.zeros((0, width), dtype=dtype)

    def current(self) -> tuple[np.ndarray, np.ndarray]:
        """The table as of the index's current generation (reads only what changed since the last call;
        a lazy table holds only the rowids looked up so far)."""
        with self._lock:
            return self._sync()

    def _sync(self) -> tuple[np.ndarray, np.ndarray]:
        gen = self.index.generation  # read first: a write committed after it is caught next time
        if self._generation is None:
            position = self.index.item_log_position()
            if not self.lazy:
                ids, rows = self._read(None)
                self._replace(np.zeros(0, np.int64), ids, rows)
            self._position = position
        elif gen != self._generation:
            position, changes = self.index.item_changes(self._position)
            if changes:
                touched = np.unique(np.fromiter((r for r, _ in changes), np.int64, len(changes)))
                if self.lazy:  # forget them: read again when asked
                    self._known.difference_update(touched.tolist())
                    self._replace(touched, np.zeros(0, np.int64), np.zeros((0, self._rows.shape[1])))
                else:
                    ids, rows = self._read(touched.tolist())  # their state now: removed items are absent
                    self._replace(touched, ids, rows)
            self._position = position
        self._generation = gen
        return self._ids, self._rows

    def _read_missing(self, rowids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            ids, rows = self._sync()
            missing = [r for r in np.unique(rowids).tolist() if r not in self._known]
            if missing:
                got_ids, got_rows = self._read(missing)
                self._replace(np.zeros(0, np.int64), got_ids, got_rows)
                self._known.update(missing)
                ids, rows = self._ids, self._rows
            return ids, rows

    def lookup(self, rowids: np.ndarray, fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """``(found mask, (len(rowids), width) rows)``; rows of rowids not in the table are ``fill``."""
        rowids = np.asarray(rowids, np.int64)
        ids, rows = self._read_missing(rowids) if self.lazy else self.current()
        out = np.full((rowids.size, rows.shape[1]), fill, dtype=rows.dtype)
        found = np.zeros(rowids.size, bool)
        if ids.size and rowids.size:
            pos = np.clip(np.searchsorted(ids, rowids), 0, ids.size - 1)
            found = ids[pos] == rowids
            out[found] = rows[pos[found]]
        return found, out

    def _replace(self, touched: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
        """Drop the rows of ``touched`` (sorted rowids), add ``(ids, rows)``; keep the table sorted (a
        plain append when the new rowids come after every kept one: the usual case of a write)."""
        ids = np.asarray(ids, np.int64)
        new_rows = np.asarray(rows, self._rows.dtype).reshape(-1, self._rows.shape[1])
        kept_ids, kept_rows = self._ids, self._rows
        if touched.size and kept_ids.size:
            pos = np.clip(np.searchsorted(kept_ids, touched), 0, kept_ids.size - 1)
            hit = pos[kept_ids[pos] == touched]
            if hit.size:
                keep = np.ones(kept_ids.size, bool)
                keep[hit] = False
                kept_ids, kept_rows = kept_ids[keep], kept_rows[keep]
        order = np.argsort(ids, kind="stable")
        ids, new_rows = ids[order], new_rows[order]
        self._ids = np.concatenate([kept_ids, ids])
        self._rows = np.concatenate([kept_rows, new_rows])
        if kept_ids.size and ids.size and ids[0] <= kept_ids[-1]:  # a reused or earlier rowid: re-sort
            order = np.argsort(self._ids, kind="stable")
            self._ids, self._rows = self._ids[order], self._rows[order]
