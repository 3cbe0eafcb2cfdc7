"""Run ``memesearch index`` as a real subprocess over the hostile corpus and count what happened.

:func:`run_media_corpus` indexes a good set first, then the hostile folder (and the inputs given directly),
then checks every good item is still there and still found by its own picture. It returns figures per
category: inputs tried, indexed, failures reported, inputs unaccounted for, crashes (a Python traceback or
an unexpected exit code), hangs (the run passed its time limit) and good items lost.

:func:`run_dataset_rows` gives each malformed dataset file to the command that reads it (``memesearch index``
for lists and manifest folders, ``memesearch datasets validate`` for every format) and counts answers that
are not one readable error line.

Both are used by ``tests/hostile/test_hostile_inputs.py`` and by ``scripts/report_hostile_inputs.py``
(which writes ``docs/results/hostile_inputs.json``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import memesearch
from memesearch.index.records import display_path

from .corpus import Case, Corpus, build_good_set, build_media_corpus
from .dataset_rows import RowCase, build_dataset_rows

TRACEBACK = "Traceback (most recent call last)"


@dataclass
class Run:
    """One finished (or stopped) CLI process."""

    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    hung: bool

    @property
    def crashed(self) -> bool:
        return TRACEBACK in self.stdout or TRACEBACK in self.stderr

    def summary(self) -> dict[str, Any]:
        return json.loads(self.stdout) if self.stdout.strip().startswith("{") else {}


def cli(args: list[str], *, timeout: float, cwd: Path | None = None) -> Run:
    """``python -m memesearch ARGS`` in a fresh process, importing the memesearch this test imports."""
    env = dict(os.environ)
    src = str(Path(memesearch.__file__).resolve().parents[1])
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("MEMESEARCH_OCR_THREADS", "1")
    argv = [sys.executable, "-m", "memesearch", *args]
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            timeout=timeout,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode("utf-8", "replace") if exc.stdout else ""
        err = exc.stderr.decode("utf-8", "replace") if exc.stderr else ""
        return Run(argv, None, out, err, time.perf_counter() - start, hung=True)
    return Run(
        argv,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
        time.perf_counter() - start,
        hung=False,
    )


@dataclass
class Figures:
    """What happened to the inputs of one category."""

    inputs: int = 0
    indexed: int = 0
    failed: int = 0
    unaccounted: int = 0  # neither in the index nor reported: lost silently
    wrong_outcome: int = 0  # a valid file not indexed, or a bad one indexed, or the wrong reason
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class MediaReport:
    inputs: int
    runs: list[dict[str, Any]]
    crashes: int
    hangs: int
    good_items: int
    good_items_lost: int
    good_items_not_found: int
    categories: dict[str, Figures]
    problems: list[str]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["categories"] = {k: asdict(v) for k, v in self.categories.items()}
        return out


def _index_args(paths: list[str], index_dir: Path, *, ocr: bool, workers: int) -> list[str]:
    flags = ["--index", str(index_dir), "--json", "--no-progress", "--workers", str(workers)]
    return ["index", *flags, "--ocr" if ocr else "--no-ocr", "--", *paths]


def _run_record(name: str, run: Run) -> dict[str, Any]:
    summary = run.summary()
    return {
        "run": name,
        "exit_code": run.returncode,
        "seconds": round(run.seconds, 1),
        "hung": run.hung,
        "traceback": run.crashed,
        "indexed": summary.get("indexed"),
        "failed": len(summary.get("failed", [])),
        "duplicates": summary.get("duplicates"),
        "stderr_lines": len(run.stderr.splitlines()),
        "stderr_head": run.stderr.splitlines()[:12],
    }


def _check_run(name: str, run: Run, problems: list[str]) -> None:
    if run.hung:
        problems.append(f"{name}: no answer within {run.seconds:.0f} s")
    if run.crashed:
        problems.append(f"{name}: printed a traceback:\n{run.stderr[-3000:]}")
    if run.returncode not in (0, 1):
        problems.append(f"{name}: exit code {run.returncode}: {run.stderr[-2000:]}")


def _account(
    cases: list[Case], indexed: set[str], failures: dict[str, dict[str, Any]]
) -> tuple[dict[str, Figures], list[str]]:
    figures: dict[str, Figures] = {}
    problems: list[str] = []
    for case in cases:
        fig = figures.setdefault(case.category.split("/")[0], Figures())
        fig.inputs += 1
        shown = display_path(case.path)
        failure = failures.get(shown)
        if shown in indexed:
            fig.indexed += 1
            if case.expect == "failed":
                fig.wrong_outcome += 1
                problems.append(f"{shown!r}: indexed, but it must fail ({case.note or case.reason})")
        elif failure is not None:
            fig.failed += 1
            reason = str(failure.get("reason"))
            fig.reasons[reason] = fig.reasons.get(reason, 0) + 1
            message = str(failure.get("message", ""))
            if not message.strip() or "\n" in message or not reason:
                problems.append(f"{shown!r}: a failure must have a reason and a one-line message: {failure}")
            if case.expect == "indexed" or (case.reason is not None and reason != case.reason):
                fig.wrong_outcome += 1
                problems.append(
                    f"{shown!r}: failed with {reason!r} ({message}); expected {case.expect} "
                    f"{case.reason or ''}"
                )
        else:
            fig.unaccounted += 1
            problems.append(f"{shown!r}: neither indexed nor reported")
    return figures, problems


def run_media_corpus(
    tmp: Path,
    *,
    ocr: bool = False,
    workers: int = 2,
    timeout: float = 240,
    formats: tuple[str, ...] | None = None,
    good: int = 8,
    rerun: bool = True,
) -> MediaReport:
    """Good set, then the hostile corpus, then the checks (module docstring)."""
    from memesearch.index import Index

    index_dir = tmp / "index"
    good_paths = build_good_set(tmp / "good", good)
    corpus: Corpus = build_media_corpus(tmp / "hostile", formats=formats)
    runs: list[dict[str, Any]] = []
    problems: list[str] = []

    first = cli(_index_args([str(tmp / "good")], index_dir, ocr=ocr, workers=workers), timeout=timeout)
    runs.append(_run_record("good set", first))
    _check_run("good set", first, problems)
    good_ids = _ids_of(index_dir, good_paths) if first.returncode == 0 else {}
    if len(set(good_ids.values())) != good:
        problems.append(f"the good set gave {len(good_ids)} items, not {good}: {first.stderr[-2000:]}")

    # the dashed name is given relative to its folder, after "--", so it cannot be read as an option
    direct = [a if not Path(a).name.startswith("-") else Path(a).name for a in corpus.extra_args]
    cwd = Path(next(a for a in corpus.extra_args if Path(a).name.startswith("-"))).parent
    args = [str(corpus.root), *direct]
    hostile = cli(_index_args(args, index_dir, ocr=ocr, workers=workers), timeout=timeout, cwd=cwd)
    runs.append(_run_record("hostile corpus", hostile))
    _check_run("hostile corpus", hostile, problems)
    summary = hostile.summary()
    failures = {str(f["path"]): f for f in summary.get("failed", [])}

    runs_all = [first, hostile]
    if rerun:  # the same inputs again: nothing new indexed, the same failures reported
        again = cli(_index_args(args, index_dir, ocr=ocr, workers=workers), timeout=timeout, cwd=cwd)
        runs.append(_run_record("hostile corpus again", again))
        _check_run("hostile corpus again", again, problems)
        runs_all.append(again)
        if again.summary().get("indexed", 0) != 0:
            problems.append(f"a second run indexed {again.summary().get('indexed')} items again")
        if len(again.summary().get("failed", [])) != len(failures):
            problems.append("a second run reported a different number of failures")

    with Index.open(index_dir, readonly=True) as idx:
        indexed = {display_path(p) for p in idx.all_paths()}
    figures, more = _account(corpus.cases, indexed, failures)
    problems += more
    after = _ids_of(index_dir, good_paths)
    lost = [path.name for path, item_id in good_ids.items() if after.get(path) != item_id]
    problems += [f"good item {name} was lost" for name in lost]

    not_found = 0
    for path, item_id in good_ids.items():
        found = (
            cli(
                ["search", "--index", str(index_dir), "--image", str(path), "-k", "1", "--json"],
                timeout=timeout,
            )
            if path == good_paths[0]
            else None
        )
        if found is not None:
            _check_run("search", found, problems)
            hits = json.loads(found.stdout).get("hits", []) if found.returncode == 0 else []
            top = hits[0]["item"]["id"] if hits else None
        else:
            top = _search_in_process(index_dir, path)
        if top != item_id:
            not_found += 1
            problems.append(
                f"good item {item_id} ({path.name}) is not the top hit for its own picture: {top}"
            )

    # a query picture that is a named pipe: one error line, no hang
    fifo = next(c.path for c in corpus.cases if c.note == "named pipe")
    query = cli(["search", "--index", str(index_dir), "--image", fifo, "--json"], timeout=timeout)
    runs.append(_run_record("search --image on a named pipe", query))
    runs_all.append(query)
    errors = [line for line in query.stderr.splitlines() if line.startswith("error: ")]
    if query.hung or query.crashed or query.returncode != 2 or len(errors) != 1:
        problems.append(f"search --image on a named pipe: exit {query.returncode}, {query.stderr[-800:]!r}")
    missing = in_process(["search", "--index", str(index_dir), "--image", str(tmp / "gone.png")])
    if missing.crashed or missing.returncode != 2:
        problems.append(
            f"search --image on a missing file: exit {missing.returncode}, {missing.stderr[-800:]!r}"
        )

    return MediaReport(
        inputs=len(corpus.cases),
        runs=runs,
        crashes=sum(r.crashed or r.returncode not in (0, 1, 2) for r in runs_all if not r.hung),
        hangs=sum(r.hung for r in runs_all),
        good_items=len(good_ids),
        good_items_lost=len(lost),
        good_items_not_found=not_found,
        categories=figures,
        problems=problems,
    )


def _ids_of(index_dir: Path, paths: list[Path]) -> dict[Path, str]:
    """``{path: item id}`` for the given files that the index holds (with the item itself present)."""
    from memesearch.index import Index

    out: dict[Path, str] = {}
    with Index.open(index_dir, readonly=True) as idx:
        for path in paths:
            entry = idx.path_entry(str(path))
            item = idx.items([entry[0]]).get(entry[0]) if entry is not None else None
            if item is not None:
                out[path] = item.id
    return out


def _search_in_process(index_dir: Path, picture: Path) -> str | None:
    from memesearch.index import Index
    from memesearch.search import Searcher

    with Index.open(index_dir, readonly=True) as idx:
        response = Searcher(idx).search_image(picture, k=1)
    return response.hits[0].item.id if response.hits else None


@dataclass
class RowsReport:
    inputs: int
    runs: int
    crashes: int
    hangs: int
    unclear: int  # answered without a one-line error naming the file
    per_format: dict[str, dict[str, int]]
    problems: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def in_process(args: list[str]) -> Run:
    """The same CLI entry point in this process (no start-up cost); an exception escaping it is a crash."""
    import contextlib
    import io
    import traceback

    from memesearch.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: int | None = main(args)
        except BaseException:
            err.write(traceback.format_exc())
            code = None
    return Run(args, code, out.getvalue(), err.getvalue(), time.perf_counter() - start, hung=False)


def run_dataset_rows(tmp: Path, *, timeout: float = 60) -> RowsReport:
    """Each malformed dataset file through the command that reads it (module docstring). Cases that could
    block (FIFOs) run in a child process with a time limit; the rest through the same entry point here."""
    cases: list[RowCase] = build_dataset_rows(tmp / "rows")
    problems: list[str] = []
    per_format: dict[str, dict[str, int]] = {}
    crashes = hangs = unclear = runs = 0
    for case in cases:
        fig = per_format.setdefault(
            case.format,
            {"inputs": 0, "runs": 0, "errors": 0, "read": 0, "crashes": 0, "hangs": 0, "unclear": 0},
        )
        fig["inputs"] += 1
        for args in case.commands(tmp / "rows-index"):
            run = cli(args, timeout=timeout) if case.subprocess else in_process(args)
            runs += 1
            fig["runs"] += 1
            name = f"{case.format} {case.name}: memesearch {' '.join(args[:2])}"
            if run.hung:
                hangs += 1
                fig["hangs"] += 1
                problems.append(f"{name}: no answer within {timeout:.0f} s")
                continue
            if run.crashed or run.returncode is None:
                crashes += 1
                fig["crashes"] += 1
                problems.append(f"{name}: traceback\n{run.stderr[-700:]}")
                continue
            lines = [ln for ln in run.stderr.splitlines() if ln.startswith("error: ")]
            if run.returncode == 2 and len(lines) == 1:
                fig["errors"] += 1
            elif run.returncode == 0 and (case.may_pass or "--skip-bad" in args):
                fig["read"] += 1
            else:
                unclear += 1
                fig["unclear"] += 1
                problems.append(f"{name}: exit {run.returncode}, stderr {run.stderr[-600:]!r}")
    return RowsReport(len(cases), runs, crashes, hangs, unclear, per_format, problems)
