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

Routes are thin: they validate input, call the index/searcher and return ``to_dict()`` JSON. Every
domain error (:class:`~memesearch.errors.MemesearchError`) becomes a 4xx ``{"error": {"code", "message"}}``
in one place (:func:`_error_status`); only a bug in memesearch gives a 500. Reads run concurrently in
the thread pool; writes are serialised by one lock (an upload holds it while it decodes and embeds, but
not the index's lock, so searches go on meanwhile: letting uploads embed in parallel instead made searches
4x slower at p50 on 2 cores, bench/bench_load.py). Example::

    from memesearch.serve import ServeSettings, create_app
    app = create_app(ServeSettings(index_dir="build/index", token="s3cret-token"))
    # uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from memesearch._version import __version__
from memesearch.index import Index
from memesearch.index.access import TokenStore
from memesearch.ingest import Ingestor
from memesearch.ingest.records import IngestSummary
from memesearch.search import Searcher
from memesearch.search.query_checks import MAX_QUERY_CHARS
from memesearch.serve import auth, schemas
from memesearch.serve import metrics as serve_metrics
from memesearch.serve.api_docs import (
    API_VERSION,
    ERROR_RESPONSES,
    READ_ONLY_RESPONSES,
    UPLOAD_BODY,
    UPLOAD_RESPONSES,
    WRITE_RESPONSES,
)
from memesearch.serve.auth import ReadAuth, WriteAuth
from memesearch.serve.http import (
    MEDIA_415,
    ApiError,
    SecurityHeadersMiddleware,
    include_routers,
    install_error_handlers,
)
from memesearch.serve.index_open import check_writable, open_for_serving
from memesearch.serve.limits import RateLimiter, rate_limit
from memesearch.serve.media_types import sniff_content_type
from memesearch.serve.media_urls import MediaAuth, MediaSigner, add_media_urls, with_media_urls
from memesearch.serve.settings import ServeSettings
from memesearch.serve.state import ServeState, StateDep, check_id, split_names
from memesearch.serve.thumbnails import thumbnail
from memesearch.serve.uploads import read_upload

logger = logging.getLogger(__name__)

#: Largest ``k`` a client may ask for.
MAX_K = 200
#: Thumbnail sizes a client may ask for (pixels, longest side).
MIN_THUMB, MAX_THUMB = 16, 1024

STATIC_DIR = Path(__file__).resolve().parent / "static"


__all__ = ["API_VERSION", "create_app", "create_app_from_env"]

# -------------------------------------------------------------------------------------------- routes

router = APIRouter(prefix="/api", dependencies=[Depends(rate_limit)])


@router.get("/health", response_model=schemas.Health, tags=["service"], summary="Liveness")
def health() -> dict[str, Any]:
    """Answers while the process serves requests, whether or not the index is open."""
    return {"status": "ok", "version": __version__, "api_version": API_VERSION}


@router.get(
    "/ready",
    response_model=schemas.Ready,
    tags=["service"],
    summary="Readiness",
    responses={503: {"model": schemas.ErrorResponse, "description": "The index is not open yet."}},
)
def ready(request: Request, state: StateDep) -> dict[str, Any]:
    """The index is open: how many items it holds, its encoder, and whether writes are enabled."""
    return {
        "ready": True,
        "items": len(state.index),
        "model": state.index.info["encoder"]["name"],
        "writes_enabled": not state.index.readonly
        and auth.writes_enabled(state.settings, auth.token_store(request)),
        "reads_need_token": state.settings.auth_reads,
        "objects": bool(getattr(state.index, "has_regions", False)),
    }


@router.get(
    "/search",
    response_model=schemas.SearchResult,
    tags=["search"],
    summary="Search by text",
    responses=ERROR_RESPONSES,
)
def search(
    request: Request,
    state: StateDep,
    _auth: ReadAuth,
    q: Annotated[
        str,
        Query(
            description="The query: a chat message, a few words, Chinese or English (not blank, at most "
            f"{MAX_QUERY_CHARS} characters).",
            json_schema_extra={"minLength": 1},
        ),
    ],
    k: Annotated[int, Query(ge=1, le=MAX_K, description="How many results.")] = 20,
    emotion: Annotated[
        list[str] | None, Query(description="Keep items with this emotion (repeatable; any of them).")
    ] = None,
    media: Annotated[list[str] | None, Query(description="Keep this media type: image, gif, video.")] = None,
    explain: Annotated[bool, Query(description="Add human-readable reasons to each hit.")] = False,
    min_relevance: Annotated[
        float | None,
        Query(
            ge=0.0, le=1.0, description="Only hits whose calibrated relevance is at least this probability."
        ),
    ] = None,
    objects: Annotated[
        bool,
        Query(
            description="Rank by the items' regions (an index built with --objects); each hit carries the "
            "matched region's box."
        ),
    ] = False,
) -> dict[str, Any]:
    """Ranked items for a text query with fused and per-branch scores and the calibrated relevance."""
    response = state.searcher.search(
        q,
        k=k,
        emotion=split_names(emotion),
        media=split_names(media),
        explain=explain,
        min_relevance=min_relevance,
        objects=objects,
    )
    return with_media_urls(request, response.to_dict())


