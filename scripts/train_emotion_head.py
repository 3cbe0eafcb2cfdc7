"""Train the starter's emotion head and write it into the package (reproduces the shipped weights).

    memesearch datasets build emoji --out data/emoji        # default styles (google, twitter), ~10 s
    python scripts/train_emotion_head.py [--dataset data/emoji] [--out DIR]

(``--out`` default: the shipped folder, ``src/memesearch/models/weights/starter-v3-emotion-head``.)

Fits one logistic regression per emotion on the frozen ``starter`` tower's pooled body features of the
``train`` split and chooses each emotion's threshold on ``val`` for precision (the rule is in
:mod:`memesearch.train.emotion_head`). Deterministic: the same dataset gives the same files. Features are
cached in ``data/emotion_head_features.npz``. Test views are not read for anything but the cache.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "emoji")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "src/memesearch/models/weights/starter-v3-emotion-head"
    )
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "emotion_head_features.npz")
    parser.add_argument(
        "--encoder", default="starter", help="the starter version whose tower the head reads (starter-v3)"
    )
    parser.add_argument("--c", type=float, default=None, help="inverse L2 strength (default: the module's)")
    args = parser.parse_args(argv)

    from memesearch.models import create_encoder
    from memesearch.train.emotion_head import DEFAULT_C, embed_splits, train_head

    if not (args.dataset / "dataset.json").exists():
        print(
            f"no dataset at {args.dataset}; build it with 'memesearch datasets build emoji'", file=sys.stderr
        )
        return 2
    encoder = create_encoder(args.encoder, device="cpu")
    data = embed_splits(args.dataset, encoder, args.cache)
    command = "python scripts/train_emotion_head.py"
    if args.encoder != "starter":
        command += f" --encoder {args.encoder} --out {os.path.relpath(args.out.resolve(), ROOT)}"
    head = train_head(
        data, str(encoder.config.extra["weights_sha256"]), c=args.c or DEFAULT_C, command=command
    )
    head.save(args.out)
    active = {e: round(t, 4) for e, t in head.thresholds.items() if t is not None}
    print(f"wrote {args.out}: {len(head.active)} of {len(head.emotions)} emotions active {active}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
