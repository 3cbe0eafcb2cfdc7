"""Signed, expiring media URLs: how ``<img>`` tags load thumbnails on a server run with ``--auth-reads``.

A browser cannot send ``Authorization: Bearer`` with an ``<img src>``. So when reads need a token, the
JSON of a search or an item gives each item's ``thumbnail_url`` and ``image_url`` with
``?exp=<unix seconds>&sig=<hex>``: ``sig`` is HMAC-SHA256, keyed by a secret the server draws at random
when it starts (never written anywhere), over the URL's path and ``exp``. The media routes accept such
a URL without a token until ``exp``; a URL of another item or of the other route (image vs thumbnail),
an altered ``exp`` or a signature made with another server's secret is refused (401), compared in
constant time. Restarting the server invalidates the URLs it gave, which costs a new search.

Expiry is between :data:`TTL_S` and ``TTL_S + BUCKET_S`` from now: it is rounded up to a bucket so
that searches within the same few minutes get the same URLs, which the browser then serves from cache.
With reads open the URLs stay plain paths (nothing to sign). Example::

    signer = MediaSigner()
    url = signer.url("/api/items/0123456789abcdef/thumbnail")   # '/api/items/.../thumbnail?exp=..&sig=..'
    signer.verify("/api/items/0123456789abcdef/thumbnail", exp, sig)   # True / False
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Query, Request

from memesearch.serve import auth
from memesearch.serve.http import ApiError

if TYPE_CHECKING:
    from memesearch.serve.settings import ServeSettings

#: signed URLs are valid at least this long (seconds)
TTL_S = 3600
#: ... and expiries are rounded up to a multiple of this, so URLs repeat (cacheable) for a while
BUCKET_S = 600


class MediaSigner:
    """Signs and checks media paths with one secret (random per instance unless given)."""

    def __init__(self, secret: bytes | None = None, *, ttl_s: int = TTL_S, bucket_s: int = BUCKET_S) -> None:
        self._key = secret if secret is not None else secrets.token_bytes(32)
        if len(self._key) < 16:
            raise ValueError("the signing secret must be at least 16 bytes")
        self.ttl_s = ttl_s
        self.bucket_s = max(1, bucket_s)

    def signature(self, path: str, exp: int) -> str:
        message = f"{path}\n{exp}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def expiry(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return math.ceil((now + self.ttl_s) / self.bucket_s) * self.bucket_s

    def url(self, path: str, now: float | None = None) -> str:
        """``path`` with ``?exp=..&sig=..`` appended (``path`` has no query string of its own)."""
        exp = self.expiry(now)
        return f"{path}?exp={exp}&sig={self.signature(path, exp)}"

    def verify(self, path: str, exp: str | int | None, sig: str | None, now: float | None = None) -> bool:
        """True when ``sig`` signs ``path`` and ``exp`` with this secret and ``exp`` is not past."""
        if exp is None or sig is None:
            return False
        text = str(exp)
        if not text.isascii() or not text.isdigit() or len(text) > 12:
            return False
        expected = self.signature(path, int(text))
        ok = hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace"))
        now = time.time() if now is None else now
        return ok and int(text) > now


def signer_of(request: Request) -> MediaSigner:
    signer: MediaSigner | None = getattr(request.app.state, "media_signer", None)
    if signer is None:  # the app factory makes one; created lazily for apps built otherwise
        signer = request.app.state.media_signer = MediaSigner()
    return signer


def media_urls(settings: ServeSettings, signer: MediaSigner, item_id: str) -> dict[str, str]:
    """The item's ``thumbnail_url`` and ``image_url``: signed when reads need a token, plain otherwise."""
    base = f"/api/items/{item_id}"
    paths = {"thumbnail_url": f"{base}/thumbnail", "image_url": f"{base}/image"}
    if not settings.auth_reads:
        return paths
    now = time.time()
    return {name: signer.url(path, now) for name, path in paths.items()}


def add_media_urls(request: Request, item: dict[str, Any]) -> dict[str, Any]:
    """Set ``thumbnail_url`` and ``image_url`` on an item's JSON (in place; returned for chaining)."""
    item_id = item.get("id")
    if isinstance(item_id, str):
        item.update(media_urls(request.app.state.settings, signer_of(request), item_id))
    return item


def with_media_urls(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """A search answer's hits: each hit's item gets its ``thumbnail_url`` and ``image_url``."""
    for hit in body.get("hits", []):
        if isinstance(hit.get("item"), dict):
            add_media_urls(request, hit["item"])
    return body


_read_check = auth.require("read")


def media_access(
    request: Request,
    credentials: auth.Credentials,
    exp: Annotated[
        str | None,
        Query(description="Expiry (unix seconds) of a signed media URL (from thumbnail_url / image_url)."),
    ] = None,
    sig: Annotated[
        str | None,
        Query(description="HMAC-SHA256 signature (hex) of a signed media URL, valid until exp."),
    ] = None,
) -> str | None:
    """Read access to a media route: a read token as for other reads, or (without a token) a valid
    signature of this very path. A bad or expired signature answers 401 like a missing token."""
    settings: ServeSettings = request.app.state.settings
    if not settings.auth_reads or credentials is not None or (exp is None and sig is None):
        return _read_check(request, credentials)
    if signer_of(request).verify(request.url.path, exp, sig):
        return "read"
    raise ApiError(
        401,
        "unauthorized",
        "invalid or expired signed URL: search again for fresh URLs, or send 'Authorization: Bearer TOKEN' "
        "with a token of scope 'read'",
        headers={"WWW-Authenticate": "Bearer"},
    )


auth.register_scope_check(media_access, "read")  # documented in OpenAPI like the other reads
MediaAuth = Annotated[str | None, Depends(media_access)]
