"""Who may do what over HTTP: bearer tokens with scopes (read < write < admin).

Two sources of tokens, checked on every request:

* the index's scoped tokens (``memesearch tokens create --index DIR``), kept hashed in the index
  folder (:class:`~memesearch.index.access.TokenStore`); re-read when the file changes, so a revoked or
  expired token is refused at once, without a restart;
* the server's single token (``--token`` / ``MEMESEARCH_TOKEN``), kept for compatibility: it has the
  ``admin`` scope (it was the one operator token before scopes existed).

Reads (search, items, media, stats) are open unless the server runs with ``--auth-reads``; upload and
delete need ``write``; token management (``/api/tokens``) needs ``admin``. A missing or unknown token
answers 401 (with ``WWW-Authenticate: Bearer``), a token of too small a scope 403
``insufficient-scope``; both messages name the scope needed.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from memesearch.index.access import SCOPES, TokenStore, scope_allows
from memesearch.serve import schemas
from memesearch.serve.http import ApiError, api_routes, short_repr
from memesearch.serve.limits import rate_limit

if TYPE_CHECKING:
    from memesearch.serve.settings import ServeSettings

bearer = HTTPBearer(
    scheme_name="bearerToken",
    auto_error=False,
    description=(
        "A token from `memesearch tokens create --index DIR --scope read|write|admin`, or the server's "
        "--token (admin). Upload/delete need scope write, /api/tokens admin; reads need scope read only "
        "when the server runs with --auth-reads."
    ),
)

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

#: the dependency functions made by :func:`require`, with the scope each one lets through
_SCOPE_CHECKS: dict[Callable[..., Any], str] = {}
#: endpoints that check the token themselves, open like the reads: the scope they need with --auth-reads
_READ_LIKE_ENDPOINTS: dict[Callable[..., Any], str] = {}


def open_like_reads(endpoint: Callable[..., Any], scope: str) -> None:
    """Document ``endpoint`` (which checks tokens itself) as open like the reads, needing ``scope`` when the
    server runs with ``--auth-reads`` (``GET /metrics``: admin)."""
    assert scope in SCOPES
    _READ_LIKE_ENDPOINTS[endpoint] = scope


def register_scope_check(check: Callable[..., Any], scope: str) -> None:
    """Document a dependency made elsewhere (media routes: token or signed URL) as a check of ``scope``."""
    assert scope in SCOPES
    _SCOPE_CHECKS[check] = scope


def token_store(request: Request) -> TokenStore:
    store: TokenStore | None = getattr(request.app.state, "token_store", None)
    if store is None:
        raise ApiError(503, "not-ready", "the index is not open yet; retry in a moment")
    return store


def writes_enabled(settings: ServeSettings, store: TokenStore) -> bool:
    """A token that may write exists: the server's own, or a write/admin token of the index."""
    return settings.token is not None or any(scope_allows(r.scope, "write") for r in store.records())


def scope_of(settings: ServeSettings, store: TokenStore, secret: str) -> str | None:
    """The scope the presented token grants, or None when it is unknown, revoked or expired."""
    legacy = settings.token
    legacy_ok = legacy is not None and hmac.compare_digest(secret.encode(), legacy.encode())
    record = store.verify(secret)
    if legacy_ok:
        return "admin"
    return record.scope if record is not None else None


def require(need: str) -> Callable[..., Any]:
    """A dependency letting a request through only with a token of scope ``need`` or more."""
    assert need in SCOPES

    def check(request: Request, credentials: Credentials) -> str | None:
        settings: ServeSettings = request.app.state.settings
        store = token_store(request)
        if need == "read" and not settings.auth_reads:
            return None
        if need != "read" and not writes_enabled(settings, store):
            raise ApiError(
                403,
                "writes-disabled",
                "uploads and deletes are disabled on this server: create a token with 'memesearch tokens "
                "create --index DIR --scope write' (or start it with --token TOKEN / MEMESEARCH_TOKEN) and "
                "send 'Authorization: Bearer TOKEN'",
            )
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            raise ApiError(
                401,
                "unauthorized",
                f"this endpoint needs a token of scope '{need}': send 'Authorization: Bearer TOKEN'",
                headers=challenge,
            )
        scope = scope_of(settings, store, credentials.credentials)
        if scope is None:
            raise ApiError(
                401,
                "unauthorized",
                f"unknown, revoked or expired token: this endpoint needs a token of scope '{need}'",
                headers=challenge,
            )
        if not scope_allows(scope, need):
            raise ApiError(
                403,
                "insufficient-scope",
                f"this endpoint needs a token of scope '{need}'; the token sent has scope '{scope}'",
            )
        return scope

    _SCOPE_CHECKS[check] = need
    return check


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


