"""Signed media URLs (memesearch.serve.media_urls): expiry, tampering, another item's or route's path."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from memesearch.serve.media_urls import BUCKET_S, TTL_S, MediaSigner

THUMB = "/api/items/0123456789abcdef/thumbnail"
OTHER = "/api/items/fedcba9876543210/thumbnail"
NOW = 1_800_000_123.0


def parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    query = parse_qs(split.query)
    return split.path, query["exp"][0], query["sig"][0]


def test_a_signed_url_verifies_until_it_expires() -> None:
    signer = MediaSigner()
    path, exp, sig = parts(signer.url(THUMB, now=NOW))
    assert path == THUMB and len(sig) == 64 and int(sig, 16) >= 0
    # at least the TTL, at most one bucket more, on a bucket boundary (same URL for a while: cacheable)
    assert NOW + TTL_S <= int(exp) <= NOW + TTL_S + BUCKET_S and int(exp) % BUCKET_S == 0
    assert signer.url(THUMB, now=NOW + 1) == signer.url(THUMB, now=NOW)
    assert signer.verify(THUMB, exp, sig, now=NOW)
    assert signer.verify(THUMB, int(exp), sig, now=int(exp) - 1)
    assert not signer.verify(THUMB, exp, sig, now=int(exp))  # expired at exp
    assert not signer.verify(THUMB, exp, sig, now=int(exp) + 3600)


def test_tampering_is_refused() -> None:
    signer = MediaSigner()
    _, exp, sig = parts(signer.url(THUMB, now=NOW))
    later = str(int(exp) + 86_400)
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    assert not signer.verify(THUMB, later, sig, now=NOW)  # a pushed-back expiry
    assert not signer.verify(THUMB, exp, flipped, now=NOW)
    assert not signer.verify(THUMB, exp, sig.upper(), now=NOW)
    assert not signer.verify(THUMB, exp, sig[:-1], now=NOW)
    assert not signer.verify(THUMB, exp, "", now=NOW)
    assert not signer.verify(THUMB, exp, "é" * 64, now=NOW)
    for bad_exp in ("", "-1", "1e9", " " + exp, exp + "0" * 20, "١٢٣"):
        assert not signer.verify(THUMB, bad_exp, sig, now=NOW), bad_exp
    assert not signer.verify(THUMB, None, sig, now=NOW)
    assert not signer.verify(THUMB, exp, None, now=NOW)


def test_a_signature_opens_only_its_own_path_and_server() -> None:
    signer = MediaSigner()
    _, exp, sig = parts(signer.url(THUMB, now=NOW))
    assert not signer.verify(OTHER, exp, sig, now=NOW)  # another item
    assert not signer.verify(THUMB.replace("/thumbnail", "/image"), exp, sig, now=NOW)  # another route
    assert not signer.verify(THUMB + "/", exp, sig, now=NOW)
    assert not MediaSigner().verify(THUMB, exp, sig, now=NOW)  # another server (a restart): a new secret
    fixed = b"k" * 32
    assert MediaSigner(fixed).signature(THUMB, 5) == MediaSigner(fixed).signature(THUMB, 5)
    with pytest.raises(ValueError, match="16 bytes"):
        MediaSigner(b"short")
