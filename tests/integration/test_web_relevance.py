"""Calibrated relevance on the web page, end to end in headless Chromium (Playwright's Python API).

Two servers over the same small index (starter model, OCR): one as built (no calibration), one with a
hand-made calibration whose relevance we control: only the lexical branch counts, ``p = sigmoid(8 · score
- 3)``, so a card whose words contain the query (BM25 score 0.775 for "party") is a likely match (96%) and
the others (score 0) are not (5%); the text and image branches are present with zero weight, so their bars
still show. The page must put the likely cards first, grey out the rest behind a toggle, say plainly when
nothing is likely, and behave as before on the uncalibrated server. A screenshot is saved to
``test-artifacts/web-relevance.png`` (and the
"nothing likely" page in Chinese to ``web-relevance-none-zh.png``).
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from memesearch.eval.tune import record
from memesearch.index import Index
from memesearch.ingest import add_paths
from memesearch.search.calibration import FEATURES, BranchCalibration, Calibration
from memesearch.serve import ServeSettings, create_app
from memesearch.utils.synthetic import word_card

pytestmark = pytest.mark.slow  # building the index (encoder, OCR) takes 10-40 s

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "test-artifacts" / "web-relevance.png"
SCREENSHOT_NONE = REPO / "test-artifacts" / "web-relevance-none-zh.png"  # nothing likely, in Chinese
CARDS = ["PIZZA PARTY", "SO SLEEPY", "GOOD NIGHT", "MONDAY AGAIN", "PARTY TIME", "ANGRY PARTY"]
PARTY = {0, 4, 5}  # the cards whose words contain "party"


def lexical_calibration() -> Calibration:
    """Relevance = sigmoid(8 · lexical score - 3); text and image scored but weightless."""
    score_only = [8.0] + [0.0] * (len(FEATURES) - 1)
    zero = [0.0] * len(FEATURES)
    return Calibration(
        branches={
            "lexical": BranchCalibration(score_only, -3.0),
            "text": BranchCalibration(zero, 0.0),
            "image": BranchCalibration(zero, 0.0),
        },
        fusion_intercept=0.0,
        fusion_weights={"lexical": 1.0, "text": 0.0, "image": 0.0},
        missing={},
        fitted_on={"by": "test_web_relevance (hand-made)"},
    )


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory, live_server: Any) -> Iterator[dict[str, Any]]:
    """``{"plain": url, "calibrated": url, "ids": [item id of each card], "card": a card's file}``."""
    root = tmp_path_factory.mktemp("webrel")
    corpus = root / "corpus"
    corpus.mkdir()
    for i, text in enumerate(CARDS):
        word_card(text, (255, 250 - 20 * i, 230 + 4 * i)).save(corpus / f"card-{i}.png")
    with Index.create(root / "plain", model="starter", calibration=None) as built:
        summary = add_paths(built, [corpus], workers=0)
        assert not summary.failed and len(summary.indexed) == len(CARDS)
    shutil.copytree(root / "plain", root / "calibrated")
    plain = Index.open(root / "plain")
    calibrated = Index.open(root / "calibrated")
    record(calibrated, lexical_calibration().to_dict())
    # an item's id is the first 16 hex digits of its content's SHA-256
    ids = [
        hashlib.sha256((corpus / f"card-{i}.png").read_bytes()).hexdigest()[:16] for i in range(len(CARDS))
    ]
    assert all(plain.get(i) is not None for i in ids)
    plain_app = create_app(ServeSettings(index_dir=root / "plain"), index=plain)
    calibrated_app = create_app(ServeSettings(index_dir=root / "calibrated"), index=calibrated)
    with live_server(plain_app) as plain_url, live_server(calibrated_app) as calibrated_url:
        yield {"plain": plain_url, "calibrated": calibrated_url, "ids": ids, "card": corpus / "card-1.png"}
    plain.close()
    calibrated.close()


def test_relevance_toggle_and_uncalibrated_page_in_chromium(
    sites: dict[str, Any], chromium: tuple[str, list[str]]
) -> None:
    executable, chromium_args = chromium
    ids = sites["ids"]
    party_ids = {ids[i] for i in PARTY}
    other_ids = set(ids) - party_ids
    errors: list[str] = []

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=chromium_args)
        try:
            page = browser.new_page(locale="en-US", viewport={"width": 1200, "height": 900})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            expect = sync_api.expect
            expect.set_options(timeout=30_000)

            # the fixture's calibration does what the docstring says (else the page checks mean nothing)
            api = page.request.get(sites["calibrated"] + "/api/search?q=party&k=24").json()
            assert api["calibrated"] is True and len(api["hits"]) == len(CARDS)
            relevance = {h["id"]: h["relevance"] for h in api["hits"]}
            assert all(relevance[i] > 0.9 for i in party_ids), relevance
            assert all(relevance[i] < 0.1 for i in other_ids), relevance
            assert all(math.isclose(h["score"], h["relevance"]) for h in api["hits"])

            page.goto(sites["calibrated"] + "/")
            likely = page.get_by_test_id("results").get_by_test_id("result-card")
            unlikely = page.get_by_test_id("unlikely-results").get_by_test_id("result-card")
            toggle = page.get_by_test_id("unlikely-toggle")
            notice = page.get_by_test_id("no-likely")

            # 1. likely matches first, with their relevance; the rest hidden behind the toggle
            page.get_by_test_id("search-input").fill("party")
            page.get_by_test_id("search-input").press("Enter")
            expect(page.get_by_test_id("status")).to_contain_text("3 likely matches of 6 results for “party”")
            expect(likely).to_have_count(3)
            assert set(likely.evaluate_all("cards => cards.map(c => c.dataset.id)")) == party_ids
            for i in range(3):
                card = likely.nth(i)
                expect(card).to_be_visible()
                expect(card).not_to_have_class(re.compile(r"\bunlikely\b"))
                expect(card.get_by_test_id("relevance")).to_have_text("likely match 96%")
                expect(card.get_by_test_id("relevance")).to_be_visible()
                bar = card.locator('[data-testid="score-bar"][data-branch="relevance"]')
                expect(bar).to_contain_text("Relevance")
                expect(bar).to_contain_text("96%")
                for branch in ("lexical", "text", "image"):  # the branch bars are still there
                    expect(card.locator(f'[data-testid="score-bar"][data-branch="{branch}"]')).to_have_count(
                        1
                    )
                expect(card.locator('[data-testid="score-bar"][data-branch="fused"]')).to_have_count(0)
            expect(notice).to_be_hidden()
            expect(toggle).to_be_visible()
            expect(toggle).to_have_text("Show 3 less likely results")
            expect(toggle).to_have_attribute("aria-expanded", "false")
            expect(toggle).to_have_attribute("aria-controls", "unlikely-results")
            expect(unlikely).to_have_count(3)
            for i in range(3):
                expect(unlikely.nth(i)).to_be_hidden()

            # 2. the toggle, from the keyboard: the rest appear, greyed out, labelled as less likely
            toggle.focus()
            page.keyboard.press("Enter")
            expect(toggle).to_have_attribute("aria-expanded", "true")
            expect(toggle).to_have_text("Hide the less likely results")
            expect(toggle).to_be_focused()
            assert set(unlikely.evaluate_all("cards => cards.map(c => c.dataset.id)")) == other_ids
            for i in range(3):
                card = unlikely.nth(i)
                expect(card).to_be_visible()
                expect(card).to_have_class(re.compile(r"\bunlikely\b"))
                expect(card.get_by_test_id("relevance")).to_have_text("less likely 5%")
            image_filter = unlikely.first.locator("img").evaluate("img => getComputedStyle(img).filter")
            assert "grayscale" in image_filter, image_filter
            assert likely.first.locator("img").evaluate("img => getComputedStyle(img).filter") == "none"

            # 3. Chinese, then the toggle again (with the mouse): hidden again
            page.get_by_test_id("lang-toggle").click()
            expect(toggle).to_have_text("隐藏不太可能匹配的结果")
            expect(likely.first.get_by_test_id("relevance")).to_have_text("很可能匹配 96%")
            expect(unlikely.first.get_by_test_id("relevance")).to_have_text("不太可能 5%")
            expect(likely.first.locator('[data-branch="relevance"]')).to_contain_text("相关度")
            expect(page.get_by_test_id("status")).to_contain_text("6 个结果中有 3 个很可能匹配")
            toggle.click()
            expect(toggle).to_have_attribute("aria-expanded", "false")
            expect(toggle).to_have_text("显示另外 3 个不太可能匹配的结果")
            expect(unlikely.first).to_be_hidden()
            page.get_by_test_id("lang-toggle").click()
            expect(toggle).to_have_text("Show 3 less likely results")

            # 4. the screenshot: likely matches, the toggle, the greyed-out rest
            toggle.click()
            expect(unlikely.first).to_be_visible()
            page.wait_for_function("() => [...document.images].every(img => img.complete)")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            # 5. nothing likely: said plainly, the closest results shown greyed out, and the toggle hides them
            page.get_by_test_id("search-input").fill("walrus")
            page.get_by_test_id("search-button").click()
            expect(notice).to_be_visible()
            expect(notice).to_have_text("No likely match for “walrus” — showing the closest results.")
            expect(likely).to_have_count(0)
            expect(unlikely).to_have_count(len(CARDS))
            expect(unlikely.first).to_be_visible()
            expect(page.get_by_test_id("empty-state")).to_be_hidden()
            expect(toggle).to_have_attribute("aria-expanded", "true")
            page.get_by_test_id("lang-toggle").click()
            expect(notice).to_have_text("没有很可能匹配“walrus”的结果——下面是最接近的结果。")
            page.wait_for_function("() => [...document.images].every(img => img.complete)")
            page.screenshot(path=str(SCREENSHOT_NONE), full_page=True)
            page.get_by_test_id("lang-toggle").click()
            toggle.click()
            expect(toggle).to_have_attribute("aria-expanded", "false")
            expect(toggle).to_have_text("Show 6 less likely results")
            expect(unlikely.first).to_be_hidden()
            expect(notice).to_have_text("No likely match for “walrus”.")
            page.get_by_test_id("lang-toggle").click()
            expect(notice).to_have_text("没有很可能匹配“walrus”的结果。")
            page.get_by_test_id("lang-toggle").click()

            # 6. a new search starts collapsed again; image search is not calibrated: no toggle, no labels
            page.get_by_test_id("search-input").fill("party")
            page.get_by_test_id("search-button").click()
            expect(notice).to_be_hidden()
            expect(likely).to_have_count(3)
            expect(toggle).to_have_attribute("aria-expanded", "false")
            with page.expect_response(lambda r: "/api/search/image" in r.url):
                page.get_by_test_id("image-search-input").set_input_files(str(sites["card"]))
            expect(page.get_by_test_id("status")).to_contain_text("results like the image")
            expect(likely).to_have_count(len(CARDS))
            expect(page.get_by_test_id("unlikely-bar")).to_be_hidden()
            expect(page.get_by_test_id("relevance")).to_have_count(0)

            # 7. an uncalibrated index: the page as before (fused bar, no relevance, no toggle)
            page.goto(sites["plain"] + "/?q=party")
            expect(page.get_by_test_id("status")).to_contain_text("6 results for “party”")
            cards = page.get_by_test_id("result-card")
            expect(cards).to_have_count(len(CARDS))
            for i in range(len(CARDS)):
                expect(cards.nth(i)).to_be_visible()
            expect(page.locator('[data-testid="score-bar"][data-branch="fused"]')).to_have_count(len(CARDS))
            expect(page.get_by_test_id("relevance")).to_have_count(0)
            expect(page.locator('[data-branch="relevance"]')).to_have_count(0)
            expect(page.locator(".card.unlikely")).to_have_count(0)
            expect(toggle).to_be_hidden()
            expect(notice).to_be_hidden()
            expect(page.get_by_test_id("unlikely-results")).to_be_hidden()
        finally:
            sync_api.expect.set_options(timeout=None)
            browser.close()

    data = SCREENSHOT.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert not errors, errors
