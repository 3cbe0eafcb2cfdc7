"""``memesearch search --server URL``: send the query to a running ``memesearch serve`` instead of opening
the index here (nothing is loaded in this process: no index, no encoder, no model).

It speaks the server's HTTP API — ``GET /api/search`` for a text query, ``POST /api/search/image`` with
the image as the raw body for ``--image`` — and gets back the same JSON ``memesearch search --json``
prints, which the command prints the same way as a local search. A server started with ``--auth-reads``
needs a token of scope read: ``--token`` or ``$MEMESEARCH_TOKEN`` is sent as ``Authorization: Bearer``.
Only the standard library is used (``urllib``): the point is a fast start.

Example::

    >>> data = search_remote("http://127.0.0.1:8000", query="so sleepy", k=5)   # doctest: +SKIP
    >>> [h["id"] for h in data["hits"]]                                          # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit
from urllib.request import Request, urlopen

from memesearch.errors import ConfigError, DataFormatError, MemesearchError

#: seconds to wait for the server's answer (a first query may load the model on the server)
TIMEOUT_S = 60.0


class RemoteSearchError(MemesearchError):
    """The server answered with an error, or could not be reached."""


def search_remote(
    server: str,
    *,
    query: str | None = None,
    image: Path | None = None,
    k: int = 20,
    emotion: list[str] | None = None,
    media: list[str] | None = None,
    explain: bool = False,
    min_relevance: float | None = None,
    objects: bool = False,
    box: str | None = None,
    token: str | None = None,
    timeout: float = TIMEOUT_S,
) -> dict[str, Any]:
    """One search on the server at ``server`` (``http://host:port``, with or without a path prefix):
    the response JSON (``SearchResponse.to_dict()`` form)."""
    base = _base_url(server)
    params: list[tuple[str, str]] = [("k", str(k))]
    params += [("emotion", e) for e in emotion or []]
    params += [("media", m) for m in media or []]
    if explain:
        params.append(("explain", "true"))
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if image is not None:
        if box is not None:
            params.append(("box", box))
        try:
            body = Path(image).read_bytes()
        except OSError as exc:
            raise DataFormatError(f"cannot read the query image: {exc}", path=image) from None
        params.append(("filename", Path(image).name))
        headers["Content-Type"] = "application/octet-stream"
        request = Request(f"{base}/api/search/image?{urlencode(params)}", data=body, headers=headers)
    else:
        params.insert(0, ("q", str(query)))
        if min_relevance is not None:
            params.append(("min_relevance", repr(float(min_relevance))))
        if objects:
            params.append(("objects", "true"))
        request = Request(f"{base}/api/search?{urlencode(params)}", headers=headers)
    return _fetch(request, base, timeout)


def _base_url(server: str) -> str:
    parts = urlsplit(server.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"--server takes an http(s) URL such as http://127.0.0.1:8000, got {server!r}")
    return server.strip().rstrip("/")


def _fetch(request: Request, base: str, timeout: float) -> dict[str, Any]:
    try:
        with urlopen(request, timeout=timeout) as answer:
            data = json.loads(answer.read().decode("utf-8"))
    except HTTPError as exc:
        raise RemoteSearchError(
            f"the server at {base} answered HTTP {exc.code}: {_error_text(exc)}"
        ) from None
    except URLError as exc:
        raise RemoteSearchError(
            f"cannot reach a memesearch server at {base} ({exc.reason}); start one with "
            "'memesearch serve --index INDEX'"
        ) from None
    except (OSError, ValueError) as exc:
        raise RemoteSearchError(f"no valid answer from the server at {base}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("hits"), list):
        raise RemoteSearchError(f"the server at {base} did not answer with search results")
    return data


def _error_text(exc: HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode("utf-8"))
        error = body.get("error", {}) if isinstance(body, dict) else {}
        message = str(error.get("message") or body)
        code = error.get("code")
        return f"{message} ({code})" if code else message
    except (OSError, ValueError, AttributeError):
        return str(exc.reason)
