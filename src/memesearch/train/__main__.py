"""``python -m memesearch.train ARGS`` = ``memesearch train ARGS`` (what ``torchrun ... -m memesearch.train``
starts on every rank): the typer command is the one front door."""

import sys

from memesearch.cli.main import main

raise SystemExit(main(["train", *sys.argv[1:]]))
