"""The item routes: ``GET /api/items/{id}``, its ``/image`` (original bytes) and ``/thumbnail`` (WebP),
and the writes ``POST /api/items`` (upload) and ``DELETE /api/items/{id}`` (scope write).

Every id is checked (:func:`~memesearch.serve.state.check_id`) before it reaches the index or the disk.
Writes hold the state's write lock, not the index's, so searches go on while an upload embeds.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from memesearch.ingest import Ingestor
from memesearch.ingest.records import IngestSummary
from memesearch.serve import metrics as serve_metrics
from memesearch.serve import schemas
from memesearch.serve.api_docs import ERROR_RESPONSES, UPLOAD_BODY, UPLOAD_RESPONSES, WRITE_RESPONSES
from memesearch.serve.auth import ReadAuth, WriteAuth
from memesearch.serve.http import MEDIA_415, ApiError
from memesearch.serve.index_open import check_writable
from memesearch.serve.limits import rate_limit
from memesearch.serve.media_types import sniff_content_type
from memesearch.serve.media_urls import MediaAuth, add_media_urls
from memesearch.serve.state import StateDep, check_id
from memesearch.serve.thumbnails import thumbnail
from memesearch.serve.uploads import read_upload

logger = logging.getLogger(__name__)

#: Thumbnail sizes a client may ask for (pixels, longest side).
MIN_THUMB, MAX_THUMB = 16, 1024

router = APIRouter(prefix="/api", dependencies=[Depends(rate_limit)])


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
