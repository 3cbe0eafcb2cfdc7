"""Average starter fine-tunes into one set of weights (a "model soup"), chosen on a validation split.

Candidates are ``NAME=TARGET``: a committed version (``starter-v1``, ``starter-v2``), a weights folder
(``model.safetensors`` + ``config.json``) or a ``memesearch train`` checkpoint (exported first). With
``--greedy`` (the default) the candidates are sorted by R@10 of the image branch on ``--select-view``
of ``--dataset`` and added one by one to a uniform average while it scores no lower; ``--uniform``
averages all of them. Test views are refused for selection. ``--measure DATASET`` then writes the
soup's ``metrics.json`` (val, test, test-seen), as ``memesearch export --dataset`` does.

    python scripts/soup_starter_weights.py --dataset data/emoji-v2 --greedy \\
        e6=runs/starter-20261207-200146/checkpoints/step-00002244 \\
        e7=runs/starter-20261207-200146/checkpoints/step-00002618 ... \\
        --out src/memesearch/models/weights/starter-v2 --measure data/emoji
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("candidates", nargs="+", help="NAME=VERSION, NAME=WEIGHTS_DIR or NAME=CHECKPOINT_DIR")
    parser.add_argument("--out", type=Path, required=True, help="weights folder to write")
    parser.add_argument("--dataset", type=Path, default=ROOT / "data" / "emoji-v2", help="selection data")
    parser.add_argument("--select-view", default="val", help="validation view that chooses (default: val)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--greedy", action="store_true", help="greedy soup (the default)")
    mode.add_argument("--uniform", action="store_true", help="average every candidate")
    parser.add_argument("--measure", type=Path, help="write metrics.json measured on this emoji build")
    parser.add_argument("--record", type=Path, help="also write the selection record as JSON here")
    args = parser.parse_args(argv)

    from memesearch.data.formats import read_dataset
    from memesearch.models import create_encoder
    from memesearch.models.starter.encoder import COMMITTED_WEIGHTS, weights_dir
    from memesearch.models.starter.text_cache import TextEmbeddingCache
    from memesearch.train.starter_export import evaluate_starter, export_weights, write_metrics
    from memesearch.train.weight_average import average_weights, greedy_soup

    if args.select_view.startswith("test"):
        parser.error(f"--select-view {args.select_view}: choose on a validation view, never on test")
    ds = read_dataset(args.dataset)
    if args.select_view not in ds.split_names:
        parser.error(f"{args.dataset} has no view {args.select_view} (views: {', '.join(ds.split_names)})")
    cache = TextEmbeddingCache("e5-small")

    def score(folder: Path) -> float:
        encoder = create_encoder(f"starter:{folder}", device="cpu")
        return float(
            evaluate_starter(encoder, ds, args.select_view, by_lang=False, cache=cache)["all"]["R@10"]
        )

    specs = [spec.partition("=") for spec in args.candidates]
    for name, sep, target in specs:
        if not sep or not name or not target:
            parser.error(f"a candidate is NAME=TARGET, got {name}{sep}{target!r}")
    given = {name: target for name, _, target in specs}  # how config.json names each source
    with tempfile.TemporaryDirectory(prefix="starter-soup-") as tmp:
        candidates: list[tuple[str, Path]] = []
        for name, target in given.items():
            if target in COMMITTED_WEIGHTS:
                folder = weights_dir(target)
            elif _is_checkpoint(Path(target)):
                folder = export_weights(target, Path(tmp) / name)
            else:
                folder = Path(target)
            candidates.append((name, folder))
        # the soup is written beside --out first: --out may be one of the candidates
        staged = Path(tmp) / "soup"
        if args.uniform:
            average_weights(
                [(f, 1.0) for _, f in candidates], staged, note="uniform average", labels=list(given.values())
            )
            record = {"mode": "uniform", "chosen": list(given)}
        else:
            print(f"greedy soup on {args.dataset} {args.select_view} (R@10 of the image branch):")
            record = {"mode": "greedy", **greedy_soup(candidates, staged, score, work_dir=tmp, labels=given)}
        args.out.mkdir(parents=True, exist_ok=True)
        for file in staged.iterdir():
            (args.out / file.name).write_bytes(file.read_bytes())
            (args.out / file.name).chmod(0o644)
    record.update(
        {"select": {"dataset": str(args.dataset), "view": args.select_view, "metric": "R@10"},
         "candidates": given}
    )  # fmt: skip
    print(f"wrote {args.out} ({', '.join(record['chosen'])})")
    if args.measure:
        command = "python scripts/soup_starter_weights.py " + shlex.join(
            argv if argv is not None else sys.argv[1:]
        )
        metrics = write_metrics(args.out, args.measure, training={"command": command, "soup": record})
        for split, m in metrics["splits"].items():
            print(f"  {split:<10} R@10 {m['all']['R@10']:.4f}")
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


def _is_checkpoint(folder: Path) -> bool:
    """A ``memesearch train`` checkpoint (model + trainer state), not an exported weights folder."""
    return (folder / "model.safetensors").is_file() and (folder / "trainer_state.pt").is_file()


if __name__ == "__main__":
    sys.exit(main())
