"""The HTTP API and web page of memesearch, built by an app factory (STYLE 11).

``create_app(settings)`` opens the index at startup (or takes an open one), builds one
:class:`~memesearch.search.Searcher`, and serves:

* ``GET /api/health`` (liveness) and ``GET /api/ready`` (index open, item count);
* ``GET /api/search`` (text) and ``POST /api/search/image`` (an uploaded image);
* ``GET /api/items/{id}``, ``/image`` (original bytes), ``/thumbnail`` (WebP);
* ``POST /api/items`` (upload) and ``DELETE /api/items/{id}`` — both need ``Authorization: Bearer <token>``
  of scope write (:mod:`memesearch.serve.auth`; reads need scope read only with ``auth_reads``);
* ``GET /api/tokens`` and ``DELETE /api/tokens/{name}`` (scope admin);
* ``GET /api/emotions`` (the filter vocabulary) and ``GET /api/stats``;
* the web page at ``/`` and the API reference at ``/docs`` (static files of this package, nothing from a
  CDN, so both work offline; ``/docs`` renders ``/openapi.json`` in the browser).

Routes are thin: they validate input, call the index/searcher and return ``to_dict()`` JSON. Every domain
error (:class:`~memesearch.errors.MemesearchError`) becomes a 4xx ``{"error": {"code", "message"}}`` in
one place (:func:`~memesearch.serve.http.error_status`); only a bug in memesearch gives a 500. Reads run
concurrently in the thread pool; writes are serialised by one lock (an upload holds it while it decodes
and embeds, but not the index's lock, so searches go on meanwhile: letting uploads embed in parallel
instead made searches 4x slower at p50 on 2 cores, bench/bench_load.py). Example::

    from memesearch.serve import ServeSettings, create_app
    app = create_app(ServeSettings(index_dir="build/index", token="s3cret-token"))
    # uvicorn.run(app, host="127.0.0.1", port=8000)

This module is the factory and its wiring; the routes live beside it, one module per concern:
:mod:`~memesearch.serve.routes_service` (probes, vocabulary, stats), :mod:`~memesearch.serve.routes_search`,
:mod:`~memesearch.serve.routes_items`, :mod:`~memesearch.serve.auth` (tokens); what they share is in
:mod:`~memesearch.serve.state` and their documented responses in :mod:`~memesearch.serve.api_docs`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from memesearch._version import __version__
from memesearch.index import Index
from memesearch.index.access import TokenStore
from memesearch.search import Searcher
from memesearch.serve import auth, routes_items, routes_search, routes_service
from memesearch.serve import metrics as serve_metrics
from memesearch.serve.api_docs import API_VERSION
from memesearch.serve.http import SecurityHeadersMiddleware, include_routers, install_error_handlers
from memesearch.serve.index_open import open_for_serving
from memesearch.serve.limits import RateLimiter
from memesearch.serve.media_urls import MediaSigner
from memesearch.serve.settings import ServeSettings
from memesearch.serve.state import ServeState

__all__ = ["API_VERSION", "create_app", "create_app_from_env"]

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


def _open_index(settings: ServeSettings) -> tuple[Index, str | None]:
    return open_for_serving(settings.index_dir, model=settings.model)


def create_app(
    settings: ServeSettings, *, index: Index | None = None, read_only_reason: str | None = None
) -> FastAPI:
    """Build the app serving ``index`` (or the index at ``settings.index_dir``, opened at startup).

    An index passed in stays owned by the caller (not closed at shutdown); one opened here is closed.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened: Index | None = None
        if getattr(app.state, "memesearch", None) is None:
            index_open, reason = await run_in_threadpool(_open_index, settings)
            opened = index_open
            searcher = serve_metrics.instrument(app, Searcher(index_open).warm())
            app.state.memesearch = ServeState(
                settings, index_open, searcher, threading.Lock(), read_only_reason=reason
            )
            logger.info("serving %s (%d items)", settings.index_dir, len(index_open))
        try:
            yield
        finally:
            if opened is not None:
                app.state.memesearch = None
                opened.close()

    app = FastAPI(
        title="memesearch",
        version=API_VERSION,
        summary=f"Search memes by text, emotion and image (memesearch {__version__}).",
        description=(
            f"JSON API under `/api` (version {API_VERSION}). Errors are "
            '`{"error": {"code": ..., "message": ...}}`. '
            "Upload and delete need `Authorization: Bearer TOKEN` with a token of scope write "
            "(`memesearch tokens create`); reads need scope read only with `--auth-reads`."
        ),
        lifespan=lifespan,
        # FastAPI's own /docs and /redoc load Swagger UI / ReDoc from a CDN: blank pages offline and
        # against the CSP. /docs is served from this package's static files instead (route below).
        docs_url=None,
        redoc_url=None,
        openapi_tags=[
            {"name": "search", "description": "Text and image search, emotion vocabulary."},
            {"name": "items", "description": "Items, their media and thumbnails; upload and delete."},
            {"name": "service", "description": "Health, readiness, statistics."},
            {"name": "access", "description": "Scoped access tokens (admin)."},
        ],
    )
    app.state.settings = settings
    serve_metrics.install(app, API_VERSION)  # its own registry, the request middleware, GET /metrics
    app.state.media_signer = MediaSigner()  # a fresh random secret per server start (media_urls)
    app.state.rate_limiter = RateLimiter(settings.rate_limit) if settings.rate_limit else None
    app.state.token_store = TokenStore(index.root if index is not None else settings.index_dir)
    if index is not None:
        searcher = serve_metrics.instrument(app, Searcher(index))
        app.state.memesearch = ServeState(
            settings, index, searcher, threading.Lock(), read_only_reason=read_only_reason
        )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )

    app.add_middleware(SecurityHeadersMiddleware)
    install_error_handlers(app)
    # the order of the routers is the order of the paths in /openapi.json (and on /docs)
    include_routers(
        app,
        routes_service.probes,
        routes_search.router,
        routes_items.router,
        routes_service.info,
        auth.router,
    )
    auth.document_scopes(app, auth_reads=settings.auth_reads)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"}
        )

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> FileResponse:
        # static HTML + /static/docs.js, which fetches /openapi.json and builds the reference with DOM methods
        return FileResponse(
            STATIC_DIR / "docs.html", media_type="text/html", headers={"Cache-Control": "no-cache"}
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory memesearch.serve.app:create_app_from_env`` (settings from env)."""
    return create_app(ServeSettings.from_env())
