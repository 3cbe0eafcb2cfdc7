"""The search routes: ``GET /api/search`` (text) and ``POST /api/search/image`` (an uploaded image).

Thin over :class:`~memesearch.search.Searcher`: they check the parameters, run the search and add the
media URLs to the hits (:mod:`memesearch.serve.media_urls`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from memesearch.search.query_checks import MAX_QUERY_CHARS
from memesearch.serve import schemas
from memesearch.serve.api_docs import ERROR_RESPONSES, UPLOAD_BODY, UPLOAD_RESPONSES
from memesearch.serve.auth import ReadAuth
from memesearch.serve.http import ApiError
from memesearch.serve.limits import rate_limit
from memesearch.serve.media_urls import with_media_urls
from memesearch.serve.state import StateDep, split_names
from memesearch.serve.uploads import read_upload

#: Largest ``k`` a client may ask for.
MAX_K = 200

router = APIRouter(prefix="/api", dependencies=[Depends(rate_limit)])


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
