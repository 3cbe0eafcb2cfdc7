"""The API's per-client token bucket."""

from __future__ import annotations

import pytest

from memesearch.serve.limits import RateLimiter


def test_bucket_allows_bursts_then_the_rate() -> None:
    limiter = RateLimiter(rate=2.0, burst=4)
    assert [limiter.take("a", now=0.0) for _ in range(4)] == [0.0] * 4
    assert limiter.take("a", now=0.0) == pytest.approx(0.5)  # empty: one more in 1/rate s
    assert limiter.take("b", now=0.0) == 0.0  # other clients have their own bucket
    assert limiter.take("a", now=0.5) == 0.0  # refilled by rate * 0.5 s
    assert limiter.take("a", now=0.5) > 0
    assert [limiter.take("a", now=100.0) for _ in range(4)] == [0.0] * 4  # never more than the burst


def test_default_burst() -> None:
    assert RateLimiter(rate=1.0).burst == 10 and RateLimiter(rate=50.0).burst == 100
