"""The web page end to end in headless Chromium (Debian ``chromium``, driven by Playwright's Python API).

A real index (starter model, OCR) is served by uvicorn; the browser searches, sees result cards with score
bars and emotion chips, filters by an emotion, switches to Chinese, uploads an image with a scoped write
token and finds it by the words in it. A screenshot of the results is saved to
``test-artifacts/web-results.png``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from memesearch.index import Index
from memesearch.index.access import TokenStore
from memesearch.ingest import add_paths
from memesearch.serve import ServeSettings, create_app
from memesearch.utils.synthetic import word_card

# building the index (encoder, OCR, emotions) takes 15-40 s on 2 busy cores; the tests then take seconds
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "test-artifacts" / "web-results.png"
#: the page uploads with a scoped write token, as `memesearch tokens create --scope write` makes (set by site)
TOKEN: dict[str, str] = {}
CARDS = [
    ("PIZZA PARTY", ["happy", "excited"]),
    ("SO SLEEPY", ["tired"]),
    ("GOOD NIGHT", ["tired"]),
    ("MONDAY AGAIN", ["sad"]),
    ("PARTY TIME", ["happy"]),
    ("ANGRY PARTY", ["angry"]),
]


@pytest.fixture(scope="module")
def web_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Index, Path]]:
    """The index the page is tested on (six word cards) and a file to upload."""
    root = tmp_path_factory.mktemp("web")
    corpus = root / "corpus"
    corpus.mkdir()
    lines = []
    for i, (text, emotions) in enumerate(CARDS):
        word_card(text, (255, 250 - 20 * i, 230 + 4 * i)).save(corpus / f"card-{i}.png")
        lines.append(json.dumps({"path": f"card-{i}.png", "emotions": emotions}) + "\n")
    (corpus / "list.jsonl").write_text("".join(lines), encoding="utf-8")
    upload = root / "to-upload.png"
    word_card("WALRUS DISCO", (210, 235, 255)).save(upload)

    index = Index.create(root / "index", model="starter", calibration=None)  # the weighted sum: fused bars
    summary = add_paths(index, [corpus / "list.jsonl"], workers=0)
    assert not summary.failed and len(summary.indexed) == len(CARDS)
    _, TOKEN["write"] = TokenStore(root / "index").create("browser", scope="write")
    _, TOKEN["read"] = TokenStore(root / "index").create("browser-reads", scope="read")
    yield index, upload
    index.close()


@pytest.fixture(scope="module")
def site(web_index: tuple[Index, Path], live_server: Any) -> Iterator[tuple[str, Path]]:
    index, upload = web_index
    app = create_app(ServeSettings(index_dir=index.root), index=index)
    with live_server(app) as base_url:
        yield base_url, upload


def test_search_filter_language_upload_in_chromium(
    site: tuple[str, Path], chromium: tuple[str, list[str]]
) -> None:
    executable, chromium_args = chromium
    base_url, upload = site
    errors: list[str] = []

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=chromium_args)
        try:
            page = browser.new_page(locale="en-US", viewport={"width": 1200, "height": 900})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(base_url + "/")
            expect = sync_api.expect
            # generous: the machine may be busy, and an upload runs OCR and the encoders before it answers
            expect.set_options(timeout=30_000)
            expect(page.get_by_test_id("search-button")).to_have_text("Search")
            expect(page.get_by_test_id("empty-state")).to_be_visible()
            expect(page.get_by_test_id("emotion-filter")).not_to_have_count(0)

            # 1. search: result cards with score bars and emotion chips
            page.get_by_test_id("search-input").fill("party")
            page.get_by_test_id("search-input").press("Enter")
            cards = page.get_by_test_id("result-card")
            expect(cards).not_to_have_count(0)
            first = cards.first
            expect(first.locator('[data-testid="score-bar"][data-branch="fused"]')).to_have_count(1)
            assert first.get_by_test_id("score-bar").count() >= 2  # fused + at least one branch
            assert cards.get_by_test_id("emotion-chip").count() > 0
            expect(first.locator("img")).to_have_js_property("complete", True)
            assert first.locator("img").evaluate("img => img.naturalWidth") > 0
            assert "q=party" in page.url
            count_all = cards.count()

            # 2. filter by an emotion: every card shows it
            with page.expect_response(lambda r: "/api/search" in r.url and "emotion=tired" in r.url):
                page.locator('[data-testid="emotion-filter"][data-emotion="tired"]').click()
            expect(page.locator('[data-testid="emotion-filter"][data-emotion="tired"]')).to_have_attribute(
                "aria-pressed", "true"
            )
            expect(cards).to_have_count(2)
            for i in range(cards.count()):
                emotions = (
                    cards.nth(i)
                    .get_by_test_id("emotion-chip")
                    .evaluate_all("chips => chips.map(c => c.dataset.emotion)")
                )
                assert "tired" in emotions
            with page.expect_response(lambda r: "/api/search" in r.url and "emotion" not in r.url):
                page.locator('[data-testid="emotion-filter"][data-emotion="tired"]').click()
            expect(cards).to_have_count(count_all)

            # 3. Chinese
            page.get_by_test_id("lang-toggle").click()
            expect(page.get_by_test_id("search-button")).to_have_text("搜索")
            expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
            expect(page.locator('[data-testid="emotion-filter"][data-emotion="tired"]')).to_have_text("困")
            expect(page.locator('[data-testid="emotion-chip"][data-emotion="happy"]').first).to_have_text(
                "开心"
            )
            expect(page.get_by_test_id("status")).to_contain_text("个结果")

            # 4. upload with the token, then find the image by the words in it (read by OCR)
            page.get_by_test_id("upload-panel").locator("summary").click()
            page.get_by_test_id("token-input").fill(TOKEN["write"])
            page.get_by_test_id("upload-input").set_input_files(str(upload))
            page.get_by_test_id("upload-button").click()
            status = page.get_by_test_id("upload-status")
            expect(status).to_have_attribute("data-item-id", re.compile(r"^[0-9a-f]{16}$"), timeout=90_000)
            item_id = status.get_attribute("data-item-id")
            assert page.evaluate("() => sessionStorage.getItem('memesearch.token')") == TOKEN["write"]
            page.get_by_test_id("search-input").fill("walrus disco")
            page.get_by_test_id("search-button").click()
            expect(cards.first).to_have_attribute("data-id", item_id or "")
            expect(page.get_by_test_id("index-info")).to_contain_text(str(len(CARDS) + 1))
            # ... and by image-to-image search with the same file
            with page.expect_response(lambda r: "/api/search/image" in r.url):
                page.get_by_test_id("image-search-input").set_input_files(str(upload))
            expect(cards.first).to_have_attribute("data-id", item_id or "")
            expect(page.get_by_test_id("status")).to_contain_text("to-upload.png")

            # 5. the results page as an artifact
            page.get_by_test_id("lang-toggle").click()
            page.get_by_test_id("search-input").fill("party")
            page.get_by_test_id("search-button").click()
            expect(page.get_by_test_id("status")).to_contain_text("results for")
            page.wait_for_function("() => [...document.images].every(img => img.complete)")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            # 6. a bad query shows the server's message, not a broken page
            page.get_by_test_id("search-input").fill("x" * 2500)
            page.get_by_test_id("search-button").click()
            expect(page.get_by_test_id("error")).to_be_visible()
            expect(page.get_by_test_id("error")).to_contain_text("2000")
        finally:
            sync_api.expect.set_options(timeout=None)  # back to Playwright's default for other tests
            browser.close()

    data = SCREENSHOT.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    # the 400 of the bad query is logged by Chromium as a failed resource load; anything else is a bug
    unexpected = [e for e in errors if "status of 400" not in e]
    assert not unexpected, unexpected


def test_api_docs_page_in_chromium(site: tuple[str, Path], chromium: tuple[str, list[str]]) -> None:
    """/docs works offline: built from /openapi.json by the page's own script, with a working "try it"."""
    executable, chromium_args = chromium
    base_url, _ = site
    errors: list[str] = []
    requested: list[str] = []

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=chromium_args)
        try:
            page = browser.new_page(locale="en-US", viewport={"width": 1200, "height": 900})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda request: requested.append(request.url))
            expect = sync_api.expect
            expect.set_options(timeout=30_000)
            spec = page.request.get(base_url + "/openapi.json").json()
            methods = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
            operations = [(m, p) for p, item in spec["paths"].items() for m in item if m in methods]

            # the main page's footer links here, and the docs link back
            page.goto(base_url + "/")
            page.get_by_role("link", name="API docs").click()
            expect(page).to_have_url(base_url + "/docs")
            expect(page.get_by_test_id("docs-status")).to_have_attribute("data-ready", "true")
            expect(page.get_by_test_id("docs-error")).to_be_hidden()
            expect(page.get_by_test_id("api-title")).to_have_text("memesearch API")

            # every operation of the spec, grouped by tag; each schema of the components
            expect(page.get_by_test_id("operation")).to_have_count(len(operations))
            for method, path in operations:
                op = page.locator(f'[data-testid="operation"][data-method="{method}"][data-path="{path}"]')
                expect(op).to_have_count(1)
                expect(op.get_by_test_id("op-title")).to_contain_text(method.upper())
            expect(page.locator('[data-testid="schema"]')).to_have_count(len(spec["components"]["schemas"]))
            search = page.locator(
                '[data-testid="tag"][data-tag="search"] [data-testid="operation"]'
                '[data-method="get"][data-path="/api/search"]'
            )
            expect(search.get_by_test_id("op-title")).to_have_text("GET /api/search")
            q = search.locator('[data-testid="param"][data-name="q"]')
            expect(q).to_contain_text("query")
            expect(q).to_contain_text("required")
            expect(q).to_contain_text("a chat message")
            k = search.locator('[data-testid="param"][data-name="k"]')
            expect(k).to_contain_text("min: 1")
            expect(k).to_contain_text("max: 200")
            # $refs resolved: the 200 answer names its schema, links to it and lists its fields
            ok = search.locator('[data-testid="response"][data-status="200"]')
            expect(ok.locator("a.schema-ref").first).to_have_text("SearchResult")
            expect(ok.locator('[data-testid="field"][data-name="hits"]')).to_have_count(1)
            upload = page.locator('[data-testid="operation"][data-method="post"][data-path="/api/items"]')
            expect(upload.get_by_test_id("security")).to_contain_text("Needs Authorization: Bearer")
            # reads take no token on this server (no --auth-reads): optional in the spec and on the page
            expect(search.get_by_test_id("security")).to_contain_text("auth optional")
            expect(
                upload.locator('[data-testid="request-content"][data-type="multipart/form-data"]')
            ).to_contain_text("file")
            ok.locator("a.schema-ref").first.click()
            expect(page).to_have_url(base_url + "/docs#schema-SearchResult")
            expect(page.locator('[data-testid="schema"][data-name="SearchResult"]')).to_be_in_viewport()

            # "try it": health, then a search with parameters, then a thumbnail (an image answer)
            health = page.locator('[data-testid="operation"][data-method="get"][data-path="/api/health"]')
            health.get_by_test_id("try-toggle").click()
            health.get_by_test_id("try-send").click()
            expect(health.get_by_test_id("try-status")).to_contain_text("200")
            expect(health.get_by_test_id("try-output")).to_contain_text('"status": "ok"')

            search.get_by_test_id("try-toggle").click()
            search.locator('[data-testid="try-param"][data-name="q"]').fill("party")
            search.locator('[data-testid="try-param"][data-name="k"]').fill("2")
            search.get_by_test_id("try-send").click()
            expect(search.get_by_test_id("try-url")).to_have_text("GET /api/search?q=party&k=2")
            expect(search.get_by_test_id("try-status")).to_contain_text("200")
            output = search.get_by_test_id("try-output")
            expect(output).to_contain_text('"query": "party"')
            shown = json.loads(output.text_content() or "")
            assert len(shown["hits"]) == 2 and shown["hits"][0]["rank"] == 1

            item_id = shown["hits"][0]["id"]
            thumb = page.locator(
                '[data-testid="operation"][data-method="get"][data-path="/api/items/{item_id}/thumbnail"]'
            )
            thumb.get_by_test_id("try-toggle").click()
            thumb.get_by_test_id("try-send").click()  # the path parameter is missing: asked for, not sent
            expect(thumb.get_by_test_id("try-status")).to_contain_text("item_id")
            thumb.locator('[data-testid="try-param"][data-name="item_id"]').fill(item_id)
            thumb.locator('[data-testid="try-param"][data-name="size"]').fill("64")
            thumb.get_by_test_id("try-send").click()
            expect(thumb.get_by_test_id("try-status")).to_contain_text("image/webp")
            expect(thumb.get_by_test_id("try-image")).to_be_visible()
            assert thumb.get_by_test_id("try-image").evaluate("img => img.naturalWidth") == 64

            page.get_by_test_id("back-link").click()
            expect(page).to_have_url(base_url + "/")
        finally:
            sync_api.expect.set_options(timeout=None)
            browser.close()

    assert not errors, errors
    # nothing but this server was asked for anything (blob: is the thumbnail shown from memory)
    assert requested and all(url.startswith((base_url + "/", "blob:")) for url in requested), requested


