"""Hits whose text a captioner wrote say so, on every surface: the result JSON (the captions and the
captioner's name and version), the reasons, ``memesearch search``, the HTTP API and the web page (headless
Chromium: a small label "generated caption (starter-caption)").

One index of a few synthetic pictures built with the shipped ``starter-caption`` captioner (real weights,
real captions) and OCR off; one more picture comes with a given caption from a manifest, so its text is
given and generated. A screenshot is saved to ``test-artifacts/web-generated-caption.png``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from playwright import sync_api

from memesearch.index import Index
from memesearch.ingest import add_paths
from memesearch.search import Searcher
from memesearch.search.calibration import GENERATED_COLUMN
from memesearch.serve import ServeSettings, create_app
from memesearch.utils.synthetic import shapes_image

pytestmark = pytest.mark.slow  # the starter model, the captioner and a server: 10-30 s

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "test-artifacts" / "web-generated-caption.png"
GIVEN = "birthday cake party"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``{"root": index folder, "caption": item 0's generated English caption, "ids": {name: id}}``."""
    root = tmp_path_factory.mktemp("gencap")
    files = root / "files"
    files.mkdir()
    for i in range(4):
        shapes_image(900 + i, (64, 64)).save(files / f"p{i}.png")
    listing = root / "given.jsonl"
    listing.write_text(
        json.dumps({"path": str(files / "p3.png"), "captions": [GIVEN]}) + "\n", encoding="utf-8"
    )
    plain = root / "plain"
    plain.mkdir()
    for i in range(3):
        (plain / f"p{i}.png").write_bytes((files / f"p{i}.png").read_bytes())
    with Index.create(
        root / "idx", model="starter", ocr=False, emotions=False, captioner="starter-caption"
    ) as idx:
        summary = add_paths(idx, [plain, listing], workers=0)
        assert not summary.failed and len(summary.indexed) == 4
        items = {Path(it.paths[0]).stem: it for it in (idx.get(i) for i in summary.indexed) if it}
    caption = items["p0"].meta["generated_captions"][0]["text"]
    assert caption and items["p0"].captions[0] == caption
    assert items["p3"].captions[0] == GIVEN and items["p3"].generated_captions  # given, then generated
    return {"root": root / "idx", "caption": caption, "ids": {k: v.id for k, v in items.items()}}


def _hit(hits: list[dict[str, Any]], item_id: str) -> dict[str, Any]:
    found = [h for h in hits if h["id"] == item_id]
    assert found, [h["id"] for h in hits]
    return found[0]


def test_results_json_reasons_and_calibration_features(built: dict[str, Any]) -> None:
    ids = built["ids"]
    with Index.open(built["root"], readonly=True) as idx:
        searcher = Searcher(idx)
        response = searcher.search(built["caption"], k=10, explain=True).to_dict()
        rowids = np.array([idx.store.rowid_of(ids[n]) for n in ("p0", "p3")])
        shares = searcher.item_features(rowids)[:, GENERATED_COLUMN]
    hit = _hit(response["hits"], ids["p0"])
    generated = hit["generated_caption"]
    assert generated["captioner"]["name"] == "starter-caption" and generated["captioner"]["version"]
    assert built["caption"] in generated["captions"] and generated["only"] is True
    assert any(w.startswith("generated caption (starter-caption) match") for w in hit["why"]), hit["why"]
    mixed = _hit(response["hits"], ids["p3"])
    assert mixed["generated_caption"]["only"] is False and GIVEN not in mixed["generated_caption"]["captions"]
    text_reason = [w for w in mixed["why"] if w.startswith("caption match")]
    assert (
        text_reason
        and f"“{GIVEN}”" in text_reason[0]
        and "a generated caption (starter-caption)" in text_reason[0]
    )
    # what calibration reads: every caption of p0 was generated, half of p3's (or so) was
    assert shares[0] == 1.0 and 0.0 < shares[1] < 1.0


def test_cli_says_which_hits_have_generated_captions(
    built: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from memesearch.cli.main import main as cli

    assert cli(["search", built["caption"], "--index", str(built["root"]), "-k", "10", "--explain"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert f"{built['ids']['p0']}: generated caption (starter-caption): “{built['caption']}”" in out
    assert "generated caption (starter-caption) match" in out  # the reason, with --explain
    assert cli(["search", built["caption"], "--index", str(built["root"]), "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert _hit(hits, built["ids"]["p0"])["generated_caption"]["captioner"]["name"] == "starter-caption"


@pytest.fixture(scope="module")
def site(built: dict[str, Any], live_server: Any) -> Iterator[str]:
    index = Index.open(built["root"])
    app = create_app(ServeSettings(index_dir=built["root"]), index=index)
    with live_server(app) as url:
        yield url
    index.close()


def test_http_api_flags_generated_captions(built: dict[str, Any], site: str) -> None:
    with httpx.Client(base_url=site, timeout=60) as client:
        response = client.get("/api/search", params={"q": built["caption"], "k": 10, "explain": "true"})
        assert response.status_code == 200
        hit = _hit(response.json()["hits"], built["ids"]["p0"])
        spec = client.get("/openapi.json").json()
    assert hit["generated_caption"]["captioner"]["name"] == "starter-caption"
    assert hit["generated_caption"]["captions"][0] == built["caption"]
    assert any("generated caption (starter-caption)" in w for w in hit["why"])
    assert "GeneratedCaptionModel" in spec["components"]["schemas"]


def test_web_page_labels_generated_captions(
    built: dict[str, Any], site: str, chromium: tuple[str, list[str]]
) -> None:
    executable, args = chromium
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=args)
        try:
            page = browser.new_page(locale="en-US", viewport={"width": 1200, "height": 900})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            expect = sync_api.expect
            expect.set_options(timeout=30_000)
            page.goto(site + "/")
            page.get_by_test_id("search-input").fill(built["caption"])
            page.get_by_test_id("search-input").press("Enter")
            card = page.locator(f'[data-testid="result-card"][data-id="{built["ids"]["p0"]}"]')
            expect(card).to_have_count(1)
            label = card.get_by_test_id("generated-label")
            expect(label).to_have_text("generated caption (starter-caption)")
            expect(card.get_by_test_id("generated-caption")).to_contain_text(f"“{built['caption']}”")
            expect(card.get_by_test_id("generated-caption")).to_have_attribute(
                "data-captioner", "starter-caption"
            )
            if card.locator("img").count():
                expect(label).to_be_visible()
            page.get_by_test_id("lang-toggle").click()
            expect(label).to_have_text("生成的描述（starter-caption）")
            page.get_by_test_id("lang-toggle").click()
            page.wait_for_function("() => [...document.images].every(img => img.complete)")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
