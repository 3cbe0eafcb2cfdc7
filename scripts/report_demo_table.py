"""Copy the demo's evaluation table (written by ``make demo`` to build/demo/eval/table.md) into README.md.

    make demo && .venv/bin/python scripts/report_demo_table.py

Also keeps a copy in ``docs/results/demo_index_eval.md``. Fails when the demo has not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK_START, MARK_END = "<!-- demo-table:start -->", "<!-- demo-table:end -->"


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
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    head, sep, rest = text.partition(MARK_START)
    _, sep2, tail = rest.partition(MARK_END)
    if not sep or not sep2:
        print(f"error: README.md has no {MARK_START} ... {MARK_END} block", file=sys.stderr)
        return 2
    readme.write_text(f"{head}{MARK_START}\n{table}\n{MARK_END}{tail}", encoding="utf-8")
    print(f"README.md and {out.relative_to(ROOT)} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