@router.post(
    "/search/image",
    response_model=schemas.SearchResult,
    tags=["search"],
    summary="Search by image",
    responses={**ERROR_RESPONSES, **UPLOAD_RESPONSES},
    openapi_extra=UPLOAD_BODY,
)
async def search_image(
    request: Request,
    state: StateDep,
    _auth: ReadAuth,
    k: Annotated[int, Query(ge=1, le=MAX_K, description="How many results.")] = 20,
    emotion: Annotated[list[str] | None, Query(description="Emotion filter (repeatable).")] = None,
    media: Annotated[list[str] | None, Query(description="Media type filter.")] = None,
    explain: Annotated[bool, Query(description="Add human-readable reasons to each hit.")] = False,
    box: Annotated[
        str | None,
        Query(
            description="Search by the object in this box of the image: x0,y0,x1,y1 in pixels (against the "
            "items' regions when the index keeps them)."
        ),
    ] = None,
) -> dict[str, Any]:
    """Items that look like the uploaded image (multipart part ``file``), same limits as uploads."""
    picked = _parse_box(box)
    upload = await read_upload(request, max_bytes=state.settings.max_upload_bytes)
    if not upload.data:
        raise ApiError(422, "media-empty", "the uploaded file is empty (0 bytes)", field="file")
    response = await run_in_threadpool(
        lambda: state.searcher.search_image(
            upload.data,
            k=k,
            emotion=split_names(emotion),
            media=split_names(media),
            explain=explain,
            box=picked,
        )
    )
    return with_media_urls(request, response.to_dict())


def _parse_box(text: str | None) -> tuple[float, float, float, float] | None:
    from memesearch.errors import DataFormatError
    from memesearch.objects.regions import parse_box

    if text is None:
        return None
    try:
        return parse_box(text)
    except DataFormatError as exc:
        raise ApiError(422, "invalid-box", str(exc), field="box") from None


@router.get(
    "/items/{item_id}",
    response_model=schemas.ItemModel,
    tags=["items"],
    summary="One item",
    responses=ERROR_RESPONSES,
)
def get_item(request: Request, state: StateDep, _auth: ReadAuth, item_id: str) -> dict[str, Any]:
    """Everything the index knows about one item: OCR lines, emotions, paths, sizes."""
    item = state.index.get(check_id(item_id))
    if item is None:
        raise ApiError(404, "not-found", f"no item with id {item_id!r} in this index")
    return add_media_urls(request, item.to_dict())


