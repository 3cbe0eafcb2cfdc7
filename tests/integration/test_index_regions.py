"""Regions at ingest (issue 14): the regions enricher runs once per content hash, its boxes and masks are
kept in the index with one vector each in the ``region`` store, and those vectors come and go with their
item — across remove, re-add, reopen and a process killed before the stores were saved."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from memesearch.enrich.regions import RegionEnricher
from memesearch.errors import ConfigError
from memesearch.index import Index
from memesearch.index.config import REGION_SLOTS
from memesearch.ingest import Ingestor, add_paths
from memesearch.objects import SegmenterConfig, create_segmenter


def sheet(seed: int, n: int = 3, size: int = 96) -> Image.Image:
    """A sticker sheet: ``n`` filled shapes of distinct colours on white, never touching."""
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(im)
    cells = [(4, 4), (52, 4), (4, 52), (52, 52)]
    for i in range(n):
        x, y = cells[i]
        colour = tuple(int(c) for c in rng.integers(0, 200, 3))
        if i % 2:
            d.ellipse((x, y, x + 38, y + 38), fill=colour)
        else:
            d.rectangle((x + 4, y + 4, x + 34, y + 34), fill=colour)
    return im


class Counting:
    """The real auto segmenter, counting the images it segments."""

    def __init__(self) -> None:
        self.inner = create_segmenter("auto", SegmenterConfig(max_regions=8))
        self.name, self.version = self.inner.name, self.inner.version
        self.calls = 0

    def segment(self, image: Image.Image, points=None, boxes=None):  # type: ignore[no-untyped-def]
        self.calls += 1
        return self.inner.segment(image, points, boxes)


def _folder(root: Path, n: int) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        sheet(i, n=2 + i % 3).save(root / f"s{i}.png")
    return root


def test_regions_enricher_runs_once_per_content(tmp_path: Path) -> None:
    files = _folder(tmp_path / "in", 3)
    counting = Counting()
    enricher = RegionEnricher("auto", max_regions=8, segmenter=counting)
    with Index.create(
        tmp_path / "idx", model="tiny-clip:0", ocr=False, emotions=False, objects="auto"
    ) as idx:
        ing = Ingestor(idx, enrichers=[enricher])
        ing.add_paths([files], workers=0)
        assert counting.calls == 3
        items = idx.items(idx.all_vectors("image")[0].tolist())
        assert sorted(len(it.objects) for it in items.values()) == [2, 3, 4]
        # the same bytes under another name: an exact duplicate, nothing enriched
        (files / "copy.png").write_bytes((files / "s0.png").read_bytes())
        ing.add_paths([files], workers=0)
        assert counting.calls == 3
        # removed and re-added: the cached regions come back without segmenting
        gone = next(it for it in items.values() if len(it.objects) == 4)
        idx.remove([gone.id])
        assert idx.vector_count("region") == 5
        (tmp_path / "again").mkdir()
        (tmp_path / "again" / "s2.png").write_bytes((files / "s2.png").read_bytes())
        ing.add_paths([tmp_path / "again"], workers=0)
        assert counting.calls == 3
        back = idx.get(gone.id)
        assert back is not None and [r.box for r in back.objects] == [r.box for r in gone.objects]
        assert idx.vector_count("region") == 9


@pytest.mark.parametrize("store", ["faiss", "milvus"])
def test_region_vectors_follow_their_item_and_reopen(tmp_path: Path, store: str) -> None:
    files = _folder(tmp_path / "in", 4)
    root = tmp_path / "idx"
    settings = {"ocr": False, "emotions": False, "objects": "auto", "vector_store": store}
    with Index.create(root, model="tiny-clip:0", **settings) as idx:
        add_paths(idx, [files], workers=0)
        rowids = idx.all_vectors("image")[0]
        regions = idx.regions(rowids.tolist())
        # masks are kept (RLE at the image's size) and boxes are their tight boxes
        some = regions[int(rowids[0])][0]
        assert some.mask is not None and some.mask.size == (96, 96)
        want = sorted(r * REGION_SLOTS + k for r in rowids.tolist() for k in range(len(regions[r])))
        assert idx.vector_store("region").ids().tolist() == want
        # each region vector is the masked crop of its region through the image tower
        from memesearch.models.regions import region_embeddings

        first = idx.items([int(rowids[0])])[int(rowids[0])]
        img = Image.open(first.paths[0]).convert("RGB")
        rs = regions[int(rowids[0])]
        expect = region_embeddings(idx.encoder, img, [r.box for r in rs], [r.decoded_mask() for r in rs],
                                   method="masked-crop")  # fmt: skip
        got = idx.vector_store("region").reconstruct(np.array(idx.region_ids([int(rowids[0])])))
        np.testing.assert_allclose(got, expect, atol=1e-5)
        victim = idx.items([int(rowids[1])])[int(rowids[1])]
        idx.remove([victim.id])
        left = idx.vector_store("region").ids()
        assert not np.isin(left // REGION_SLOTS, [rowids[1]]).any()
        assert left.size == len(want) - len(regions[int(rowids[1])])
    with Index.open(root, readonly=store == "faiss") as idx:  # milvus-lite: one process, reopened writable
        assert idx.vector_store("region").ids().tolist() == left.tolist()
        np.testing.assert_allclose(idx.vector_store("region").reconstruct(left[:1]), expect[:1], atol=1e-5)
        assert idx.get(victim.id) is None


CRASH = """
import os, sys
from memesearch.index import Index
from memesearch.ingest import add_paths
idx = Index.create(sys.argv[1], model="tiny-clip:0", ocr=False, emotions=False, objects="auto", batch_size=2)
Index.flush = lambda self, force=False: os._exit(0)  # killed after the SQLite commits, before any save
add_paths(idx, [sys.argv[2]], workers=0)
"""


def test_region_vectors_survive_a_crash_before_saving(tmp_path: Path) -> None:
    files = _folder(tmp_path / "in", 5)
    root = tmp_path / "idx"
    subprocess.run([sys.executable, "-c", CRASH, str(root), str(files)], check=True, timeout=300)
    with Index.open(root) as idx:
        assert len(idx) == 5
        rowids = idx.all_vectors("image")[0].tolist()
        regions = idx.regions(rowids)
        assert idx.vector_count("region") == sum(len(v) for v in regions.values()) > 5
        assert sorted(idx.vector_store("region").ids().tolist()) == sorted(idx.region_ids(rowids).tolist())
    info = json.loads((root / "vectors" / "region.faiss.json").read_text())
    assert info["generation"] > 0


def test_boxes_mode_reads_given_objects_and_clamps(tmp_path: Path) -> None:
    files = tmp_path / "in"
    files.mkdir()
    sheet(1).save(files / "a.png")
    manifest = files / "list.jsonl"
    objects = [
        {"box": [4, 4, 44, 44], "label": "square"},
        {"box": [50, 50, 500, 500], "label": "off the edge"},
        {"box": [200, 200, 300, 300], "label": "outside"},
    ]
    manifest.write_text(json.dumps({"path": "a.png", "objects": objects}) + "\n")
    with Index.create(
        tmp_path / "idx", model="tiny-clip:0", ocr=False, emotions=False, objects="boxes"
    ) as idx:
        add_paths(idx, [manifest], workers=0)
        (item,) = idx.items(idx.all_vectors("image")[0].tolist()).values()
        assert [(r.label, r.box) for r in item.objects] == [
            ("square", (4.0, 4.0, 44.0, 44.0)),
            ("off the edge", (50.0, 50.0, 96.0, 96.0)),
        ]
        assert idx.vector_count("region") == 2


def test_objects_setting_is_checked() -> None:
    with pytest.raises(ConfigError, match="valid: none, boxes, auto"):
        from memesearch.index import IndexConfig

        IndexConfig(objects="sam3")
