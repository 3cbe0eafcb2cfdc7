"""``GET /metrics``: what the server did, for Prometheus (text exposition format).

Each app has its own :class:`~prometheus_client.CollectorRegistry` (``app.state.metrics``), never the
process-global one, so several apps (tests, one process serving two indexes) do not mix their counts.

Metrics (all prefixed ``memesearch_``):

* ``http_requests_total{method, route, status}`` and ``http_request_duration_seconds{method, route}``
  (histogram) — ``route`` is the route's template (``/api/items/{item_id}``), ``<unmatched>`` for paths
  no route serves, so clients cannot blow up the label set;
* ``search_branch_duration_seconds{branch, phase}`` (histogram) — time each search branch (image, text,
  lexical, emotion, objects) spends finding candidates (``candidates``) and scoring them (``score``);
* ``index_items``, ``index_vectors{field}``, ``index_generation`` — read from the open index at scrape
  time;
* ``uploads_total{outcome}`` (``created``, ``existing``, ``failed``), ``upload_failures_total{reason}``
  (the ingest failure reason: ``not-media``, ``too-large``, ...) and ``ingest_stage_duration_seconds{stage}``
  (histogram of the ingest stages of each upload: hash, prepare, enrich, embed, write, ...);
* ``build_info{version, api_version, encoder}`` (always 1).

Folders indexed with ``memesearch index`` are ingested by that command, not by the server: its progress is
what the command prints (``--json``), and the server's index gauges follow it as its writes land.

Access: ``/metrics`` is open like the other reads of a local index; when the server runs with
``--auth-reads`` it needs a token of scope ``admin`` (the counts describe every client's use, which a read
token — given to people who search — need not see). Scrapes are not rate-limited.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memesearch._version import __version__
from memesearch.index.access import scope_allows
from memesearch.serve import schemas
from memesearch.serve.auth import Credentials, open_like_reads, scope_of, token_store
from memesearch.serve.http import ApiError, include_routers

#: request latency buckets (seconds): a cached thumbnail takes a millisecond, an image search a second
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
_PHASES = ("candidates", "candidates_where", "score")


class ServeMetrics:
    """The registry of one app and its metrics (see the module docstring)."""

    def __init__(self, api_version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "memesearch_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "memesearch_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.branch_latency = Histogram(
            "memesearch_search_branch_duration_seconds",
            "Time a search branch spends per query, by phase",
            ["branch", "phase"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.uploads = Counter("memesearch_uploads", "Uploads handled, by outcome", ["outcome"], registry=r)
        self.upload_failures = Counter(
            "memesearch_upload_failures", "Uploads refused by ingest, by reason", ["reason"], registry=r
        )
        self.stage_latency = Histogram(
            "memesearch_ingest_stage_duration_seconds",
            "Time of each ingest stage of an upload",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.api_version = api_version
        self.index: Callable[[], Any] = lambda: None
        r.register(_IndexCollector(self))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _IndexCollector(Collector):
    """Index size and build info, read when Prometheus scrapes."""

    def __init__(self, metrics: ServeMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return []  # dynamic: nothing to check at registration

    def collect(self) -> Iterable[Metric]:
        index = self.metrics.index()
        info = GaugeMetricFamily(
            "memesearch_build_info",
            "memesearch version, API version and encoder",
            labels=["version", "api_version", "encoder"],
        )
        encoder = index.info["encoder"]["name"] if index is not None else ""
        info.add_metric([__version__, self.metrics.api_version, encoder], 1.0)
        yield info
        if index is None:
            return
        yield GaugeMetricFamily("memesearch_index_items", "Items in the index", value=float(len(index)))
        vectors = GaugeMetricFamily("memesearch_index_vectors", "Vectors per field", labels=["field"])
        from memesearch.index.index import vector_fields_of

        for name in vector_fields_of(index.config):  # the stores' counts: no table scan per scrape
            vectors.add_metric([name], float(index.vector_count(name)))
        yield vectors
        yield GaugeMetricFamily(
            "memesearch_index_generation",
            "Committed writes of the index (the database generation)",
            value=float(index.generation),
        )


class _TimedBranch:
    """A search branch whose candidate and score calls are timed into ``search_branch_duration_seconds``;
    everything else is the branch's own."""

    def __init__(self, inner: Any, name: str, histogram: Histogram) -> None:
        self._inner = inner
        self._name = name
        self._histogram = histogram

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if attr not in _PHASES or not callable(value):
            return value
        observe = self._histogram.labels(
            self._name, "candidates" if attr.startswith("cand") else attr
        ).observe

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                observe(time.perf_counter() - t0)

        return timed