@router.get(
    "/items/{item_id}/image",
    tags=["items"],
    summary="Original media",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/*": {}, "video/*": {}}},
        **{code: ERROR_RESPONSES[code] for code in (401, 403, 404)},
    },
)
def get_image(state: StateDep, _auth: MediaAuth, item_id: str) -> FileResponse:
    """The item's original bytes with their content type (detected from the bytes, not the name).

    With --auth-reads: a read token, or the signed URL of the item's ``image_url`` (``exp``, ``sig``)."""
    path = state.index.media_path(check_id(item_id))
    if path is None:
        raise ApiError(404, "not-found", f"no item with id {item_id!r} in this index")
    path = Path(path)
    if not path.is_file():
        raise ApiError(404, "media-missing", f"the file of item {item_id} is gone from disk ({path.name})")
    return FileResponse(
        path,
        media_type=sniff_content_type(path),
        headers={"Cache-Control": "private, max-age=3600", "Content-Security-Policy": "sandbox"},
    )


@router.get(
    "/items/{item_id}/thumbnail",
    tags=["items"],
    summary="Thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/webp": {}}}, **ERROR_RESPONSES},
)
def get_thumbnail(
    state: StateDep,
    _auth: MediaAuth,
    item_id: str,
    size: Annotated[int, Query(ge=MIN_THUMB, le=MAX_THUMB, description="Longest side in pixels.")] = 256,
) -> Response:
    """A WebP thumbnail of the item's first frame (cached by the index).

    With --auth-reads: a read token, or the signed URL of the item's ``thumbnail_url`` (``exp``, ``sig``;
    any ``size``)."""
    data = thumbnail(state.index, check_id(item_id), size=size)
    if data is None:
        raise ApiError(404, "not-found", f"no item with id {item_id!r} in this index (or its file is gone)")
    return Response(data, media_type="image/webp", headers={"Cache-Control": "private, max-age=3600"})


@router.post(
    "/items",
    response_model=schemas.UploadResult,
    status_code=201,
    tags=["items"],
    summary="Add an image or video (token)",
    responses={
        200: {"model": schemas.UploadResult, "description": "The same bytes were already indexed."},
        **ERROR_RESPONSES,
        **WRITE_RESPONSES,
        **UPLOAD_RESPONSES,
    },
    openapi_extra=UPLOAD_BODY,
)
async def add_item(request: Request, state: StateDep, _auth: WriteAuth) -> Response:
    """Index one uploaded file (multipart part ``file``, or a raw image/video body).

    The file is stored by the index under its content hash; the client's filename is only kept,
    sanitized, as metadata. Uploading bytes that are already indexed answers 200 with that item.
    """
    upload = await read_upload(request, max_bytes=state.settings.max_upload_bytes)
    if not upload.data:
        raise ApiError(
            422,
            "media-empty",
            "the uploaded file is empty (0 bytes): choose an image or video file",
            field="file",
        )

    check_writable(state.index, state.read_only_reason)

    def write() -> IngestSummary:
        with state.write_lock:
            return Ingestor(state.index).add_bytes(upload.data, source="upload", filename=upload.filename)

    summary = await run_in_threadpool(write)
    serve_metrics.record_upload(request.app, summary)
    if summary.failed:
        failure = summary.failed[0]
        status = 415 if failure.reason in MEDIA_415 else 422
        raise ApiError(status, f"media-{failure.reason}", failure.message, field="file")
    created = bool(summary.indexed)
    ids = summary.indexed or summary.existing
    item = state.index.get(ids[0]) if ids else None
    if item is None:
        logger.error("upload of %d bytes gave no item: %s", len(upload.data), summary.to_dict())
        raise ApiError(500, "internal", "the upload was read but no item was added (see the server log)")
    item_json = add_media_urls(request, item.to_dict())
    body = {"id": item.id, "created": created, "summary": summary.to_dict(), "item": item_json}
    return JSONResponse(body, status_code=201 if created else 200)


@router.delete(
    "/items/{item_id}",
    response_model=schemas.DeleteResult,
    tags=["items"],
    summary="Remove an item (token)",
    responses={**ERROR_RESPONSES, **WRITE_RESPONSES},
)
def delete_item(state: StateDep, _auth: WriteAuth, item_id: str) -> dict[str, Any]:
    """Remove the item from the index (uploaded media files are deleted with it)."""
    # Index.remove also accepts paths and folders: only ever pass it the id of an existing item.
    check_id(item_id)
    check_writable(state.index, state.read_only_reason)
    with state.write_lock:
        if state.index.get(item_id) is None:
            raise ApiError(404, "not-found", f"no item with id {item_id!r} in this index")
        removed = state.index.remove([item_id])
    return {"id": item_id, "removed": removed}


@router.get(
    "/emotions",
    response_model=schemas.Emotions,
    tags=["search"],
    summary="Emotion vocabulary",
    responses=READ_ONLY_RESPONSES,
)
def emotions(_auth: ReadAuth) -> dict[str, Any]:
    """The bilingual emotion words the ``emotion`` filter accepts (for filter chips)."""
    return {"emotions": emotion_entries()}


@router.get(
    "/stats",
    response_model=schemas.Stats,
    tags=["service"],
    summary="Index statistics",
    responses=READ_ONLY_RESPONSES,
)
def stats(state: StateDep, _auth: ReadAuth) -> dict[str, Any]:
    """Counts, encoders and storage parameters of the index."""
    return dict(state.index.stats())


def emotion_entries() -> list[dict[str, Any]]:
    """The emotion vocabulary as ``[{"id", "en", "zh", "synonyms"}]`` for the API and the page.

    ``id`` is the canonical English word the ``emotion`` filter and the items' emotions use.
    """
    from memesearch.data.emotions import emotion_vocabulary

    return [
        {"id": e["emotion"], "en": e["emotion"], "zh": e["zh"], "synonyms": list(e.get("synonyms", []))}
        for e in emotion_vocabulary()
    ]


# ------------------------------------------------------------------------------------------ the app


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
    include_routers(app, router, auth.router)
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
