"""Signed media URLs on a real server on 127.0.0.1 run with --auth-reads.

A search with a read token answers thumbnail/image URLs that load without any header (what an ``<img>``
tag needs); the bare media paths, a tampered signature, a pushed-back expiry or another item's signature
answer 401 JSON. With reads open the URLs are plain paths and load as before.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image

from memesearch.index import Index
from memesearch.index.access import TokenStore
from memesearch.ingest import Ingestor
from memesearch.serve import ServeSettings, create_app


def png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (48, 40), colour).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    root = tmp_path_factory.mktemp("signed") / "index"
    idx = Index.create(root, model="tiny-clip:0", ocr=False, emotions=False)
    ingest = Ingestor(idx)
    ingest.add_bytes(png((200, 30, 30)), filename="red.png", captions=["a red cat"])
    ingest.add_bytes(png((30, 30, 200)), filename="blue.png", captions=["a blue cat"])
    yield idx
    idx.close()


def unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "unauthorized"


def test_signed_urls_load_without_a_header_and_nothing_else_does(index: Index, live_server: Any) -> None:
    _, read = TokenStore(index.root).create("page", scope="read")
    app = create_app(ServeSettings(index_dir=index.root, auth_reads=True), index=index)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert url.startswith("http://127.0.0.1:")
        unauthorized(client.get("/api/search", params={"q": "cat"}))
        found = client.get("/api/search", params={"q": "cat"}, headers={"Authorization": f"Bearer {read}"})
        assert found.status_code == 200, found.text[:300]
        items = [hit["item"] for hit in found.json()["hits"]]
        assert len(items) == 2
        first, second = items
        for item in items:
            for name in ("thumbnail_url", "image_url"):
                query = parse_qs(urlsplit(item[name]).query)
                assert set(query) == {"exp", "sig"} and len(query["sig"][0]) == 64, item[name]
        # signed: loads with no header at all (thumbnail at any size, and the original bytes)
        thumb = client.get(first["thumbnail_url"] + "&size=32")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
        assert Image.open(io.BytesIO(thumb.content)).size[0] == 32
        image = client.get(first["image_url"])
        assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"
        # the same item's JSON carries signed URLs too
        one = client.get(f"/api/items/{first['id']}", headers={"Authorization": f"Bearer {read}"}).json()
        assert client.get(one["thumbnail_url"]).status_code == 200

        # unsigned, tampered, pushed back, another item's or the other route's signature: 401 JSON
        path, query = first["thumbnail_url"].split("?")
        exp, sig = parse_qs(query)["exp"][0], parse_qs(query)["sig"][0]
        unauthorized(client.get(path))
        unauthorized(client.get(first["image_url"].split("?")[0]))
        flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
        unauthorized(client.get(path, params={"exp": exp, "sig": flipped}))
        unauthorized(client.get(path, params={"exp": int(exp) + 86_400, "sig": sig}))
        unauthorized(client.get(path, params={"exp": "soon", "sig": sig}))
        unauthorized(client.get(path, params={"sig": sig}))
        other_path = urlsplit(second["thumbnail_url"]).path
        unauthorized(client.get(other_path, params={"exp": exp, "sig": sig}))
        unauthorized(client.get(path.replace("/thumbnail", "/image"), params={"exp": exp, "sig": sig}))
        # a signature never opens anything else: the item's JSON still needs the token
        unauthorized(client.get(f"/api/items/{first['id']}", params={"exp": exp, "sig": sig}))
        # a token still works on the media routes, signature or not
        assert client.get(path, headers={"Authorization": f"Bearer {read}"}).status_code == 200

    # another server (a restart) draws a new secret: the old URLs are refused
    again = create_app(ServeSettings(index_dir=index.root, auth_reads=True), index=index)
    with live_server(again) as url, httpx.Client(base_url=url, timeout=60) as client:
        unauthorized(client.get(first["thumbnail_url"]))


def test_open_reads_keep_plain_urls(index: Index, live_server: Any) -> None:
    app = create_app(ServeSettings(index_dir=index.root), index=index)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        hits = client.get("/api/search", params={"q": "cat"}).json()["hits"]
        item = hits[0]["item"]
        assert item["thumbnail_url"] == f"/api/items/{item['id']}/thumbnail"
        assert item["image_url"] == f"/api/items/{item['id']}/image"
        assert client.get(item["thumbnail_url"]).status_code == 200
        # exp/sig are ignored where reads are open
        assert client.get(item["image_url"], params={"exp": "1", "sig": "x"}).status_code == 200


def test_openapi_declares_the_signature_parameters(index: Index) -> None:
    from fastapi.testclient import TestClient

    app = create_app(ServeSettings(index_dir=index.root, auth_reads=True), index=index)
    with TestClient(app) as client:
        spec = client.get("/openapi.json").json()
    for route in ("thumbnail", "image"):
        op = spec["paths"][f"/api/items/{{item_id}}/{route}"]["get"]
        params = {p["name"]: p for p in op["parameters"] if p["in"] == "query"}
        assert {"exp", "sig"} <= set(params) and not params["sig"].get("required")
        assert "signed URL" in op["description"] and op["security"] == [{"bearerToken": []}]
    item = spec["components"]["schemas"]["ItemModel"]["properties"]
    assert {"thumbnail_url", "image_url"} <= set(item)
