"""Copy the demo's evaluation table (written by ``make demo`` to build/demo/eval/table.md) into README.md.

    make demo && .venv/bin/python scripts/report_demo_table.py

Also keeps a copy in ``docs/results/demo_index_eval.md``. Fails when the demo has not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from memesearch.utils.readme import write_block

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=ROOT / "build" / "demo" / "eval" / "table.md")
    args = parser.parse_args(argv)
    if not args.table.is_file():
        print(f"error: {args.table} not found; run `make demo` first", file=sys.stderr)
        return 2
    table = args.table.read_text(encoding="utf-8").strip()
    out = ROOT / "docs" / "results" / "demo_index_eval.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n", encoding="utf-8")
    if not write_block(ROOT / "README.md", "demo-table", table, missing_ok=True):
        print("error: README.md has no demo-table block", file=sys.stderr)
        return 2
    print(f"README.md and {out.relative_to(ROOT)} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
