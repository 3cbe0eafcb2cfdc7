"""The HTTP API end to end: a real index (starter model, OCR, emotions) served by uvicorn, driven by httpx.

One small index is built per module from generated images: word cards (the words are read back by OCR)
and drawn faces, listed in a JSONL manifest that gives each its emotions.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont

from memesearch.index import Index
from memesearch.ingest import add_paths
from memesearch.serve import API_VERSION, ServeSettings, create_app

# building the index (encoder, OCR, emotions) takes 15-40 s on 2 busy cores; the tests then take seconds
pytestmark = pytest.mark.slow

TOKEN = "test-token-0123456789"
MAX_UPLOAD = 256 * 1024

# (words on the card, emotions given by the manifest)
CARDS = [
    ("PIZZA PARTY", ["happy", "excited"]),
    ("SO SLEEPY", ["tired"]),
    ("MONDAY AGAIN", ["sad"]),
    ("I AM ANGRY", ["angry"]),
    ("GOOD NIGHT", ["tired"]),
    ("THANK YOU", ["grateful"]),
    ("NO WAY", ["surprised"]),
    ("STOP IT", ["annoyed"]),
    ("LOVE YOU", ["love"]),
    ("COFFEE FIRST", ["tired"]),
]
# (fill colour, mouth, emotions)
FACES = [
    ((255, 212, 59), "smile", ["happy"]),
    ((116, 192, 252), "frown", ["sad"]),
    ((255, 135, 135), "flat", ["angry"]),
    ((178, 242, 187), "open", ["surprised"]),
    ((255, 212, 59), "flat", ["tired"]),
    ((229, 153, 247), "smile", ["love"]),
    ((255, 192, 120), "frown", ["worried"]),
    ((200, 200, 200), "flat", ["neutral"]),
]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def word_card(text: str, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Black words on a plain background, large enough for OCR."""
    image = Image.new("RGB", (480, 200), background)
    draw = ImageDraw.Draw(image)
    font = _font(48)
    box = draw.textbbox((0, 0), text, font=font)
    x = (image.width - (box[2] - box[0])) // 2
    y = (image.height - (box[3] - box[1])) // 2 - box[1]
    draw.text((x, y), text, fill=(0, 0, 0), font=font)
    return image


