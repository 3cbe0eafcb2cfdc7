"""What one ingest run reports: the files that failed and why, counts, and the time of each stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from memesearch.errors import printable


@dataclass
class IngestFailure:
    """A file that could not be indexed and why (``reason`` is a short code, ``message`` for people)."""

    path: str
    reason: str
    message: str

    def __post_init__(self) -> None:
        # one line, whatever the file name holds (newlines, RTL overrides, undecodable bytes)
        self.message = printable(self.message)

    def to_dict(self) -> dict[str, Any]:
        from memesearch.index.records import display_path

        return {**asdict(self), "path": display_path(self.path)}  # valid text for JSON


@dataclass
class IngestSummary:
    """What one ``index``/``add`` run did."""

    indexed: list[str] = field(default_factory=list)  # ids of new or updated items
    skipped: int = 0  # unchanged files already in the index
    duplicates: int = 0  # files whose bytes equal an already indexed item (path recorded on it)
    near_duplicates: int = 0  # new items whose perceptual hash matches an existing item
    removed: int = 0  # paths that vanished and were removed (only with ``prune``)
    failed: list[IngestFailure] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # notes for people (e.g. "the folder is empty")
    existing: list[str] = field(default_factory=list)  # ids of already indexed items an upload matched
    seconds: float = 0.0
    stages: dict[str, dict[str, float]] = field(default_factory=dict)  # per stage: seconds, items, items/s
    engine: dict[str, Any] = field(default_factory=dict)  # where prepare/enrich/embed ran (engines.Engine)

    def to_dict(self) -> dict[str, Any]:
        return {
            "indexed": len(self.indexed),
            "ids": list(self.indexed),
            "skipped": self.skipped,
            "duplicates": self.duplicates,
            "near_duplicates": self.near_duplicates,
            "removed": self.removed,
            "failed": [f.to_dict() for f in self.failed],
            "messages": list(self.messages),
            "existing": list(self.existing),
            "seconds": round(self.seconds, 3),
            "stages": {k: dict(v) for k, v in self.stages.items()},
            "engine": dict(self.engine),
        }
