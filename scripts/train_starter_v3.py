"""Train starter v3: starter v2's CNN plus a projection of the frozen NanoDet-g backbone
(:mod:`memesearch.train.backbone_branch`; epoch and mix weight chosen on val-heldout), then measure the
folder like every committed version (``metrics.json``: val, test, test-seen of the training dataset).

    PYTHONPATH=src python scripts/train_starter_v3.py --out src/memesearch/models/weights/starter-v3

Needs the datasets ``data/emoji-v2`` (seven training styles) and ``data/emoji-vh`` (val in apple).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from memesearch.train.backbone_branch import BranchConfig, train_branch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--image-size", type=int, default=BranchConfig.image_size)
    ap.add_argument("--views", type=int, default=BranchConfig.views)
    ap.add_argument("--epochs", type=int, default=BranchConfig.epochs)
    ap.add_argument("--objective", choices=("mix", "alone"), default=BranchConfig.objective)
    ap.add_argument("--hidden", type=int, default=BranchConfig.hidden)
    ap.add_argument("--seed", type=int, default=BranchConfig.seed)
    ap.add_argument("--no-metrics", action="store_true", help="skip metrics.json (val/test/test-seen)")
    ap.add_argument(
        "--measure",
        type=Path,
        default=Path("data/emoji"),
        help="the build metrics.json is measured on (the default build, as for every committed version)",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = BranchConfig(
        image_size=args.image_size,
        views=args.views,
        epochs=args.epochs,
        objective=args.objective,
        hidden=args.hidden,
        seed=args.seed,
    )
    command = "PYTHONPATH=src python scripts/train_starter_v3.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    record = train_branch(config, args.out, command=command)
    print(
        f"chosen: epoch {record['selected_epoch']}, w={record['selected_weight']}: "
        f"{config.select_view} R@10 {record['selected_score']:.4f}"
    )
    if not args.no_metrics:
        from memesearch.train.starter_export import write_metrics

        write_metrics(
            args.out,
            args.measure,
            training={"command": command, "selection": {k: v for k, v in record.items() if k != "history"}},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
