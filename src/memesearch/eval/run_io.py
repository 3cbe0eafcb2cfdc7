"""Run and qrels files: readers, writers and format detection.

Run file formats (``fmt``):

- ``cbvs``: ``label<TAB>query<TAB>docid<TAB>score`` (SPEC §4.3; the query text is the query id);
- ``trec``: ``qid Q0 docid rank score tag`` (whitespace separated; the rank column is ignored on read,
  rows keep their file order);
- ``jsonl``: one object per line, ``{"query_id", "item_id", "score"}`` plus an optional integer
  ``"label"``.

Qrels (``{query_id: {item_id: grade}}``, integer grades, 0 = not relevant) come from a TREC qrels file
(``qid 0 docid grade``), a native queries JSONL file (``{"id", "text", "qrels"}``, SPEC §4.1) or a native
dataset folder and one of its splits; see :func:`read_qrels`. The in-memory :class:`Run` type lives in
:mod:`memesearch.eval.run`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from memesearch.errors import DataFormatError
from memesearch.eval.run import Run, as_grade
from memesearch.utils.io import loads_json

log = logging.getLogger(__name__)

RunFormat = Literal["cbvs", "trec", "jsonl"]
RUN_FORMATS: tuple[str, ...] = ("cbvs", "trec", "jsonl")

_CBVS_HINT = "each line of a CBVS run is: label<TAB>query<TAB>docid<TAB>score (label an integer >= 0)"
_TREC_HINT = "each line of a TREC run is: qid Q0 docid rank score tag (6 fields separated by whitespace)"
_JSONL_HINT = (
    'each line is a JSON object like {"query_id": "q1", "item_id": "img7", "score": 0.83, "label": 1}'
)
_QRELS_HINT = "each line of a TREC qrels file is: qid 0 docid grade (grade an integer >= 0)"


def _parse_int(text: str) -> int:
    """An integer grade written as ``2`` or ``2.0``; raises ValueError otherwise."""
    try:
        return int(text)
    except ValueError:
        f = float(text)
        if not f.is_integer():
            raise
        return int(f)


def _parse_score(text: str) -> float:
    value = float(text)
    if math.isnan(value):
        raise ValueError("NaN")
    return value


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    """(1-based line number, line without its newline) for each non-blank line."""
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.rstrip("\r\n")
                if line.strip():
                    yield lineno, line
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path, hint="save the file as UTF-8"
        ) from None


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise DataFormatError(f"{what} file not found", path=path, hint="check the path")
    if path.is_dir():
        raise DataFormatError(f"expected a {what} file, got a folder", path=path)


def read_run(path: str | Path, fmt: str = "cbvs") -> Run:
    """Read a run file in ``fmt`` (``cbvs``, ``trec`` or ``jsonl``; see the module docstring).

    Every row is kept, in file order. A malformed row raises :class:`DataFormatError` with the file
    and line number; nothing is skipped silently.
    """
    path = Path(path)
    if fmt not in RUN_FORMATS:
        raise DataFormatError(
            f"unknown run format {fmt!r}", path=path, hint=f"use one of {', '.join(RUN_FORMATS)}"
        )
    _check_file(path, "run")
    qids: list[str] = []
    iids: list[str] = []
    scores: list[float] = []
    labels: list[int] = []
    has_label: bool | None = None
    for lineno, line in _lines(path):
        if fmt == "cbvs":
            parts = line.split("\t")
            if len(parts) != 4:
                raise DataFormatError(
                    f"expected 4 tab-separated fields, got {len(parts)}",
                    path=path,
                    line=lineno,
                    hint=_CBVS_HINT,
                )
            lab_s, q, d, s = parts
            try:
                lab = _parse_int(lab_s)
                if lab < 0:
                    raise ValueError
            except ValueError:
                raise DataFormatError(
                    f"label {lab_s!r} is not an integer >= 0", path=path, line=lineno, hint=_CBVS_HINT
                ) from None
            if not q or not d:
                raise DataFormatError("empty query or docid", path=path, line=lineno, hint=_CBVS_HINT)
            label: int | None = lab
        elif fmt == "trec":
            parts = line.split()
            if len(parts) != 6:
                raise DataFormatError(
                    f"expected 6 whitespace-separated fields, got {len(parts)}",
                    path=path,
                    line=lineno,
                    hint=_TREC_HINT,
                )
            q, _q0, d, _rank, s, _tag = parts
            label = None
        else:
            q, d, s, label = _parse_jsonl_row(line, path, lineno)
        try:
            score = _parse_score(s) if isinstance(s, str) else float(s)
            if math.isnan(score):
                raise ValueError
        except (TypeError, ValueError):
            raise DataFormatError(
                f"score {s!r} is not a number",
                path=path,
                line=lineno,
                hint={"cbvs": _CBVS_HINT, "trec": _TREC_HINT}.get(fmt, _JSONL_HINT),
            ) from None
        if has_label is None:
            has_label = label is not None
        elif has_label != (label is not None):
            raise DataFormatError(
                "some rows have a label and others do not",
                path=path,
                line=lineno,
                hint="give every row a label or none",
            )
        qids.append(q)
        iids.append(d)
        scores.append(score)
        if label is not None:
            labels.append(label)
    if not qids:
        raise DataFormatError("the run file has no rows", path=path)
    run = Run(
        query_ids=qids,
        item_ids=iids,
        scores=np.asarray(scores, dtype=np.float64),
        labels=np.asarray(labels, dtype=np.int64) if has_label else None,
    )
    dup = run.duplicate_rows()
    if dup:
        log.info(
            "%s: %d rows repeat an earlier (query, item) pair; each row is kept as a candidate", path, dup
        )
    return run


def _parse_jsonl_row(line: str, path: Path, lineno: int) -> tuple[str, str, Any, int | None]:
    try:
        obj = loads_json(line)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"invalid JSON ({exc.msg})", path=path, line=lineno, hint=_JSONL_HINT) from None
    if not isinstance(obj, dict):
        raise DataFormatError(
            f"expected a JSON object, got {type(obj).__name__}", path=path, line=lineno, hint=_JSONL_HINT
        )
    missing = [k for k in ("query_id", "item_id", "score") if k not in obj]
    if missing:
        raise DataFormatError(
            f"missing key(s) {', '.join(missing)}", path=path, line=lineno, hint=_JSONL_HINT
        )
    q, d, s = obj["query_id"], obj["item_id"], obj["score"]
    if (
        not isinstance(q, str | int)
        or not isinstance(d, str | int)
        or isinstance(q, bool)
        or isinstance(d, bool)
    ):
        raise DataFormatError(
            "query_id and item_id must be strings", path=path, line=lineno, hint=_JSONL_HINT
        )
    if isinstance(s, bool) or not isinstance(s, int | float):
        raise DataFormatError(f"score {s!r} is not a number", path=path, line=lineno, hint=_JSONL_HINT)
    label: int | None = None
    if obj.get("label") is not None:
        try:
            label = as_grade(obj["label"], "label")
        except ValueError:
            raise DataFormatError(
                f"label {obj['label']!r} is not an integer >= 0", path=path, line=lineno, hint=_JSONL_HINT
            ) from None
    return str(q), str(d), s, label


def write_run(run: Run, path: str | Path, fmt: str = "jsonl") -> Path:
    """Write ``run`` to ``path`` in ``fmt`` so that :func:`read_run` gives back an equal run.

    Scores are written with ``repr`` (exact round trip). ``cbvs`` needs labels; ``trec`` needs ids
    without whitespace and writes each row's rank within its query (in row order) and the tag
    ``memesearch``.
    """
    path = Path(path)
    if fmt not in RUN_FORMATS:
        raise ValueError(f"unknown run format {fmt!r}; use one of {', '.join(RUN_FORMATS)}")
    if fmt == "cbvs" and run.labels is None:
        raise ValueError("the cbvs run format needs a label per row; this run has none (use trec or jsonl)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    rank_in_query: dict[str, int] = {}
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for i, (q, d) in enumerate(zip(run.query_ids, run.item_ids, strict=True)):
            score = repr(float(run.scores[i]))
            if fmt == "cbvs":
                assert run.labels is not None
                for field, name in ((q, "query"), (d, "docid")):
                    if any(c in field for c in "\t\r\n") or not field:
                        raise ValueError(
                            f"row {i}: {name} {field!r} is empty or holds a tab/newline; cbvs cannot store it"
                        )
                fh.write(f"{int(run.labels[i])}\t{q}\t{d}\t{score}\n")
            elif fmt == "trec":
                for field, name in ((q, "query id"), (d, "item id")):
                    if not field or any(c.isspace() for c in field):
                        raise ValueError(
                            f"row {i}: {name} {field!r} is empty or holds whitespace; trec cannot store it"
                        )
                rank_in_query[q] = rank_in_query.get(q, 0) + 1
                fh.write(f"{q} Q0 {d} {rank_in_query[q]} {score} memesearch\n")
            else:
                obj: dict[str, Any] = {"query_id": q, "item_id": d, "score": float(run.scores[i])}
                if run.labels is not None:
                    obj["label"] = int(run.labels[i])
                fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def detect_run_format(path: str | Path) -> str:
    """Guess a run file's format from its first non-blank line (``cbvs``, ``trec`` or ``jsonl``)."""
    path = Path(path)
    _check_file(path, "run")
    for lineno, line in _lines(path):
        if line.lstrip().startswith("{"):
            return "jsonl"
        tabs = line.split("\t")
        if len(tabs) == 4:
            return "cbvs"
        if len(line.split()) == 6:
            return "trec"
        raise DataFormatError(
            "cannot tell the run format from this line",
            path=path,
            line=lineno,
            hint="pass --format cbvs|trec|jsonl",
        )
    raise DataFormatError("the run file has no rows", path=path)


