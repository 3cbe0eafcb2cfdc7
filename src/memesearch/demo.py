"""``python -m memesearch.demo ARGS`` = ``memesearch demo ARGS`` (what ``make demo`` runs): the typer
command in :mod:`memesearch.cli.demo` is the one front door."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``memesearch demo`` with ``argv`` (default: the process arguments); returns the exit code."""
    from memesearch.cli.main import main as cli

    return cli(["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
