"""Run the hostile-input corpus (tests/hostile) and write its figures to docs/results/hostile_inputs.json.

    python scripts/report_hostile_inputs.py [--out docs/results/hostile_inputs.json]

The same harness as tests/hostile/test_hostile_inputs.py: a good set indexed first, then the hostile media
corpus given to `memesearch index` in a child process (twice), every good item searched for by its own
picture; a subset again with OCR on; then every malformed dataset file through the command that reads it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.hostile is not installed: import it from the checkout

from tests.hostile.harness import run_dataset_rows, run_media_corpus  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "hostile_inputs.json")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        media = run_media_corpus(Path(tmp) / "media", ocr=False, workers=2)
        ocr = run_media_corpus(
            Path(tmp) / "ocr", ocr=True, workers=0, formats=("png", "jpeg", "anim-gif"), good=3, rerun=False
        )
        rows = run_dataset_rows(Path(tmp) / "rows")
    result = {
        "command": "python scripts/report_hostile_inputs.py",
        "python": platform.python_version(),
        "seconds": round(time.perf_counter() - start, 1),
        "media": media.to_dict(),
        "media_with_ocr": ocr.to_dict(),
        "dataset_rows": rows.to_dict(),
        "totals": {
            "inputs_tried": media.inputs + ocr.inputs + rows.inputs,
            "crashes": media.crashes + ocr.crashes + rows.crashes,
            "hangs": media.hangs + ocr.hangs + rows.hangs,
            "items_lost": media.good_items_lost + ocr.good_items_lost,
            "problems": len(media.problems) + len(ocr.problems) + len(rows.problems),
        },
    }
    for part in ("media", "media_with_ocr"):
        for run in result[part]["runs"]:
            run.pop("stderr_head", None)  # machine-specific paths
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result["totals"]))
    return 0 if result["totals"]["problems"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
