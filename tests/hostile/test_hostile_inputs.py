"""The hostile-input corpus through the real command line (tests/hostile/corpus.py, dataset_rows.py):
`memesearch index` never hangs or prints a traceback, reports each bad input with its reason, indexes the
valid files among them and loses nothing indexed before; malformed dataset files get one error line.

The figures in the README ("Reliability" > "Hostile inputs") come from scripts/report_hostile_inputs.py,
which runs the same harness and writes docs/results/hostile_inputs.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .harness import run_dataset_rows, run_media_corpus

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="FIFOs, /dev links and byte file names")


def _explain(problems: list[str]) -> str:
    return "\n".join(p[:1500] for p in problems[:20])


def test_the_hostile_media_corpus_is_indexed_or_reported_and_loses_nothing(tmp_path: Path) -> None:
    report = run_media_corpus(tmp_path, ocr=False, workers=2)
    assert report.inputs >= 200
    assert report.problems == [], _explain(report.problems)
    assert report.crashes == 0 and report.hangs == 0
    assert [run["stderr_lines"] for run in report.runs] == [0, 0, 0, 1]  # --json: nothing else on stderr
    assert report.good_items == 8 and report.good_items_lost == 0 and report.good_items_not_found == 0
    cats = report.categories
    assert sum(c.unaccounted for c in cats.values()) == 0
    assert cats["names"].indexed == cats["names"].inputs  # every hostile name, under its exact name
    assert cats["empty"].reasons == {"empty": cats["empty"].inputs}
    assert cats["bombs"].reasons.get("too-large", 0) >= 5
    assert cats["damaged"].indexed >= 11 and cats["damaged"].failed >= 100  # the 11 originals at least


def test_a_subset_with_ocr_on(tmp_path: Path) -> None:
    # OCR runs on every decoded frame: damaged files that decode go through it too
    report = run_media_corpus(
        tmp_path, ocr=True, workers=0, formats=("png", "jpeg", "anim-gif"), good=3, rerun=False
    )
    assert report.problems == [], _explain(report.problems)
    assert report.crashes == 0 and report.hangs == 0 and report.good_items_lost == 0


def test_malformed_rows_of_every_dataset_format(tmp_path: Path) -> None:
    report = run_dataset_rows(tmp_path)
    assert report.problems == [], _explain(report.problems)
    assert report.crashes == 0 and report.hangs == 0 and report.unclear == 0
    from memesearch.data.formats import FORMATS

    readable = {name for name, spec in FORMATS.items() if spec.can_read}
    assert readable <= {f.removesuffix("-file") for f in report.per_format}  # every readable format
