"""Reading one uploaded file from a request body with a hard size limit, never buffering more than it.

The limit is enforced twice: first from ``Content-Length`` (a body that announces more than the limit is
refused before a byte is read), then by counting while the body streams in (a client that lies or uses
chunked encoding is cut off as soon as it passes the limit). The file is kept in memory — at most
``max_bytes`` plus one network chunk — because the index hashes and decodes it in one go anyway.

Two body forms are accepted:

* ``multipart/form-data`` with the file in a part named ``file`` (what browsers and ``curl -F`` send);
* a raw body with an ``image/*``, ``video/*`` or ``application/octet-stream`` content type
  (``curl --data-binary @meme.png -H 'Content-Type: image/png'``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

#: Room for multipart boundaries, part headers and small form fields on top of the file itself.
MULTIPART_OVERHEAD = 64 * 1024
#: Largest sanitized filename kept in the item's metadata.
MAX_FILENAME_CHARS = 200


class UploadError(Exception):
    """The body could not be read as one file; ``status`` and ``code`` say how to answer, ``field`` which
    part of the request is at fault (``file``, ``body``, ``Content-Type``, ``Content-Length``)."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


@dataclass
class Upload:
    """The bytes of the uploaded file, the client's (sanitized) filename and its declared type."""

    data: bytes
    filename: str | None
    content_type: str | None


def _too_large(max_bytes: int) -> UploadError:
    return UploadError(
        413,
        "too-large",
        f"the upload is larger than the limit of {_human(max_bytes)}; "
        "send a smaller file or start the server with a larger --max-upload-mb",
    )


def _human(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MiB"
    return f"{n / 1024:g} KiB"


def sanitize_filename(name: str | None) -> str | None:
    """The client's filename reduced to a harmless label for metadata (never used as a path).

    Keeps only the last path component, Unicode-normalizes it (NFC), drops control characters and leading
    dots, and caps the length. ``None`` when nothing is left::

        >>> sanitize_filename("../../etc/passwd")
        'passwd'
        >>> sanitize_filename("..\u202e笑哭了.png")
        '笑哭了.png'
    """
    if not name:
        return None
    name = unicodedata.normalize("NFC", name)
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = name.strip().lstrip(".").strip()
    return name[:MAX_FILENAME_CHARS] or None


def _check_content_length(request: Request, limit: int) -> None:
    raw = request.headers.get("content-length")
    if raw is None:
        return
    try:
        length = int(raw)
    except ValueError:
        raise UploadError(
            400, "invalid-request", f"invalid Content-Length header {raw!r}", field="Content-Length"
        ) from None
    if length > limit:
        raise _too_large(limit)


async def read_upload(request: Request, *, max_bytes: int, field: str = "file") -> Upload:
    """Read the uploaded file from ``request`` (multipart field ``field`` or a raw body).

    Raises :class:`UploadError`: 413 past ``max_bytes``, 415 for an unsupported body type, 400/422 for a
    malformed body or a missing file part.
    """
    ctype, options = parse_options_header(request.headers.get("content-type"))
    if ctype == b"multipart/form-data":
        return await _read_multipart(request, options.get(b"boundary"), max_bytes=max_bytes, field=field)
    if ctype.startswith((b"image/", b"video/")) or ctype == b"application/octet-stream":
        _check_content_length(request, max_bytes)
        data = bytearray()
        try:
            async for chunk in request.stream():
                if len(data) + len(chunk) > max_bytes:
                    raise _too_large(max_bytes)
                data.extend(chunk)
        except ClientDisconnect:
            raise UploadError(
                400, "invalid-request", "the client disconnected during the upload", field="body"
            ) from None
        name = sanitize_filename(request.query_params.get("filename"))
        return Upload(bytes(data), name, ctype.decode("latin-1"))
    shown = ctype.decode("latin-1") or "none"
    raise UploadError(
        415,
        "unsupported-body",
        f"expected a multipart/form-data body with a '{field}' part (or a raw image/video body), "
        f"got Content-Type {shown}",
    )


async def _read_multipart(request: Request, boundary: bytes | None, *, max_bytes: int, field: str) -> Upload:
    if not boundary:
        raise UploadError(
            400,
            "invalid-request",
            "multipart/form-data body without a boundary parameter",
            field="Content-Type",
        )
    _check_content_length(request, max_bytes + MULTIPART_OVERHEAD)

    # Parser state, filled by the callbacks below (called synchronously from parser.write).
    data = bytearray()
    other = 0  # bytes of parts that are not the file, bounded by MULTIPART_OVERHEAD
    state: dict[str, object] = {"found": False, "current": False, "filename": None, "type": None}
    header: dict[str, bytearray] = {"name": bytearray(), "value": bytearray()}
    part_headers: dict[bytes, bytes] = {}

    def on_part_begin() -> None:
        part_headers.clear()
        state["current"] = False

    def on_header_field(buf: bytes, start: int, end: int) -> None:
        header["name"].extend(buf[start:end])

    def on_header_value(buf: bytes, start: int, end: int) -> None:
        header["value"].extend(buf[start:end])

    def on_header_end() -> None:
        part_headers[bytes(header["name"]).lower()] = bytes(header["value"])
        header["name"].clear()
        header["value"].clear()

    def on_headers_finished() -> None:
        _, opts = parse_options_header(part_headers.get(b"content-disposition"))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        if name == field and not state["found"]:
            state["found"] = state["current"] = True
            raw_name = opts.get(b"filename")
            state["filename"] = raw_name.decode("utf-8", "replace") if raw_name is not None else None
            ptype, _ = parse_options_header(part_headers.get(b"content-type"))
            state["type"] = ptype.decode("latin-1") or None

    def on_part_data(buf: bytes, start: int, end: int) -> None:
        nonlocal other
        n = end - start
        if state["current"]:
            if len(data) + n > max_bytes:
                raise _too_large(max_bytes)
            data.extend(buf[start:end])
        else:
            other += n
            if other > MULTIPART_OVERHEAD:
                raise UploadError(413, "too-large", "the form fields besides the file are too large")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise UploadError(400, "invalid-request", f"malformed multipart body: {exc}", field="body") from None
    except ClientDisconnect:
        raise UploadError(
            400, "invalid-request", "the client disconnected during the upload", field="body"
        ) from None
    if not state["found"]:
        raise UploadError(
            422,
            "missing-file",
            f"no file in the upload: send multipart/form-data with the file in a part named '{field}'",
            field=field,
        )
    filename = state["filename"]
    ptype = state["type"]
    return Upload(
        bytes(data),
        sanitize_filename(filename if isinstance(filename, str) else None),
        ptype if isinstance(ptype, str) else None,
    )