def test_page_under_auth_reads_asks_for_the_token_and_loads_signed_thumbnails(
    web_index: tuple[Index, Path], live_server: Any, chromium: tuple[str, list[str]]
) -> None:
    """--auth-reads: the page shows the token field (no request refused on load), sends the token with
    every API call once entered, and the thumbnails load through the signed URLs the server gives."""
    index, _ = web_index
    executable, chromium_args = chromium
    errors: list[str] = []
    refused: list[str] = []
    app = create_app(ServeSettings(index_dir=index.root, auth_reads=True), index=index)
    with live_server(app) as base_url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=chromium_args)
        try:
            page = browser.new_page(locale="en-US", viewport={"width": 1200, "height": 900})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("response", lambda r: refused.append(r.url) if r.status == 401 else None)
            expect = sync_api.expect
            expect.set_options(timeout=30_000)
            page.goto(base_url + "/")
            auth = page.get_by_test_id("auth-form")
            expect(auth).to_be_visible()
            expect(page.get_by_test_id("auth-note")).to_contain_text("needs a token")
            token = auth.get_by_test_id("token-input")  # moved up from the upload panel, label "Token"
            expect(token).to_be_visible()
            expect(auth.locator("label")).to_contain_text("Token")
            assert refused == [] and errors == []  # /api/ready said so: nothing was asked without a token

            # a wrong token: the search is refused, the page says so and keeps the field
            token.fill("ms_not-a-real-token")
            page.get_by_test_id("search-input").fill("party")
            page.get_by_test_id("search-input").press("Enter")
            expect(page.get_by_test_id("error")).to_contain_text("unknown, revoked or expired token")
            expect(page.get_by_test_id("auth-note")).to_contain_text("refused")

            # the read token: search works, filters load, every thumbnail loads from its signed URL
            token.fill(TOKEN["read"])
            page.get_by_test_id("token-save").click()
            expect(page.get_by_test_id("emotion-filter")).not_to_have_count(0)
            cards = page.get_by_test_id("result-card")
            expect(cards).not_to_have_count(0)
            expect(page.get_by_test_id("error")).to_be_hidden()
            page.wait_for_function("() => [...document.images].every(img => img.complete)")
            images = cards.locator("img")
            for i in range(images.count()):
                src = images.nth(i).get_attribute("src") or ""
                assert "exp=" in src and "sig=" in src and "size=256" in src, src
                assert images.nth(i).evaluate("img => img.naturalWidth") > 0
            href = cards.first.locator("a.thumb").get_attribute("href") or ""
            assert "/image?exp=" in href and "sig=" in href
            assert page.evaluate("() => sessionStorage.getItem('memesearch.token')") == TOKEN["read"]

            # reloading keeps the token for this tab: results and filters come back without asking
            before = len(refused)
            page.reload()
            expect(page.get_by_test_id("token-input")).to_have_value(TOKEN["read"])
            expect(cards).not_to_have_count(0)
            expect(page.get_by_test_id("emotion-filter")).not_to_have_count(0)
            page.wait_for_function("() => [...document.images].every(img => img.complete)")
            assert cards.first.locator("img").evaluate("img => img.naturalWidth") > 0
            assert len(refused) == before
        finally:
            sync_api.expect.set_options(timeout=None)
            browser.close()
    # the only refusals: the wrong token's search (logged by Chromium as a failed load)
    assert refused and all("/api/search" in url for url in refused), refused
    unexpected = [e for e in errors if "status of 401" not in e]
    assert not unexpected, unexpected
