"""A toy native dataset of drawn shapes, for smoke runs and tests of the retrieval Tasks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memesearch.data.records import Dataset, Item, Query, Split

_TOY_TOPICS: tuple[tuple[str, str, tuple[int, int, int]], ...] = (
    ("red circle", "happy", (220, 40, 40)),
    ("green square", "calm", (40, 200, 60)),
    ("blue triangle", "sad", (40, 60, 220)),
    ("yellow star", "excited", (230, 210, 40)),
    ("purple ring", "confused", (150, 50, 180)),
    ("orange bar", "angry", (240, 130, 20)),
)


def write_toy_dataset(root: str | Path, *, items_per_topic: int = 3, seed: int = 0) -> Path:
    """Write a small native dataset of drawn PNGs (splits train, val, test) and return its folder.

    Every topic (a coloured shape) has ``items_per_topic`` images per split. Some items lack captions,
    emotions or OCR, so code paths for missing context run; in each split two queries share one text
    (multi-positive groups). Meant for smoke runs of the retrieval Tasks with ``tiny-clip``::

        >>> path = write_toy_dataset(tmp_path)        # doctest: +SKIP
    """
    from PIL import Image, ImageDraw

    from memesearch.data.formats import write_dataset

    root = Path(root)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    splits: dict[str, Split] = {}
    for split_name in ("train", "val", "test"):
        items: list[Item] = []
        queries: list[Query] = []
        for t, (name, emotion, colour) in enumerate(_TOY_TOPICS):
            ids = []
            for k in range(items_per_topic):
                item_id = f"{split_name}-{t}-{k}"
                img = Image.new("RGB", (32, 32), tuple(int(c) for c in rng.integers(0, 60, 3)))
                draw = ImageDraw.Draw(img)
                x, y = (int(v) for v in rng.integers(2, 10, 2))
                draw.ellipse((x, y, x + 20, y + 20), fill=colour) if t % 2 else draw.rectangle(
                    (x, y, x + 20, y + 20), fill=colour
                )
                img.save(images / f"{item_id}.png")
                n = len(items)
                items.append(
                    Item(
                        id=item_id,
                        path=f"images/{item_id}.png",
                        captions=[] if n % 5 == 4 else [f"a {name}", f"{name} number {k}"],
                        ocr=f"{name.split()[0]} text" if n % 3 == 0 else None,
                        emotions=[] if n % 4 == 3 else [emotion, "meme"],
                    )
                )
                ids.append(item_id)
            queries.append(
                Query(id=f"{split_name}-q{t}", text=f"{emotion} {name}", qrels=dict.fromkeys(ids, 1))
            )
        # a second query with the text of topic 0, relevant to topic 0's first item: equal texts, one group
        queries.append(
            Query(id=f"{split_name}-q-dup", text=queries[0].text, qrels={items[0].id: 1, items[-1].id: 0})
        )
        splits[split_name] = Split(split_name, items=items, queries=queries)
    dataset = Dataset(name="toy-shapes", splits=splits, root=root)
    write_dataset(dataset, root, "native", overwrite=True)
    return root