def instrument(app: FastAPI, searcher: Any) -> Any:
    """Time ``searcher``'s branches into ``app``'s metrics, and read the index gauges from its index.
    Returns ``searcher``. Call after :meth:`~memesearch.search.Searcher.warm` (it type-checks branches)."""
    metrics: ServeMetrics = app.state.metrics
    searcher.branches = {
        name: _TimedBranch(branch, name, metrics.branch_latency) for name, branch in searcher.branches.items()
    }
    index = searcher.index
    metrics.index = lambda: index
    return searcher


def record_upload(app: FastAPI, summary: Any) -> None:
    """Count an upload's outcome, its failure reasons and its ingest stage times."""
    metrics: ServeMetrics | None = getattr(app.state, "metrics", None)
    if metrics is None:
        return
    for failure in summary.failed:
        metrics.upload_failures.labels(str(failure.reason)).inc()
    outcome = "failed" if summary.failed else ("created" if summary.indexed else "existing")
    metrics.uploads.labels(outcome).inc()
    for stage, st in summary.stages.items():
        metrics.stage_latency.labels(stage).observe(float(st.get("seconds", 0.0)))


class MetricsMiddleware:
    """Counts and times every HTTP request by route template and status (a plain ASGI middleware: it adds
    no task per request and sees the status even of errors turned into JSON)."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = scope.get("method", "GET") if scope.get("method") in _METHODS else "other"
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - t0)


def _admin_when_reads_need_tokens(request: Request, credentials: Credentials) -> None:
    settings = request.app.state.settings
    if not settings.auth_reads:
        return
    need = "admin"
    if credentials is None or not credentials.credentials:
        raise ApiError(
            401,
            "unauthorized",
            f"/metrics needs a token of scope '{need}' on this server (--auth-reads): send "
            "'Authorization: Bearer TOKEN'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    scope = scope_of(settings, token_store(request), credentials.credentials)
    if scope is None:
        raise ApiError(
            401,
            "unauthorized",
            f"unknown, revoked or expired token: /metrics needs a token of scope '{need}'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not scope_allows(scope, need):
        raise ApiError(
            403,
            "insufficient-scope",
            f"/metrics needs a token of scope '{need}'; the token sent has '{scope}'",
        )


router = APIRouter()


@router.get(
    "/metrics",
    tags=["service"],
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        401: {"model": schemas.ErrorResponse, "description": "No valid token (only with --auth-reads)."},
        403: {"model": schemas.ErrorResponse, "description": "The token's scope is not admin."},
    },
)
def metrics_endpoint(request: Request, credentials: Credentials) -> Response:
    """Request counts and latencies per route, search latency per branch, index size, uploads; open like
    the other reads, admin scope with --auth-reads."""
    _admin_when_reads_need_tokens(request, credentials)
    metrics: ServeMetrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


open_like_reads(metrics_endpoint, "admin")  # what the OpenAPI description says (serve/auth.py)


def install(app: FastAPI, api_version: str) -> ServeMetrics:
    """Give ``app`` its registry, the request middleware and ``GET /metrics``."""
    metrics = ServeMetrics(api_version)
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    include_routers(app, router)
    return metrics


__all__ = ["LATENCY_BUCKETS", "MetricsMiddleware", "ServeMetrics", "install", "instrument", "record_upload"]
