"""``GET /metrics`` end to end: a real server on 127.0.0.1 over a tiny index; what Prometheus scrapes moves
with what clients do (requests per route and status, search branch latency, index size, uploads and their
failures); each app counts alone; with ``--auth-reads`` it takes an admin token; the OpenAPI declares it as
``text/plain``."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from memesearch._version import __version__
from memesearch.cli.main import main
from memesearch.index import Index
from memesearch.serve import ServeSettings, create_app


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), colour).save(buf, format="PNG")
    return buf.getvalue()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _token(index: Path, name: str, scope: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["tokens", "create", "--index", str(index), "--name", name, "--scope", scope]) == 0
    return capsys.readouterr().out.strip()


@pytest.fixture
def index(tmp_path: Path) -> Any:
    idx = Index.create(tmp_path / "index", model="tiny-clip:0", ocr=False, emotions=False)
    yield idx
    idx.close()


def test_metrics_follow_requests_searches_and_uploads(
    index: Index, live_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    write = _token(index.root, "writer", "write", capsys)
    app = create_app(ServeSettings(index_dir=index.root), index=index)
    other = create_app(ServeSettings(index_dir=index.root), index=index)  # its own registry
    auth = {"Authorization": f"Bearer {write}"}
    with live_server(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        first = client.get("/metrics")
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/plain")
        before = _samples(first.text)
        assert _value(before, "memesearch_index_items") == 0
        for colour in ((200, 0, 0), (0, 200, 0), (0, 0, 200)):
            r = client.post("/api/items", files={"file": ("x.png", _png(colour), "image/png")}, headers=auth)
            assert r.status_code == 201, r.text
        again = client.post(
            "/api/items", files={"file": ("x.png", _png((200, 0, 0)), "image/png")}, headers=auth
        )
        assert again.status_code == 200
        bad = client.post(
            "/api/items", files={"file": ("x.png", b"not an image at all", "image/png")}, headers=auth
        )
        assert bad.status_code in (415, 422)
        for q in ("red", "green square", "blue"):
            assert client.get("/api/search", params={"q": q, "k": 2}).status_code == 200
        assert client.get("/api/items/0123456789abcdef").status_code == 404
        assert client.get("/no/such/path/at/all").status_code == 404
        after = _samples(client.get("/metrics").text)

    def count(route: str, status: str, method: str = "GET") -> float:
        return _value(after, "memesearch_http_requests_total", method=method, route=route, status=status)

    assert count("/api/search", "200") == 3
    assert count("/api/items", "201", "POST") == 3 and count("/api/items", "200", "POST") == 1
    assert count("/api/items/{item_id}", "404") == 1
    assert count("<unmatched>", "404") == 1  # a path no route serves is not a label of its own
    assert count("/metrics", "200") == 1  # the first scrape (this one is counted when it ends)
    search_time = _value(
        after, "memesearch_http_request_duration_seconds_count", method="GET", route="/api/search"
    )
    assert search_time == 3
    assert (
        _value(after, "memesearch_http_request_duration_seconds_sum", method="GET", route="/api/search") > 0
    )
    # per branch: the image and lexical branches ran for each of the 3 searches
    for branch in ("image", "lexical"):
        n = _value(after, "memesearch_search_branch_duration_seconds_count", branch=branch, phase="score")
        assert n == 3, (branch, n)
    assert _value(after, "memesearch_index_items") == 3
    assert _value(after, "memesearch_index_vectors", field="image") == 3
    assert _value(after, "memesearch_index_generation") >= 3
    assert _value(after, "memesearch_uploads_total", outcome="created") == 3
    assert _value(after, "memesearch_uploads_total", outcome="existing") == 1
    failed = _value(after, "memesearch_uploads_total", outcome="failed")
    reasons = sum(v for (name, _), v in after.items() if name == "memesearch_upload_failures_total")
    assert failed + count("/api/items", "415", "POST") >= 1 and reasons == failed
    assert _value(after, "memesearch_ingest_stage_duration_seconds_count", stage="embed") == 3
    info = {"version": __version__, "api_version": "1.0", "encoder": "tiny-clip:0"}
    assert _value(after, "memesearch_build_info", **info) == 1
    # another app over the same index counted nothing
    assert other.state.metrics is not app.state.metrics
    assert (
        _value(_samples(other.state.metrics.render().decode()), "memesearch_uploads_total", outcome="created")
        == 0
    )


def test_metrics_need_admin_with_auth_reads(
    index: Index, live_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    read = _token(index.root, "reader", "read", capsys)
    admin = _token(index.root, "boss", "admin", capsys)
    app = create_app(ServeSettings(index_dir=index.root, auth_reads=True), index=index)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/metrics").status_code == 401
        denied = client.get("/metrics", headers={"Authorization": f"Bearer {read}"})
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "insufficient-scope"
        ok = client.get("/metrics", headers={"Authorization": f"Bearer {admin}"})
        assert ok.status_code == 200 and "memesearch_http_requests_total" in ok.text


def test_openapi_declares_metrics_as_text(index: Index) -> None:
    app = create_app(ServeSettings(index_dir=index.root), index=index)
    op = app.openapi()["paths"]["/metrics"]["get"]
    assert list(op["responses"]["200"]["content"]) == ["text/plain"]
    assert op["responses"]["401"]["content"]["application/json"]
