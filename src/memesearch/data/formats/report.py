"""Bad rows: every row a reader rejects is either an error or, with ``skip_bad``, an entry here.

A reader never drops input silently. By default the first bad row raises
:class:`~memesearch.errors.DataFormatError`; with ``skip_bad=True`` the row is skipped and recorded in a
:class:`BadRowReport` that the caller can print::

    >>> report = BadRowReport()
    >>> report.add("test.tsv", line=3, reason="label must be 0, 1 or 2, got '5'")
    >>> len(report), report.summary()
    (1, '1 bad row skipped (test.tsv: 1)')
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from memesearch.errors import DataFormatError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BadRow:
    """One skipped row: where it was (file, 1-based line and/or record key) and why it was rejected."""

    path: str
    line: int | None
    record: str | None
    reason: str

    @property
    def location(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
        if self.record is not None:
            where += f" (record {self.record})"
        return where

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


class BadRowReport:
    """The rows a reader skipped (``skip_bad=True``), in the order they were met."""

    def __init__(self) -> None:
        self._rows: list[BadRow] = []

    def add(
        self, path: str | Path, line: int | None = None, record: str | None = None, reason: str = ""
    ) -> BadRow:
        """Record a skipped row and return it."""
        row = BadRow(str(path), line, record, reason)
        self._rows.append(row)
        return row

    def add_error(self, error: DataFormatError) -> BadRow:
        """Record the row an error points at (its path, line, record and message)."""
        reason = error.reason + (f" — {error.hint}" if error.hint else "")
        return self.add(error.path or "<unknown>", error.line, error.record, reason)

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[BadRow]:
        return iter(self._rows)

    def __repr__(self) -> str:
        return f"BadRowReport({len(self._rows)} rows)"

    def summary(self) -> str:
        """One line: how many rows were skipped, per file."""
        if not self._rows:
            return "no bad rows"
        per_file = Counter(row.path for row in self._rows)
        files = ", ".join(f"{path}: {n}" for path, n in per_file.items())
        noun = "row" if len(self._rows) == 1 else "rows"
        return f"{len(self._rows)} bad {noun} skipped ({files})"


class RowErrors:
    """What a reader does with a bad row: raise it (default) or skip it into a report.

    Readers call :meth:`bad` with the error they would raise; it returns only when skipping.
    """

    def __init__(self, skip_bad: bool = False, report: BadRowReport | None = None) -> None:
        self.skip_bad = skip_bad
        self.report = report if report is not None else BadRowReport()
        self._start = len(self.report)

    def bad(self, error: DataFormatError) -> None:
        """Raise ``error``, or record it and return when skipping bad rows."""
        if not self.skip_bad:
            raise error
        row = self.report.add_error(error)
        logger.debug("skipped bad row %s", row)

    @property
    def skipped(self) -> int:
        """Rows skipped through this handler so far."""
        return len(self.report) - self._start