def face(fill: tuple[int, int, int], mouth: str) -> Image.Image:
    """A simple drawn face: a disc, two eyes and a mouth."""
    image = Image.new("RGB", (160, 160), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse((10, 10, 150, 150), fill=fill, outline=(60, 60, 60), width=3)
    draw.ellipse((50, 50, 64, 70), fill=(30, 30, 30))
    draw.ellipse((96, 50, 110, 70), fill=(30, 30, 30))
    if mouth == "smile":
        draw.arc((45, 70, 115, 125), 20, 160, fill=(30, 30, 30), width=5)
    elif mouth == "frown":
        draw.arc((45, 100, 115, 150), 200, 340, fill=(30, 30, 30), width=5)
    elif mouth == "open":
        draw.ellipse((65, 95, 95, 130), fill=(30, 30, 30))
    else:
        draw.line((55, 110, 105, 110), fill=(30, 30, 30), width=5)
    return image


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def make_corpus(folder: Path) -> Path:
    """Write the cards and faces plus ``list.jsonl`` (path + emotions); return the list's path."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (text, emotions) in enumerate(CARDS):
        name = f"card-{i:02d}.png"
        word_card(text, background=(255, 255 - 8 * i, 240)).save(folder / name)
        lines.append({"path": name, "emotions": emotions})
    for i, (fill, mouth, emotions) in enumerate(FACES):
        name = f"face-{i:02d}.png"
        face(fill, mouth).save(folder / name)
        lines.append({"path": name, "emotions": emotions})
    manifest = folder / "list.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return manifest


@dataclass
class Served:
    client: httpx.Client
    index: Index
    corpus: Path
    base_url: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, live_server: Any) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve")
    manifest = make_corpus(root / "corpus")
    index = Index.create(root / "index", model="starter", calibration=None)
    summary = add_paths(index, [manifest], workers=0)
    assert not summary.failed, summary.failed
    assert len(summary.indexed) == len(CARDS) + len(FACES)
    settings = ServeSettings(index_dir=root / "index", token=TOKEN, max_upload_bytes=MAX_UPLOAD)
    app = create_app(settings, index=index)
    with live_server(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        yield Served(client, index, root / "corpus", base_url)
    index.close()


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def assert_error(response: httpx.Response, status: int | tuple[int, ...], code: str | None = None) -> str:
    """The response is the API's JSON error with ``status`` (and ``code``); returns its message."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    if code is not None:
        assert error["code"] == code, error
    assert isinstance(error["message"], str) and len(error["message"]) > 10
    return str(error["message"])


def item_id_of(path: Path) -> str:
    """Item ids are the first 16 hex digits of the content's SHA-256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------- tests


def test_health_ready_and_openapi(served: Served) -> None:
    health = served.client.get("/api/health").json()
    assert health["status"] == "ok" and health["api_version"] == API_VERSION
    ready = served.client.get("/api/ready").json()
    assert ready == {
        "ready": True,
        "items": len(served.index),
        "model": "starter",
        "writes_enabled": True,
        "reads_need_token": False,
        "objects": False,
    }

    spec = served.client.get("/openapi.json").json()
    assert spec["info"]["version"] == API_VERSION
    for path in (
        "/api/health",
        "/api/ready",
        "/api/search",
        "/api/search/image",
        "/api/items",
        "/api/items/{item_id}",
        "/api/items/{item_id}/image",
        "/api/items/{item_id}/thumbnail",
        "/api/emotions",
        "/api/stats",
    ):
        assert path in spec["paths"], path
    assert "multipart/form-data" in spec["paths"]["/api/items"]["post"]["requestBody"]["content"]
    assert served.client.get("/docs").status_code == 200

    stats = served.client.get("/api/stats").json()
    assert stats["encoder"] == "starter"


def test_page_and_static_files_are_served_locally(served: Served) -> None:
    page = served.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert 'data-testid="search-input"' in html
    # nothing from another origin: every src/href is local
    assert "http://" not in html and "https://" not in html
    for asset in ("/static/app.js", "/static/style.css", "/static/favicon.svg"):
        response = served.client.get(asset)
        assert response.status_code == 200, asset
        assert "https://" not in response.text


def test_api_docs_page_is_self_contained(served: Served) -> None:
    """/docs is this package's own page (no Swagger UI from a CDN): same-origin files only, under the CSP."""
    page = served.client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe" not in csp
    html = page.text
    assert "//" not in html  # no http://, https:// or protocol-relative //host URL
    assert "swagger" not in html.lower() and "<script>" not in html  # no inline script: the CSP forbids it
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert "/static/docs.js" in refs and "/openapi.json" in refs and "/" in refs
    for ref in refs:
        assert ref.startswith("/"), ref  # every resource and link is on this server
        response = served.client.get(ref)
        assert response.status_code == 200, ref
        if ref.startswith("/static/"):
            assert response.headers["content-security-policy"] == csp
        if ref.endswith((".js", ".css")):  # no imports, fetches or fonts from elsewhere
            assert "https://" not in response.text and "http://" not in response.text, ref
    script = served.client.get("/static/docs.js")
    assert "javascript" in script.headers["content-type"]
    # builds the page with DOM methods only: no HTML parsing of spec text, nothing the CSP would refuse
    code = "\n".join(line for line in script.text.splitlines() if not line.lstrip().startswith("//"))
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert banned not in code, banned
    assert "'/openapi.json'" in code
    assert served.client.get("/static/docs.css").headers["content-type"].startswith("text/css")
    # FastAPI's CDN-based pages are off; the JSON description stays where clients expect it
    assert_error(served.client.get("/redoc"), 404, "not-found")
    assert served.client.get("/openapi.json").json()["paths"]
    assert "/docs" not in served.client.get("/openapi.json").json()["paths"]


def test_search_ranks_with_branch_scores_and_finds_ocr_words(served: Served) -> None:
    response = served.client.get("/api/search", params={"q": "pizza party", "k": 5, "explain": "true"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == "pizza party" and body["k"] == 5
    assert body["total_items"] == len(served.index)
    hits = body["hits"]
    assert 1 <= len(hits) <= 5
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    for hit in hits:
        assert set(hit["scores"]) <= {"image", "text", "lexical"} and hit["scores"]
        assert hit["why"], "explain=true gives reasons"
        assert hit["item"]["id"] == hit["id"]
    # the words are only in the pixels: OCR read them and the text/lexical branches found the card
    top = hits[0]["item"]
    assert "PIZZA" in " ".join(line["text"] for line in top["ocr"]).upper()
    assert {e["emotion"] for e in top["emotions"]} == {"happy", "excited"}


def test_k_bounds(served: Served) -> None:
    one = served.client.get("/api/search", params={"q": "good night", "k": 1})
    assert one.status_code == 200 and len(one.json()["hits"]) == 1
    for bad in ("0", "-3", "100000", "many"):
        message = assert_error(
            served.client.get("/api/search", params={"q": "good night", "k": bad}), 422, "invalid-request"
        )
        assert "k" in message


def test_bad_queries_are_clear_4xx(served: Served) -> None:
    for q in ("", "   ", "\t\n"):
        message = assert_error(served.client.get("/api/search", params={"q": q}), 400, "invalid-query")
        assert "empty" in message
    message = assert_error(served.client.get("/api/search", params={"q": "x" * 10_000}), 400, "invalid-query")
    assert "10000" in message and "2000" in message
    assert_error(served.client.get("/api/search"), 422, "invalid-request")  # no q at all


def test_unknown_filters_list_the_valid_names(served: Served) -> None:
    message = assert_error(
        served.client.get("/api/search", params={"q": "hello", "emotion": "grumpyzzz"}), 400, "unknown-name"
    )
    assert "grumpyzzz" in message and "happy" in message and "tired" in message
    message = assert_error(
        served.client.get("/api/search", params={"q": "hello", "media": "hologram"}), 400, "unknown-name"
    )
    assert "image" in message and "video" in message


def test_emotion_filter_keeps_only_that_emotion(served: Served) -> None:
    body = served.client.get("/api/search", params={"q": "so sleepy", "emotion": "tired", "k": 50}).json()
    hits = body["hits"]
    expected = sum("tired" in e for _, _, e in FACES) + sum("tired" in e for _, e in CARDS)
    assert len(hits) == expected
    for hit in hits:
        assert "tired" in [e["emotion"] for e in hit["item"]["emotions"]]
    # a Chinese word or a synonym names the same emotion; repeated values mean "any of them"
    zh = served.client.get("/api/search", params={"q": "so sleepy", "emotion": "困", "k": 50}).json()
    assert [h["id"] for h in zh["hits"]] == [h["id"] for h in hits]
    both = served.client.get(
        "/api/search", params=[("q", "hello"), ("emotion", "tired"), ("emotion", "angry"), ("k", "50")]
    ).json()
    assert len(both["hits"]) == expected + 2
    emotions = served.client.get("/api/emotions").json()["emotions"]
    by_id = {e["id"]: e for e in emotions}
    assert by_id["tired"]["zh"] == "困" and by_id["angry"]["zh"] == "生气"


def test_item_image_and_thumbnail(served: Served) -> None:
    item_id = item_id_of(served.corpus / "card-01.png")
    item = served.client.get(f"/api/items/{item_id}").json()
    assert item["id"] == item_id and item["media"] == "image" and item["width"] == 480

    image = served.client.get(f"/api/items/{item_id}/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content == (served.corpus / "card-01.png").read_bytes()
    assert image.headers["x-content-type-options"] == "nosniff"

    thumb = served.client.get(f"/api/items/{item_id}/thumbnail", params={"size": 64})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(thumb.content)) as decoded:
        assert decoded.format == "WEBP" and max(decoded.size) <= 64
    assert_error(served.client.get(f"/api/items/{item_id}/thumbnail", params={"size": 5}), 422)


@pytest.mark.parametrize(
    "path",
    [
        "/api/items/..%2F..%2Fetc%2Fpasswd",
        "/api/items/..%2F..%2Fetc%2Fpasswd/image",
        "/api/items/%2E%2E/image",
        "/api/items/..%5C..%5Cwindows/image",
        "/api/items/0123456789abcdef",
        "/api/items/0123456789abcdef/image",
        "/api/items/0123456789abcdef/thumbnail",
        "/api/items/DROP%20TABLE%20items",
        "/api/no-such-endpoint",
    ],
)
def test_ids_that_name_no_item_are_404(served: Served, path: str) -> None:
    assert_error(served.client.get(path), 404)


def test_writes_need_the_token(served: Served, live_server: Any) -> None:
    before = len(served.index)
    files = {"file": ("x.png", png_bytes(face((1, 2, 3), "smile")), "image/png")}
    missing = served.client.post("/api/items", files=files)
    assert_error(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert_error(served.client.post("/api/items", files=files, headers={"Authorization": "Bearer nope"}), 401)
    assert_error(
        served.client.post("/api/items", files=files, headers={"Authorization": f"Basic {TOKEN}"}), 401
    )
    item_id = item_id_of(served.corpus / "face-00.png")
    assert_error(served.client.delete(f"/api/items/{item_id}"), 401)
    assert len(served.index) == before

    # a server started without a token is read-only and says how to enable writes; this app opens the
    # index from its settings at startup (lifespan) and closes it at shutdown
    read_only = create_app(ServeSettings(index_dir=served.index.root))
    with live_server(read_only) as base_url, httpx.Client(base_url=base_url) as client:
        message = assert_error(client.post("/api/items", files=files, headers=auth()), 403, "writes-disabled")
        assert "--token" in message and "MEMESEARCH_TOKEN" in message
        assert client.get("/api/ready").json()["writes_enabled"] is False
        assert client.get("/api/search", params={"q": "no way"}).status_code == 200
    assert len(served.index) == before


def test_upload_then_search_then_delete(served: Served) -> None:
    before = len(served.index)
    data = png_bytes(word_card("ZEBRA CARNIVAL", background=(220, 255, 220)))
    files = {"file": ("../../etc/ZEBRA\u202e carnival.png", data, "image/png")}
    response = served.client.post("/api/items", files=files, headers=auth())
    assert response.status_code == 201, response.text
    body = response.json()
    item_id = body["id"]
    assert body["created"] is True and body["summary"]["indexed"] == 1
    assert body["item"]["source"] == "upload"
    # stored under its content hash inside the index; the client's name is only a sanitized label
    stored = served.index.media_path(item_id)
    assert stored is not None and stored.parent == served.index.root / "media"
    assert stored.stem == body["item"]["sha256"]
    assert "/" not in body["item"]["meta"]["filename"] and ".." not in body["item"]["meta"]["filename"]
    assert len(served.index) == before + 1

    hits = served.client.get("/api/search", params={"q": "zebra carnival", "k": 3}).json()["hits"]
    assert hits[0]["id"] == item_id
    same = served.client.post(
        "/api/search/image", files={"file": ("q.png", data, "image/png")}, params={"k": 3}
    )
    assert same.status_code == 200, same.text
    assert same.json()["hits"][0]["id"] == item_id

    again = served.client.post("/api/items", files={"file": ("again.png", data, "image/png")}, headers=auth())
    assert again.status_code == 200
    assert again.json()["id"] == item_id and again.json()["created"] is False
    assert len(served.index) == before + 1

    deleted = served.client.delete(f"/api/items/{item_id}", headers=auth())
    assert deleted.status_code == 200 and deleted.json() == {"id": item_id, "removed": 1}
    assert len(served.index) == before
    assert_error(served.client.get(f"/api/items/{item_id}"), 404, "not-found")
    assert not stored.exists()
    hits = served.client.get("/api/search", params={"q": "zebra carnival", "k": 50}).json()["hits"]
    assert item_id not in [h["id"] for h in hits]
    assert_error(served.client.delete(f"/api/items/{item_id}", headers=auth()), 404, "not-found")


def test_uploads_over_the_limit_are_413(served: Served) -> None:
    before = len(served.index)
    noise = Image.effect_noise((400, 400), 100).convert("RGB")
    big = png_bytes(noise.resize((800, 800)))
    assert len(big) > MAX_UPLOAD
    # announced by Content-Length: refused before the body is read
    message = assert_error(
        served.client.post("/api/items", files={"file": ("big.png", big, "image/png")}, headers=auth()), 413
    )
    assert "limit" in message

    # no Content-Length (chunked): cut off while counting
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 16 * 1024):
            yield big[start : start + 16 * 1024]

    headers = {**auth(), "Content-Type": "image/png"}
    assert_error(served.client.post("/api/items", content=chunks(), headers=headers), 413, "too-large")
    assert_error(
        served.client.post("/api/search/image", files={"file": ("big.png", big, "image/png")}),
        413,
        "too-large",
    )
    assert len(served.index) == before
    assert served.client.get("/api/search", params={"q": "no way"}).status_code == 200


def test_bad_uploads_are_clear_4xx_and_lose_nothing(served: Served) -> None:
    before = len(served.index)
    good = (served.corpus / "face-00.png").read_bytes()
    cases = {
        "empty.png": (b"", (422,), "empty"),
        "notes.png": (b"these are my notes, not a picture\n" * 20, (415,), "not"),
        "half.png": (good[: len(good) // 2], (415, 422), ""),
        "header-only.png": (good[:40], (415, 422), ""),
    }
    for name, (data, statuses, word) in cases.items():
        response = served.client.post("/api/items", files={"file": (name, data, "image/png")}, headers=auth())
        message = assert_error(response, statuses)
        assert word in message, (name, message)
        assert response.json()["error"]["code"].startswith("media-"), (name, response.text)
    # not multipart / multipart without a file part
    assert_error(
        served.client.post("/api/items", json={"file": "x"}, headers=auth()), 415, "unsupported-body"
    )
    assert_error(
        served.client.post("/api/items", files={"other": ("a.png", good, "image/png")}, headers=auth()),
        422,
        "missing-file",
    )
    assert_error(
        served.client.post("/api/search/image", files={"file": ("t.png", b"hello", "image/png")}), 415
    )
    assert len(served.index) == before
    assert served.client.get("/api/ready").json()["items"] == before


def test_concurrent_searches(served: Served) -> None:
    queries = [
        "pizza party",
        "so sleepy",
        "monday again",
        "good night",
        "thank you",
        "no way",
        "love you",
        "困",
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(lambda q: served.client.get("/api/search", params={"q": q, "k": 3}), queries * 2)
        )
    assert all(r.status_code == 200 for r in responses)
    assert [r.json()["query"] for r in responses] == queries * 2
