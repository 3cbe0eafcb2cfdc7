"""Settings of an index, recorded in its ``index.json`` (the directory describes itself)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from memesearch.errors import ConfigError
from memesearch.index.vector_store import VectorConfig
from memesearch.objects.segmenter import check_objects

INDEX_FORMAT = "memesearch-index"
INDEX_FORMAT_VERSION = 1

#: Default fusion weights (image, caption/OCR text, lexical): the weights chosen on the emoji benchmark's
#: *validation* split for the starter model in issue 4 (``memesearch evaluate --compare``, oracle captions,
#: the text branch then scored as the best of an item's texts). They can be changed per index
#: (``memesearch index --weights image=0.5,text=0.3,lexical=0.2``) or per search.
DEFAULT_WEIGHTS: dict[str, float] = {"image": 0.2, "text": 0.5, "lexical": 0.3}
BRANCHES: tuple[str, ...] = ("image", "text", "lexical", "emotion", "objects")
#: region ids in the ``region`` vector store are ``item rowid * REGION_SLOTS + k`` (k < REGION_SLOTS)
REGION_SLOTS = 64
#: how the image branch scores an animated item: ``best`` frame (max over frames) or the ``mean`` vector
FRAME_POOLINGS: tuple[str, ...] = ("best", "mean")


@dataclass
class IndexConfig:
    """What ``memesearch index`` does to each file and how vectors are stored.

    Attributes:
        model: encoder name (``memesearch.models.create_encoder``); it must read images and text.
        ocr: read the text inside images with RapidOCR; ``ocr_min_score``: keep lines at or above it.
        emotions: tag emotions zero-shot (image embedding vs a bilingual emotion vocabulary) when the
            input gives none; ``emotion_top_k`` emotions at most per item.
        image_emotions: text-less items get tags from the starter's trained emotion head
            (:mod:`memesearch.models.starter.emotion_head`); off by default: its held-out precision
            (0.50 / 0.59) is below the 0.6 it must reach to be on for everyone.
        oracle_captions: keep manifest captions marked ``caption_kind: oracle`` (a benchmark's own
            ground-truth names; off by default so an index never searches its own answers).
        captioner: caption every item with this captioner (``starter-caption``, a captioner folder or a
            clipcap run; :class:`memesearch.enrich.caption.CaptionEnricher`); None: no generated captions.
        max_frames: frames used for animated images and videos (cover + evenly spaced frames).
        frame_pooling: how the image branch scores an item with several frames (:data:`FRAME_POOLINGS`):
            ``best`` (its best frame: max over the frames' cosines, a re-rank of the candidates the mean
            vector found) or ``mean`` (the mean vector alone, as before). Chosen on the animated
            benchmark's val split (README, "Animated stickers").
        max_pixels: frames larger than this (width × height) are refused (decompression bombs).
        near_duplicate_distance: perceptual-hash Hamming distance at or below which two items are
            near-duplicates (reported and linked, both stay searchable).
        batch_size: items per embedding batch and per database transaction.
        weights: fusion weights per branch (``image``, ``text``, ``lexical``).
        vector_store: where vectors are searched, a store spec: ``faiss`` (files in the index folder),
            ``milvus`` (a milvus-lite file in the index folder) or ``milvus:URI`` (a Milvus server or cluster;
            the token comes from ``MEMESEARCH_MILVUS_TOKEN``, never from here). See
            :func:`memesearch.index.vector_store.parse_store_spec`.
        vectors: vector index settings (exact below ``exact_below`` vectors, HNSW above: FAISS
            ``IndexFlatIP`` / ``IndexHNSWFlat``, Milvus ``FLAT`` / ``HNSW``; metric inner product).
        objects: regions of each item (issue 14): ``none``, ``boxes`` (the boxes/masks the input gives:
            native manifest ``objects``), ``auto`` (connected components, no weights) or ``sam2:<dir or hub
            id>``; kept in the index (boxes, RLE masks) with one vector each in the ``region`` store.
        max_regions: regions kept per item (best first), at most :data:`REGION_SLOTS`.
        region_embedding: how a region becomes a vector (:data:`memesearch.models.regions.REGION_METHODS`:
            ``masked-crop`` default, ``crop``, ``mask-pool``).
        region_global_weight: the objects branch scores an item ``w * global + (1 - w) * best region``.
        calibration: the calibrated fusion search uses (:class:`memesearch.search.calibration.Calibration`
            as a dict; None: the weighted sum of ``weights``); ``previous_calibrations`` keeps the ones it
            replaced, newest last, so ``memesearch tune --rollback`` can restore them.
    """

    model: str = "starter"
    ocr: bool = True
    ocr_min_score: float = 0.9
    emotions: bool = True
    emotion_top_k: int = 2
    image_emotions: bool = False
    oracle_captions: bool = False
    captioner: str | None = None
    max_frames: int = 4
    frame_pooling: str = "best"
    max_pixels: int = 40_000_000
    near_duplicate_distance: int = 4
    batch_size: int = 32
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    vector_store: str = "faiss"
    vectors: VectorConfig = field(default_factory=VectorConfig)
    objects: str = "none"
    max_regions: int = 16
    region_embedding: str = "masked-crop"
    region_global_weight: float = 0.0
    calibration: dict[str, Any] | None = None
    previous_calibrations: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        from memesearch.index.vector_store import parse_store_spec

        # an unknown back end fails here, naming the valid forms; the spec is recorded normalised
        name, location = parse_store_spec(self.vector_store)
        self.vector_store = name if location is None else f"{name}:{location}"
        if isinstance(self.vectors, dict):
            self.vectors = VectorConfig.from_dict(self.vectors)
        self.weights = check_weights(self.weights)
        if not 0.0 <= self.ocr_min_score <= 1.0:
            raise ConfigError(f"ocr_min_score must be in [0, 1], got {self.ocr_min_score}")
        for key in ("max_frames", "max_pixels", "batch_size", "emotion_top_k"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.frame_pooling not in FRAME_POOLINGS:
            raise ConfigError(
                f"unknown frame_pooling {self.frame_pooling!r}; valid: {', '.join(FRAME_POOLINGS)}"
            )
        self.objects = check_objects(self.objects)
        if not 1 <= int(self.max_regions) <= REGION_SLOTS:
            raise ConfigError(f"max_regions must be in [1, {REGION_SLOTS}], got {self.max_regions}")
        if self.region_embedding not in ("crop", "masked-crop", "mask-pool"):
            raise ConfigError(
                f"unknown region embedding {self.region_embedding!r}; valid: crop, masked-crop, mask-pool"
            )
        if not 0.0 <= float(self.region_global_weight) <= 1.0:
            raise ConfigError(f"region_global_weight must be in [0, 1], got {self.region_global_weight}")
        if not 0 <= self.near_duplicate_distance <= 64:
            raise ConfigError(
                f"near_duplicate_distance must be in [0, 64], got {self.near_duplicate_distance}"
            )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["vectors"] = self.vectors.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexConfig:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(
                f"unknown index settings {sorted(unknown)}; valid: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**data)


def check_weights(weights: dict[str, float]) -> dict[str, float]:
    """Validate fusion weights: known branches, non-negative, not all zero."""
    out: dict[str, float] = {}
    for key, value in dict(weights).items():
        if key not in BRANCHES:
            raise ConfigError(f"unknown branch {key!r} in weights; valid branches: {', '.join(BRANCHES)}")
        v = float(value)
        if not v >= 0:
            raise ConfigError(f"weight of {key!r} must be >= 0, got {value!r}")
        out[key] = v
    if not any(v > 0 for v in out.values()):
        raise ConfigError(f"at least one branch weight must be positive, got {weights}")
    return out


def parse_weights(text: str) -> dict[str, float]:
    """``"image=0.5,text=0.3,lexical=0.2"`` -> dict (validated)."""
    out: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(f"weights must look like 'image=0.5,text=0.3,lexical=0.2', got {text!r}")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"weight of {key.strip()!r} is not a number: {value!r}") from None
    return check_weights(out)


def encoder_signature(config: dict[str, Any]) -> str:
    """A short hash naming the exact encoder (name, kind, source, dim, weights hash when known)."""
    extra = config.get("extra") or {}
    key = {
        "name": config.get("name"),
        "kind": config.get("kind"),
        "dim": config.get("dim"),
        "weights": extra.get("weights_sha256") or config.get("source"),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