def route_scope(route: APIRoute) -> str | None:
    """The scope a route's token check asks for (``read``, ``write``, ``admin``), or None: no check."""
    for call in _calls(route.dependant):
        if call in _SCOPE_CHECKS:
            return _SCOPE_CHECKS[call]
    return None


def document_scopes(app: FastAPI, *, auth_reads: bool) -> None:
    """Make ``app.openapi()`` state the token each operation needs, as this server enforces it.

    FastAPI marks every route with the bearer dependency as requiring the token; but reads take no token
    unless the server runs with ``--auth-reads``. On such a server their security becomes optional
    (``[{}, {"bearerToken": []}]``), so that clients and API fuzzers read the truth. Each operation's
    description also says which scope it needs.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        _drop_null_query_branches(schema)
        for route in api_routes(app):
            need = route_scope(route) if route.include_in_schema else None
            read_like = _READ_LIKE_ENDPOINTS.get(route.endpoint) if route.include_in_schema else None
            if need is None and read_like is None:
                continue
            for method in route.methods or ():
                op = schema["paths"][route.path_format][method.lower()]
                if read_like is not None:
                    need, enforced = read_like, auth_reads
                else:
                    assert need is not None
                    enforced = need != "read" or auth_reads
                if not enforced:
                    op["security"] = [{}, {bearer.scheme_name: []}]
                note = (
                    f"Needs a token of scope `{need}` (`Authorization: Bearer TOKEN`)."
                    if enforced
                    else "No token needed on this server (it runs without `--auth-reads`)."
                )
                op["description"] = f"{op.get('description', '').rstrip()}\n\n{note}".lstrip()
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _drop_null_query_branches(schema: dict[str, Any]) -> None:
    """``emotion: list[str] | None = None`` renders as ``anyOf: [array, null]``; a query string cannot carry
    a null (an absent parameter is the None), so the parameter's schema is the non-null branch alone."""
    for ops in schema.get("paths", {}).values():
        for op in ops.values():
            for param in op.get("parameters", []) if isinstance(op, dict) else []:
                inner = param.get("schema", {})
                branches = inner.get("anyOf")
                if param.get("in") != "query" or param.get("required") or not isinstance(branches, list):
                    continue
                kept = [b for b in branches if b != {"type": "null"}]
                if len(kept) == 1 and len(kept) < len(branches):
                    rest = {k: v for k, v in inner.items() if k != "anyOf"}
                    param["schema"] = {**kept[0], **rest}


ReadAuth = Annotated[str | None, Depends(require("read"))]
WriteAuth = Annotated[str | None, Depends(require("write"))]
AdminAuth = Annotated[str | None, Depends(require("admin"))]


# ------------------------------------------------------------------------------------ admin routes

router = APIRouter(prefix="/api/tokens", tags=["access"], dependencies=[Depends(rate_limit)])

_ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorResponse, "description": "Missing, unknown, revoked or expired token."},
    403: {"model": schemas.ErrorResponse, "description": "The token's scope is not admin."},
}


@router.get(
    "", response_model=schemas.TokenList, summary="List access tokens (admin)", responses=_ADMIN_RESPONSES
)
def list_tokens(request: Request, _auth: AdminAuth) -> dict[str, Any]:
    """The index's tokens: name, id, scope, created, expiry, last use (never the tokens or their hashes)."""
    return {"tokens": [r.public() for r in token_store(request).records()]}


@router.delete(
    "/{name_or_id}",
    response_model=schemas.TokenInfo,
    summary="Revoke an access token (admin)",
    responses={**_ADMIN_RESPONSES, 404: {"model": schemas.ErrorResponse, "description": "No such token."}},
)
def revoke_token(request: Request, _auth: AdminAuth, name_or_id: str) -> dict[str, Any]:
    """Delete a token by name or id; it is refused from the next request on."""
    from memesearch.errors import UnknownNameError

    try:
        return token_store(request).revoke(name_or_id).public()
    except UnknownNameError:
        raise ApiError(404, "not-found", f"no token named or with id {short_repr(name_or_id)}") from None
