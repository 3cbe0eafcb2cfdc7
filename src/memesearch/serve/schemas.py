"""Pydantic schemas of the HTTP API (they document the JSON in OpenAPI and validate what we send).

The JSON bodies are the ``to_dict()`` forms of :mod:`memesearch.search.results`; these models mirror
them field by field. They allow extra fields so that a new field in a result type reaches clients
instead of being dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from memesearch.search.branches import BRANCHES


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. 'invalid-query', 'not-found'.")
    message: str = Field(description="What was received, what was expected and how to fix it.")
    details: list[dict[str, Any]] | None = Field(None, description="Per-field problems, when known.")


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer of the API has this shape."""

    error: ErrorBody


class Health(BaseModel):
    status: str = Field("ok", description="Always 'ok' while the process serves requests.")
    version: str = Field(description="memesearch version.")
    api_version: str = Field(description="Version of this HTTP API.")


class Ready(BaseModel):
    ready: bool
    items: int = Field(description="Number of items in the index.")
    model: str | None = Field(None, description="Encoder the index was built with.")
    writes_enabled: bool = Field(description="Whether upload and delete are enabled (a write token exists).")
    reads_need_token: bool = Field(
        False, description="Whether reads need a token of scope read (--auth-reads)."
    )
    objects: bool = Field(False, description="Whether the index keeps regions (search with objects=true).")


class OCRLineModel(_Open):
    text: str
    score: float
    box: list[float] = Field(description="x0, y0, x1, y1 in pixels of the frame the line was read from.")
    frame: int | None = Field(
        None, description="Animations and videos: the sampled frame (0-based) where the line first shows."
    )
    time_ms: int | None = Field(None, description="Animations and videos: that frame's time in milliseconds.")


class EmotionScore(_Open):
    emotion: str
    score: float


class ItemModel(_Open):
    """One indexed item (``IndexedItem.to_dict()``)."""

    id: str = Field(description="First 16 hex digits of the content's SHA-256.")
    sha256: str
    media: str = Field(description="'image', 'gif' or 'video'.")
    paths: list[str] = []
    width: int = 0
    height: int = 0
    frames: int = 1
    phash: str = ""
    duplicate_of: str | None = None
    ocr: list[OCRLineModel] | None = None
    captions: list[str] = []
    emotions: list[EmotionScore] = []
    source: str | None = None
    meta: dict[str, Any] = {}
    added_at: float = 0.0
    thumbnail_url: str | None = Field(
        None,
        description="Where to load the item's thumbnail (add &size=N or ?size=N); on a server run with "
        "--auth-reads a signed URL (exp, sig) that loads without a token until exp (about an hour).",
    )
    image_url: str | None = Field(
        None, description="Where to load the item's original media; signed like thumbnail_url."
    )


class CaptionerModel(_Open):
    name: str = Field(description="The captioner's name (e.g. starter-caption).")
    version: str | None = Field(None, description="Its version (weights and settings).")


class GeneratedCaptionModel(_Open):
    """The item's text is (partly) captions a captioner wrote (``IndexedItem.generated_caption()``)."""

    captions: list[str] = Field(description="The generated captions, as indexed.")
    captioner: CaptionerModel
    only: bool = Field(description="The item's whole text is generated (no given caption, no OCR text).")


class RegionModel(_Open):
    box: list[float] = Field(description="x0, y0, x1, y1 in pixels of the item's image (x1, y1 exclusive).")
    score: float = Field(description="The region's cosine with the query.")
    label: str | None = None


class FrameModel(_Open):
    index: int = Field(description="The sampled frame (0-based) that matched the query best.")
    time_ms: int | None = Field(description="Its time in milliseconds (null when the file gives none).")
    score: float = Field(description="Its cosine with the query (the image branch's score).")
    frames: int = Field(description="How many frames of the item were sampled.")


class HitModel(_Open):
    rank: int
    id: str
    score: float = Field(description="Fused score the hits are sorted by.")
    scores: dict[str, float] = Field(
        description=f"Each branch's own score ({', '.join(BRANCHES)}); a branch with no score is absent."
    )
    why: list[str] = Field(description="Human-readable reasons (with explain=true).")
    relevance: float | None = Field(
        None,
        description="Calibrated probability that the item is relevant (null: the index is not calibrated).",
    )
    generated_caption: GeneratedCaptionModel | None = Field(
        None,
        description="Set when the item's text (what the text and lexical branches matched) is a generated "
        "caption: the captions and the captioner; null when no caption of the item was generated.",
    )
    region: RegionModel | None = Field(
        None, description="The item's region that matched best (search with objects=true), else null."
    )
    frame: FrameModel | None = Field(
        None,
        description="An animated item scored by its best frame: the frame that matched the query best; "
        "null for still images (or with frame_pooling=mean).",
    )
    item: ItemModel


class SearchResult(_Open):
    """``SearchResponse.to_dict()``."""

    query: str | None
    k: int
    filters: dict[str, Any] = {}
    weights: dict[str, float] = {}
    took_ms: float
    total_items: int
    branches: list[str] = Field(description="Every branch of search, in display order.")
    calibrated: bool = Field(False, description="Whether the hits are sorted by calibrated relevance.")
    min_relevance: float | None = Field(None, description="The relevance cut-off asked for, if any.")
    below_cut: int = Field(0, description="Hits of the top k left out by the relevance cut-off.")
    untagged_excluded: int = Field(
        0, description="Items without any emotion tag that the emotion filter left out (they are unknown)."
    )
    hits: list[HitModel]


class IngestFailureModel(_Open):
    path: str
    reason: str
    message: str


class IngestSummaryModel(_Open):
    indexed: int
    ids: list[str]
    skipped: int
    duplicates: int
    near_duplicates: int
    removed: int
    failed: list[IngestFailureModel]
    messages: list[str] = []
    existing: list[str] = Field([], description="Ids of already indexed items an upload matched.")
    seconds: float


class UploadResult(BaseModel):
    """What ``POST /api/items`` did: the ingest summary and the item the upload became."""

    id: str = Field(description="Id of the uploaded content (new or already indexed).")
    created: bool = Field(description="False when the same bytes were already in the index.")
    summary: IngestSummaryModel
    item: ItemModel


class DeleteResult(BaseModel):
    id: str
    removed: int


class EmotionEntry(_Open):
    id: str = Field(description="The canonical (English) emotion word used in filters.")
    en: str
    zh: str
    synonyms: list[str] = []


class Emotions(BaseModel):
    emotions: list[EmotionEntry]


class Stats(_Open):
    """``Index.stats()``: counts, encoders, storage parameters."""


class TokenInfo(BaseModel):
    """An access token as listed: never the token or its hash."""

    id: str = Field(description="Short random id (revoke by id or name).")
    name: str
    scope: str = Field(description="read, write or admin (each allows the ones before it).")
    created: float = Field(description="Seconds since the epoch.")
    expires: float | None = Field(None, description="Seconds since the epoch; null: never.")
    last_used: float | None = Field(
        None, description="Seconds since the epoch (updated at most once a minute)."
    )


class TokenList(BaseModel):
    tokens: list[TokenInfo]
