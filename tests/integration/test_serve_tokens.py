"""Scoped tokens over HTTP: a real server on 127.0.0.1 over a tiny index, tokens made by the CLI.

The matrix: reads are open by default; upload/delete need scope write, /api/tokens admin; a missing or
unknown token is 401, a token of too small a scope 403 naming the scope needed; a token revoked by
``memesearch tokens revoke`` (another process in real use: here the CLI function on the same folder)
or past its expiry is refused on the next request, without restarting the server.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from memesearch.cli.main import main
from memesearch.index import Index
from memesearch.index.access import TOKENS_FILE, TokenStore
from memesearch.serve import ServeSettings, create_app

LEGACY = "legacy-token-0123456789"


def png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (48, 48), colour).save(buf, format="PNG")
    return buf.getvalue()


def cli_token(index: Path, name: str, scope: str, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    assert main(["tokens", "create", "--index", str(index), "--name", name, "--scope", scope, *extra]) == 0
    return capsys.readouterr().out.strip()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code, error
    return str(error["message"])


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    root = tmp_path_factory.mktemp("tokens") / "index"
    idx = Index.create(root, model="tiny-clip:0", ocr=False, emotions=False)
    yield idx
    idx.close()


def upload(client: httpx.Client, colour: tuple[int, int, int], token: str | None) -> httpx.Response:
    files = {"file": ("x.png", png(colour), "image/png")}
    return client.post("/api/items", files=files, headers=bearer(token) if token else {})


def test_scope_matrix_revocation_and_expiry(
    index: Index, live_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    root = index.root
    app = create_app(ServeSettings(index_dir=root), index=index)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        # no write token yet: writes are disabled and say how to enable them
        assert client.get("/api/ready").json()["writes_enabled"] is False
        read = cli_token(root, "reader", "read", capsys)
        message = error_of(upload(client, (1, 2, 3), read), 403, "writes-disabled")
        assert "memesearch tokens create" in message

        write = cli_token(root, "writer", "write", capsys)
        admin = cli_token(root, "boss", "admin", capsys)
        stored = (root / TOKENS_FILE).read_text()
        assert all(t not in stored for t in (read, write, admin))
        ready = client.get("/api/ready").json()
        assert ready["writes_enabled"] is True and ready["reads_need_token"] is False

        # reads are open by default, with or without a token
        assert client.get("/api/search", params={"q": "cat"}).status_code == 200
        assert client.get("/api/stats").status_code == 200
        assert client.get("/api/search", params={"q": "cat"}, headers=bearer(read)).status_code == 200

        # writes: none -> 401, unknown -> 401, read -> 403 naming 'write', write/admin -> allowed
        missing = upload(client, (10, 20, 30), None)
        assert "scope 'write'" in error_of(missing, 401, "unauthorized")
        assert missing.headers["www-authenticate"] == "Bearer"
        error_of(upload(client, (10, 20, 30), "ms_not-a-token"), 401, "unauthorized")
        message = error_of(upload(client, (10, 20, 30), read), 403, "insufficient-scope")
        assert "'write'" in message and "'read'" in message
        created = upload(client, (10, 20, 30), write)
        assert created.status_code == 201, created.text[:300]
        item = created.json()["id"]
        error_of(client.delete(f"/api/items/{item}", headers=bearer(read)), 403, "insufficient-scope")
        error_of(client.delete(f"/api/items/{item}"), 401, "unauthorized")
        assert client.delete(f"/api/items/{item}", headers=bearer(admin)).json()["removed"] == 1
        assert upload(client, (40, 50, 60), admin).status_code == 201

        # admin endpoints: only admin
        error_of(client.get("/api/tokens"), 401, "unauthorized")
        error_of(client.get("/api/tokens", headers=bearer(read)), 403, "insufficient-scope")
        message = error_of(client.get("/api/tokens", headers=bearer(write)), 403, "insufficient-scope")
        assert "'admin'" in message
        listed = client.get("/api/tokens", headers=bearer(admin))
        assert listed.status_code == 200
        assert {t["name"]: t["scope"] for t in listed.json()["tokens"]} == {
            "reader": "read",
            "writer": "write",
            "boss": "admin",
        }
        assert "hash" not in listed.text and write not in listed.text
        assert {t["name"]: t["last_used"] is not None for t in listed.json()["tokens"]}["writer"]

        # revoked by the CLI while the server runs: refused on the next request, no restart
        assert main(["tokens", "revoke", "writer", "--index", str(root)]) == 0
        error_of(upload(client, (70, 80, 90), write), 401, "unauthorized")
        # revoked over HTTP by an admin
        assert client.delete("/api/tokens/reader", headers=bearer(admin)).json()["name"] == "reader"
        error_of(client.delete("/api/tokens/reader", headers=bearer(admin)), 404, "not-found")

        # expired: accepted until its expiry, refused after it
        store = TokenStore(root)
        _, short = store.create("short", scope="write", expires=time.time() + 1.5)
        assert upload(client, (1, 1, 1), short).status_code == 201
        time.sleep(1.6)
        error_of(upload(client, (2, 2, 2), short), 401, "unauthorized")

        # the OpenAPI description declares the bearer scheme on the protected operations
        spec = client.get("/openapi.json").json()
        assert spec["components"]["securitySchemes"]["bearerToken"]["scheme"].lower() == "bearer"
        assert {"bearerToken": []} in spec["paths"]["/api/items"]["post"]["security"]
        assert "/api/tokens" in spec["paths"]


def test_auth_reads_and_the_legacy_token(
    index: Index, live_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    root = index.root
    read = cli_token(root, "reads-only", "read", capsys)
    settings = ServeSettings(index_dir=root, auth_reads=True, token=LEGACY)
    with (
        live_server(create_app(settings, index=index)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/ready").json()["reads_need_token"] is True
        message = error_of(client.get("/api/search", params={"q": "cat"}), 401, "unauthorized")
        assert "scope 'read'" in message
        error_of(client.get("/api/emotions", headers=bearer("ms_wrong")), 401, "unauthorized")
        assert client.get("/api/search", params={"q": "cat"}, headers=bearer(read)).status_code == 200
        assert client.get("/api/stats", headers=bearer(read)).status_code == 200
        # the server's --token keeps working, with every scope
        assert client.get("/api/search", params={"q": "cat"}, headers=bearer(LEGACY)).status_code == 200
        assert upload(client, (5, 6, 7), LEGACY).status_code == 201
        assert client.get("/api/tokens", headers=bearer(LEGACY)).status_code == 200
    assert main(["tokens", "revoke", "reads-only", "--index", str(root)]) == 0


def test_rate_limit_answers_429_with_retry_after(index: Index, live_server: Any) -> None:
    settings = ServeSettings(index_dir=index.root, rate_limit=0.5)  # bursts of 10, then one per 2 s
    with (
        live_server(create_app(settings, index=index)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        statuses = [client.get("/api/emotions").status_code for _ in range(12)]
        assert statuses[:10] == [200] * 10 and statuses[10:] == [429, 429]
        limited = client.get("/api/stats")
        message = error_of(limited, 429, "rate-limited")
        assert "0.5 per second" in message and int(limited.headers["retry-after"]) >= 1
        assert client.get("/api/health").status_code == 200  # liveness is never limited
    # without --rate-limit (the default) there is no limit
    unlimited = create_app(ServeSettings(index_dir=index.root), index=index)
    with live_server(unlimited) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert {client.get("/api/emotions").status_code for _ in range(30)} == {200}
