"""HTTP plumbing of the server: the one map from domain errors to HTTP answers, and security headers.

Every error leaves the server as ``{"error": {"code", "message"[, "details"]}}`` with a stable ``code``:
:class:`ApiError` for what the routes refuse themselves, :func:`error_status` for memesearch's domain
errors (bad query -> 400, unreadable media -> 415/422, ...), and 500 only for bugs. An error about one
input names it: ``details: [{"field": "q", "message": ...}]`` and the message starts with ``q: `` (the
request parameter, the uploaded ``file``, the ``body`` or a header) — every 400 and 422 does.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memesearch.enrich.media import MediaError
from memesearch.errors import ConfigError, DataFormatError, MemesearchError, UnknownNameError
from memesearch.search import QueryError
from memesearch.serve.uploads import UploadError

logger = logging.getLogger(__name__)

# The page loads only its own files; the API answers are never rendered as HTML.
_PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# Paths that answer HTML: the page and the API reference (both get the CSP above).
_PAGES = frozenset({"/", "/docs"})

#: media failure reasons answered 415 Unsupported Media Type (the others: 422)
MEDIA_415 = {"not-media", "unsupported"}


#: HTTP names of the domain's argument names (``Searcher.search(text=...)`` is ``GET /api/search?q=``)
_HTTP_FIELDS = {"text": "q", "image": "file"}


class ApiError(Exception):
    """An HTTP error with a stable ``code``, raised by routes and turned into the error JSON.

    ``field`` names the input at fault (a parameter, ``file``, ``body``, a header): it goes into the
    error's ``details`` and in front of the message.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.field = field


def _error_json(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    field: str | None = None,
) -> JSONResponse:
    if field is not None and details is None:
        details = [{"field": field, "message": message}]
        if not re.match(rf"{re.escape(field)}\b", message):  # "min_relevance must be ..." names it already
            message = f"{field}: {message}"
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def include_routers(app: FastAPI, *routers: APIRouter) -> None:
    """``app.include_router`` each router (none with a prefix of its own), and remember them.

    FastAPI keeps an included router's routes behind a wrapper, not in ``app.routes``; :func:`api_routes`
    lists them from the routers remembered here.
    """
    for router in routers:
        app.include_router(router)
    app.state.routers = (*getattr(app.state, "routers", ()), *routers)


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every API route of ``app`` with its full path: the app's own and its routers' (see above)."""
    routes = [r for r in app.router.routes if isinstance(r, APIRoute)]
    for router in getattr(app.state, "routers", ()):
        routes.extend(r for r in router.routes if isinstance(r, APIRoute))
    return routes


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route of the app answers on this path (the ``Allow`` header of a 405)."""
    path = request.url.path
    methods: set[str] = set()
    for route in api_routes(request.app):
        if route.path_regex.match(path):
            methods.update(route.methods or ())
    return sorted(methods)


def error_status(exc: MemesearchError) -> tuple[int, str]:
    """HTTP status and error code of a domain error (the one mapping from domain errors to HTTP)."""
    if isinstance(exc, QueryError):
        return 400, "invalid-query"
    if isinstance(exc, UnknownNameError):
        return 400, "unknown-name"
    if isinstance(exc, MediaError):
        reason = getattr(exc, "reason", None) or "unreadable"
        return (415 if reason in MEDIA_415 else 422), f"media-{reason}"
    if isinstance(exc, DataFormatError):
        return 422, "invalid-data"
    if isinstance(exc, ConfigError):
        return 400, "invalid-config"
    return 400, "invalid-request"


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (for echoing client input in messages)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _validation_message(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    parts, details = [], []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body")]
        where = ".".join(loc) or "request"
        msg = str(err.get("msg", "invalid value"))
        got = f" (got {short_repr(err['input'])})" if "input" in err and err["input"] is not None else ""
        parts.append(f"{where}: {msg}{got}")
        details.append({"field": where, "message": msg})
    return "invalid request parameters: " + "; ".join(parts), details


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error_json(exc.status, exc.code, exc.message, headers=exc.headers, field=exc.field)

    async def upload_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, UploadError)
        # A refused upload may leave body bytes unread: ask the client to open a new connection.
        close = {"Connection": "close"}
        return _error_json(exc.status, exc.code, exc.message, headers=close, field=exc.field)

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MemesearchError)
        status, code = error_status(exc)
        logger.info("%s %s -> %d %s: %s", request.method, request.url.path, status, code, exc)
        field = _HTTP_FIELDS.get(exc.field, exc.field) if exc.field else None
        return _error_json(status, code, str(exc), field=field)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        message, details = _validation_message(exc)
        return _error_json(422, "invalid-request", message, details=details)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        message = str(exc.detail)
        headers = getattr(exc, "headers", None)
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path} (the API is listed at /docs)"
        if exc.status_code == 405:
            # Starlette's Allow lists the first matching route's methods only (GET of /api/items/{id},
            # not its DELETE): list every route's on this path
            allowed = _allowed_methods(request)
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(allowed)}"
        return _error_json(exc.status_code, code, message, headers=headers)

    async def internal_error(request: Request, exc: Exception) -> Response:
        logger.exception("internal error on %s %s", request.method, request.url.path)
        return _error_json(500, "internal", "internal server error (a bug in memesearch; see the server log)")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(UploadError, upload_error)
    app.add_exception_handler(MemesearchError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)


class SecurityHeadersMiddleware:
    """Adds ``nosniff`` and ``no-referrer`` to every answer and a strict CSP to the page's files.

    A plain ASGI middleware (not ``BaseHTTPMiddleware``), so request bodies still stream to the routes.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        page = path in _PAGES or path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if page:
                    headers.setdefault("Content-Security-Policy", _PAGE_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)


#: what a request that is not valid HTTP/1.1 gets (uvicorn answers it before any route runs)
_BAD_HTTP_MESSAGE = (
    "request: this is not a valid HTTP/1.1 request (a malformed request line, header name or value, or "
    "Content-Length); send a well-formed request"
)


def json_error_http_protocol() -> type[Any]:
    """uvicorn's h11 protocol class, with a request that is not valid HTTP answered by the API's JSON error.

    uvicorn answers such a request itself, before the app sees it, with a ``text/plain`` 400; the API
    promises JSON errors everywhere (found by fuzzing: a ``Content-Length: ^`` header). Pass the class as
    ``uvicorn.Config(..., http=json_error_http_protocol())``.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class JsonErrorH11Protocol(H11Protocol):
        def send_400_response(self, msg: str) -> None:
            body = json.dumps(
                {
                    "error": {
                        "code": "bad-http-request",
                        "message": _BAD_HTTP_MESSAGE,
                        "details": [{"field": "request", "message": _BAD_HTTP_MESSAGE[len("request: ") :]}],
                    }
                }
            ).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"connection", b"close"),
            ]
            for event in (
                h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event) or b"")
            self.transport.close()

    return JsonErrorH11Protocol
