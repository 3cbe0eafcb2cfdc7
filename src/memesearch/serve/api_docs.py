"""What the OpenAPI description says beyond the routes' signatures: the API version, the error
responses each kind of route documents, and the body of an upload.

The routes pass these to their decorators (``responses=ERROR_RESPONSES``,
``openapi_extra=UPLOAD_BODY``); nothing here changes how a request is handled.
"""

from __future__ import annotations

from typing import Any

from memesearch.serve import schemas

#: Version of the HTTP API (recorded in OpenAPI and /api/health); bump on an incompatible change.
API_VERSION = "1.0"

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorResponse, "description": "Bad input (query, filter name)."},
    404: {"model": schemas.ErrorResponse, "description": "No such item."},
    401: {"model": schemas.ErrorResponse, "description": "No valid read token (only with --auth-reads)."},
    403: {"model": schemas.ErrorResponse, "description": "The token's scope is too small."},
    429: {"model": schemas.ErrorResponse, "description": "Too many requests (with --rate-limit)."},
    422: {"model": schemas.ErrorResponse, "description": "Invalid parameters or unreadable media."},
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorResponse, "description": "Missing, unknown, revoked or expired token."},
    403: {
        "model": schemas.ErrorResponse,
        "description": "The token's scope is too small, or writes are disabled (no write token exists).",
    },
    409: {
        "model": schemas.ErrorResponse,
        "description": "Another process has the index open for writing; this server serves it read-only.",
    },
}
UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": schemas.ErrorResponse, "description": "The upload is larger than the limit."},
    415: {"model": schemas.ErrorResponse, "description": "Not an image or video."},
}
#: the errors of a route that only reads (no item id, no input to reject)
READ_ONLY_RESPONSES: dict[int | str, dict[str, Any]] = {c: ERROR_RESPONSES[c] for c in (401, 403, 429)}

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
