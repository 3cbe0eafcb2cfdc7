"""Object-centric search (issue 14) end to end on a small collages build (real npm emoji, starter model):
``memesearch index --objects auto`` -> the ``objects`` branch -> ``memesearch search --objects --json``
with the matched region's box, the HTTP API's ``objects=true``, and ``memesearch evaluate --objects``.
Skips only when npm is absent and the emoji packages are missing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from memesearch.cli.main import main
from memesearch.data.emoji.sources import default_npm_cache, ensure_packages, installed_version
from memesearch.data.formats import read_dataset
from memesearch.index import Index
from memesearch.models.regions import region_crop
from memesearch.objects import box_iou
from memesearch.search import Searcher
from memesearch.search.branches import ObjectsBranch, SearchQuery

PACKAGES = [
    "emoji-datasource-google",
    "emoji-datasource-twitter",
    "emoji-datasource-facebook",
    "emojibase-data",
]


@pytest.fixture(scope="module")
def collages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = default_npm_cache()
    if shutil.which("npm") is None and any(installed_version(p, cache) is None for p in PACKAGES):
        pytest.skip(f"npm is not installed and the emoji npm packages are not in {cache}: install Node.js")
    ensure_packages(PACKAGES, cache, progress=False)
    out = tmp_path_factory.mktemp("collages") / "collages"
    argv = ["datasets", "build", "collages", "--out", str(out), "--seed", "5", "--size", "256"]
    argv += ["--counts", "train=0,val=8,test=12,test-seen=0", "--backgrounds", "plain", "--no-progress"]
    assert main([*argv, "--npm-cache", str(cache), "--workers", "1"]) == 0
    return out


@pytest.fixture(scope="module")
def index_dir(collages: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("idx") / "idx"
    argv = ["index", str(collages), "--index", str(root), "--splits", "test", "--objects", "auto"]
    assert main([*argv, "--no-ocr", "--no-emotions", "--workers", "0", "--no-progress"]) == 0
    return root


def test_objects_branch_finds_the_region_of_a_known_emoji(collages: Path, index_dir: Path) -> None:
    ds = read_dataset(collages)
    with Index.open(index_dir, readonly=True) as idx:
        branch = ObjectsBranch(idx)
        assert branch.available
        checked = 0
        for item in ds["test"].items[:4]:
            rowid = idx.rowid_by_sha(_sha(item.resolve_path(ds.root)))
            assert rowid is not None
            image = Image.open(item.resolve_path(ds.root)).convert("RGB")
            found = idx.regions([rowid])[rowid]
            for truth in item.objects:
                near = max(found, key=lambda r, t=truth: box_iou(r.box, t.box))  # type: ignore[misc]
                if box_iou(near.box, truth.box) < 0.9:
                    continue  # auto missed this emoji (3% of plain backgrounds)
                # the query: this emoji as the tower sees it cut out of the collage
                vec = idx.encoder.encode_image([region_crop(image, near.box, near.decoded_mask())])[0]
                best, rid = branch.best_regions([SearchQuery(None, vec)], np.array([rowid]))
                region = found[int(rid[0, 0]) % 64]
                assert box_iou(region.box, truth.box) >= 0.9, (item.id, truth.label)
                assert best[0, 0] == pytest.approx(1.0, abs=1e-4)
                checked += 1
        assert checked >= 8


def _sha(path: Path) -> str:
    from memesearch.utils.io import sha256_file

    return sha256_file(str(path))


def test_search_objects_json_carries_the_region(
    collages: Path, index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = read_dataset(collages)
    label = ds["test"].items[0].objects[0].label
    assert label
    assert main(["search", label, "--index", str(index_dir), "--objects", "--json", "-k", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hits"] and "objects" in out["hits"][0]["scores"]
    for hit in out["hits"]:
        region = hit["region"]
        x0, y0, x1, y1 = region["box"]
        assert 0 <= x0 < x1 <= hit["item"]["width"] and 0 <= y0 < y1 <= hit["item"]["height"]
        assert isinstance(region["score"], float)
        assert any(o["box"] == [round(v, 2) for v in region["box"]] for o in hit["item"]["objects"])
    # without --objects: no region, and the plain search still works
    assert main(["search", label, "--index", str(index_dir), "--json", "-k", "5"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert all(h["region"] is None for h in plain["hits"])


def test_objects_search_ranks_by_regions_better_than_by_the_whole_image(
    collages: Path, index_dir: Path
) -> None:
    ds = read_dataset(collages)
    queries = [q for q in ds["test"].queries if q.meta.get("lang") == "en"]
    ids = {}
    with Index.open(index_dir, readonly=True) as idx:
        for item in ds["test"].items:
            ids[idx.get(_sha(item.resolve_path(ds.root))[:16]).id] = item.id  # type: ignore[union-attr]
        searcher = Searcher(idx, weights={"image": 1.0})
        hits = {"image": 0, "objects": 0}
        for q in queries:
            for mode in hits:
                resp = searcher.search(q.text, k=3, objects=mode == "objects")
                hits[mode] += any(q.qrels.get(ids[h.id], 0) > 0 for h in resp.hits)
    assert hits["objects"] > hits["image"], hits


def test_an_index_without_regions_says_how_to_get_them(collages: Path, tmp_path: Path) -> None:
    from memesearch.search.query_checks import QueryError

    root = tmp_path / "plain"
    argv = ["index", str(collages), "--index", str(root), "--splits", "val"]
    assert main([*argv, "--no-ocr", "--no-emotions", "--workers", "0", "--no-progress"]) == 0
    with Index.open(root, readonly=True) as idx, pytest.raises(QueryError, match="--objects auto"):
        Searcher(idx).search("cat", objects=True)


def test_http_search_with_objects_returns_the_region(collages: Path, index_dir: Path) -> None:
    from fastapi.testclient import TestClient

    from memesearch.serve import ServeSettings, create_app

    ds = read_dataset(collages)
    label = ds["test"].items[1].objects[0].label
    with Index.open(index_dir, readonly=True) as idx:
        app = create_app(ServeSettings(index_dir=index_dir), index=idx)
        with TestClient(app) as client:
            assert client.get("/api/ready").json()["objects"] is True
            body = client.get("/api/search", params={"q": label, "k": 3, "objects": "true"}).json()
            assert len(body["hits"]) == 3
            for hit in body["hits"]:
                assert len(hit["region"]["box"]) == 4 and isinstance(hit["region"]["score"], float)
            plain = client.get("/api/search", params={"q": label, "k": 3}).json()
            assert all(h["region"] is None for h in plain["hits"])
            # image search by one object of the image: the box picks it
            item = ds["test"].items[1]
            data = item.resolve_path(ds.root).read_bytes()  # type: ignore[union-attr]
            box = ",".join(str(v) for v in item.objects[0].box)
            files = {"file": ("q.png", data, "image/png")}
            found = client.post("/api/search/image", params={"box": box, "k": 2}, files=files).json()
            assert box_iou(found["hits"][0]["region"]["box"], item.objects[0].box) >= 0.9
            bad = client.post("/api/search/image", params={"box": "1,2,3"}, files=files)
            assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid-box"


@pytest.mark.slow
def test_web_page_draws_the_matched_box(
    collages: Path, index_dir: Path, live_server: Any, chromium: tuple[str, list[str]]
) -> None:
    from playwright import sync_api

    from memesearch.serve import ServeSettings, create_app

    ds = read_dataset(collages)
    label = ds["test"].items[2].objects[0].label
    executable, args = chromium
    errors: list[str] = []
    with Index.open(index_dir, readonly=True) as idx:
        app = create_app(ServeSettings(index_dir=index_dir), index=idx)
        with live_server(app) as base_url, sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, headless=True, args=args)
            try:
                page = browser.new_page(locale="en-US", viewport={"width": 1200, "height": 900})
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(base_url + "/")
                expect = sync_api.expect
                expect.set_options(timeout=30_000)
                expect(page.get_by_test_id("objects-toggle")).to_be_visible()
                page.get_by_test_id("objects-toggle").check()
                page.get_by_test_id("search-input").fill(label)
                page.get_by_test_id("search-button").click()
                first = page.get_by_test_id("result-card").first
                box = first.get_by_test_id("region-box")
                expect(box).to_have_count(1)
                # the box sits inside the thumbnail, sized in percent of the image
                first.locator("img").evaluate(
                    "im => im.complete && im.naturalWidth ? 0 "
                    ": new Promise(r => im.addEventListener('load', r))"
                )
                img = first.locator("img").bounding_box()
                drawn = box.bounding_box()
                assert img is not None and drawn is not None
                assert (
                    img["x"] - 1 <= drawn["x"] and drawn["x"] + drawn["width"] <= img["x"] + img["width"] + 1
                )
                assert 0 < drawn["width"] < img["width"]
            finally:
                browser.close()
    assert not errors, errors


def test_evaluate_objects_on_a_tiny_build(collages: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    argv = ["evaluate", "--objects", "--dataset", str(collages), "--split", "test", "--out", str(out)]
    assert main(argv) == 0
    report = json.loads((out / "objects.json").read_text())
    names = [r["name"] for r in report["rows"]]
    assert names == [
        "full image",
        "crop (auto)",
        "masked-crop (auto)",
        "mask-pool (auto)",
        "crop (truth boxes, oracle)",
        "masked-crop (truth boxes, oracle)",
        "mask-pool (truth boxes, oracle)",
    ]
    assert report["counts"] == {**report["counts"], "items": 12, "queries": 82, "truth_objects": 41}
    full, masked = report["rows"][0], report["rows"][2]
    assert full["localised"] is None and 0.0 <= masked["localised"] <= 1.0
    for row in report["rows"]:
        m = row["metrics"]
        assert 0.0 <= m["R@1"] <= m["R@5"] <= m["R@10"] <= 1.0 and m["MdR"] >= 1
    assert masked["metrics"]["R@10"] > full["metrics"]["R@10"]
    assert "| full image |" in (out / "objects.md").read_text()
    rt = report["region_text"]
    assert list(rt) == ["full", "crop", "masked-crop", "mask-pool"]
    assert all(r["regions"] == 41 for r in rt.values())
    for r in rt.values():
        assert 0.0 <= r["t2i"]["R@1"] <= r["t2i"]["R@10"] <= 1.0 and r["mean_rank"] >= 1
    # a region's own embedding names its emoji better than its whole collage does
    assert rt["crop"]["i2t"]["R@10"] > rt["full"]["i2t"]["R@10"]


def test_search_by_one_object_of_an_image(
    collages: Path, index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = read_dataset(collages)
    item = ds["test"].items[3]
    path = item.resolve_path(ds.root)
    truth = item.objects[0]
    box = ",".join(str(v) for v in truth.box)
    argv = ["search", "--image", str(path), "--box", box, "--index", str(index_dir), "--json", "-k", "3"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    top = out["hits"][0]
    assert top["item"]["sha256"] == _sha(path)  # the object's own collage first: its region is the same cut
    assert box_iou(top["region"]["box"], truth.box) >= 0.9
    assert top["scores"]["objects"] > 0.95
    assert main(["search", "--box", box, "--index", str(index_dir)]) == 2
    assert "--image" in capsys.readouterr().err


def test_python_api_objects(collages: Path, index_dir: Path) -> None:
    from memesearch import api

    ds = read_dataset(collages)
    label = ds["test"].items[0].objects[1].label
    resp = api.search_index(str(label), index=index_dir, k=2, objects=True)
    assert all(h.region is not None and len(h.region["box"]) == 4 for h in resp.hits)
