"""Per-client rate limit of the API: a token bucket per client address, off unless configured.

``--rate-limit R`` (``MEMESEARCH_RATE_LIMIT``) lets each client address make ``R`` requests per second
on average, in bursts of up to ``max(2 R, 10)``; a request beyond that answers 429 ``rate-limited`` with
``Retry-After`` (whole seconds). Health checks are not limited. The buckets live in memory (one server
process); addresses idle long enough to have a full bucket are forgotten, so the table stays small.
"""

from __future__ import annotations

import math
import threading
import time

from fastapi import Request

from memesearch.serve.http import ApiError

#: Forget buckets after this many addresses (the full ones first).
_MAX_CLIENTS = 10_000


class RateLimiter:
    """``rate`` requests per second per key on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(2 * rate, 10.0))
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one request of ``key``: 0.0 when allowed, else the seconds until one is."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if len(self._buckets) > _MAX_CLIENTS:
                self._forget(now)
            return wait

    def _forget(self, now: float) -> None:
        full = [k for k, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]


def rate_limit(request: Request) -> None:
    """Dependency of every API route: 429 when the client's bucket is empty (no-op without a limit)."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None or request.url.path == "/api/health":
        return
    client = request.client.host if request.client is not None else "unknown"
    wait = limiter.take(client)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise ApiError(
            429,
            "rate-limited",
            f"too many requests from {client}: this server allows {limiter.rate:g} per second "
            f"(bursts of {limiter.burst:g}); retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
