"""The service routes: the probes ``GET /api/health`` and ``GET /api/ready`` (on :data:`probes`), and
what the index offers to read, ``GET /api/emotions`` (the filter vocabulary) and ``GET /api/stats``
(on :data:`info`).

Two routers so that ``create_app`` can include them around the search and item routes, in the order
``/openapi.json`` (and so ``/docs``) has always listed them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from memesearch._version import __version__
from memesearch.serve import auth, schemas
from memesearch.serve.api_docs import API_VERSION, READ_ONLY_RESPONSES
from memesearch.serve.auth import ReadAuth
from memesearch.serve.limits import rate_limit
from memesearch.serve.state import StateDep

probes = APIRouter(prefix="/api", dependencies=[Depends(rate_limit)])
info = APIRouter(prefix="/api", dependencies=[Depends(rate_limit)])


@probes.get("/health", response_model=schemas.Health, tags=["service"], summary="Liveness")
def health() -> dict[str, Any]:
    """Answers while the process serves requests, whether or not the index is open."""
    return {"status": "ok", "version": __version__, "api_version": API_VERSION}


@probes.get(
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


@info.get(
    "/emotions",
    response_model=schemas.Emotions,
    tags=["search"],
    summary="Emotion vocabulary",
    responses=READ_ONLY_RESPONSES,
)
def emotions(_auth: ReadAuth) -> dict[str, Any]:
    """The bilingual emotion words the ``emotion`` filter accepts (for filter chips)."""
    return {"emotions": emotion_entries()}


@info.get(
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
