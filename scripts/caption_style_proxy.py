"""A validation proxy for the captioner's real job — naming seen concepts drawn in an unseen style — built
from the emoji benchmark's *train* split only (test is never read).

The benchmark's val split holds unseen concepts, which no captioner can name, so it cannot tell whether a
setting helps with an unseen drawing style. This proxy can: its ``train`` split is the train split's
google drawings, its ``val`` split the twitter drawings of the same concepts. The ``starter-caption``
preset's decoder dropout (0), epochs (40) and feature noise were chosen on it; for reference the script also
prints what naming each twitter drawing after its nearest google drawing (1-NN on the starter embedding)
gets. Run by hand::

    python scripts/caption_style_proxy.py --emoji data/emoji --out build/emoji-style-proxy
    memesearch train --preset starter-caption --set task_config.dataset=build/emoji-style-proxy \\
        --set epochs=32 --set task_config.captioner.decoder.dropout=0.0   # val exact / CIDEr-D per epoch
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emoji", type=Path, default=Path("data/emoji"))
    parser.add_argument("--out", type=Path, default=Path("build/emoji-style-proxy"))
    parser.add_argument("--encoder", default="starter-v1", help="1-NN baseline tower (the captioner's)")
    args = parser.parse_args(argv)

    from memesearch.data.captions import item_captions
    from memesearch.data.formats import read_dataset, write_dataset
    from memesearch.data.records import Dataset, Split
    from memesearch.models import create_encoder
    from memesearch.train.tasks.image_features import ImageFeatureCache

    ds = read_dataset(args.emoji)
    items = ds["train"].items
    google = [it for it in items if it.meta.get("style") == "google"]
    twitter = [it for it in items if it.meta.get("style") == "twitter"]
    splits = {"train": Split("train", items=google), "val": Split("val", items=twitter)}
    write_dataset(Dataset(name="emoji-style-proxy", splits=splits, root=ds.root), args.out, overwrite=True)
    print(f"wrote {args.out}: train = {len(google)} google drawings, val = {len(twitter)} twitter drawings")

    encoder, cache = create_encoder(args.encoder, device="cpu"), ImageFeatureCache()
    feats = {
        name: cache.features(encoder, [it.resolve_path(ds.root) for it in part], normalize=True)
        for name, part in (("google", google), ("twitter", twitter))
    }
    nearest = (feats["twitter"] @ feats["google"].T).argmax(axis=1)
    for lang in ("en", "zh"):
        hits = [
            item_captions(google[j], (lang,))[0][0] in [t for t, _ in item_captions(it, (lang,))]
            for it, j in zip(twitter, nearest, strict=True)
        ]
        print(f"1-NN baseline ({lang}): the nearest google drawing's name is right for {np.mean(hits):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
