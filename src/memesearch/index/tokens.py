"""Per-item token matrices of late-interaction encoders (an ``ief`` run), kept in the index's cache table.

An encoder with ``late_interaction`` (:class:`memesearch.models.trained.ief.IEFEncoder`) scores an item by
its tokens, not by one vector. Ingest stores them as cache rows ``(key, TOKENS_STAGE, version, bytes)``
written in the same transaction as the item (so they are there exactly when the item is); search reads them
back for the image branch's candidates. The key joins the content hash with a hash of the item's passage
(the tokens include its context text); the version names the encoder, so tokens of another model are never
read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

TOKENS_STAGE = "tokens"


def token_key(sha256: str, passage: str) -> str:
    """The cache key of an item's tokens: its content hash and a hash of its context text."""
    return f"{sha256}:{hashlib.sha256(passage.encode('utf-8')).hexdigest()[:16]}"


def token_version(encoder_config: Mapping[str, Any]) -> str:
    """The cache version of tokens made by the encoder described by ``encoder_config`` (its ``to_dict()``)."""
    from memesearch.index.config import encoder_signature

    return f"tokens-1;{encoder_signature(dict(encoder_config))}"