def read_qrels(path: str | Path, *, split: str = "test") -> dict[str, dict[str, int]]:
    """Read graded relevance judgements as ``{query_id: {item_id: grade}}``.

    ``path`` may be:

    - a TREC qrels file, ``qid 0 docid grade`` per line;
    - a native queries JSONL file (lines ``{"id", "text", "qrels": {item_id: grade}}``, SPEC §4.1);
    - a native dataset folder, whose split ``split`` provides the queries.

    Grades are integers >= 0. A malformed line raises :class:`DataFormatError` with file and line.
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError("qrels file or dataset folder not found", path=path, hint="check the path")
    if path.is_dir():
        from memesearch.data.formats import read_dataset

        dataset = read_dataset(path)
        try:
            return dataset[split].qrels()
        except KeyError as exc:
            raise DataFormatError(str(exc.args[0]), path=path, hint="pick a split with --split") from None
    first = next(iter(_lines(path)), None)
    if first is None:
        raise DataFormatError("the qrels file is empty", path=path)
    if first[1].lstrip().startswith("{"):
        from memesearch.data.formats.native import read_queries

        return {q.id: dict(q.qrels) for q in read_queries(path)}
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in _lines(path):
        parts = line.split()
        if len(parts) != 4:
            raise DataFormatError(
                f"expected 4 whitespace-separated fields, got {len(parts)}",
                path=path,
                line=lineno,
                hint=_QRELS_HINT,
            )
        q, _iter, d, g = parts
        try:
            grade = _parse_int(g)
            if grade < 0:
                raise ValueError
        except ValueError:
            raise DataFormatError(
                f"grade {g!r} is not an integer >= 0", path=path, line=lineno, hint=_QRELS_HINT
            ) from None
        judged = qrels.setdefault(q, {})
        if d in judged and judged[d] != grade:
            raise DataFormatError(
                f"query {q!r} judges item {d!r} twice, with grades {judged[d]} and {grade}",
                path=path,
                line=lineno,
            )
        judged[d] = grade
    return qrels


def write_qrels(qrels: dict[str, dict[str, int]], path: str | Path) -> Path:
    """Write qrels as a TREC qrels file (``qid 0 docid grade``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for q, judged in qrels.items():
            for d, g in judged.items():
                if not q or not d or any(c.isspace() for c in q + d):
                    raise ValueError(
                        f"query {q!r} / item {d!r}: ids in TREC qrels cannot be empty or hold whitespace"
                    )
                fh.write(f"{q} 0 {d} {int(g)}\n")
    return path
