"""``python -m memesearch.train`` (what ``torchrun ... -m memesearch.train`` starts on every rank)."""

from memesearch.train.cli import main

raise SystemExit(main())
