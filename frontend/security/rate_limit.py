"""Per-key request limit over a sliding 60-second window (in memory, per frontend process)."""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque

from frontend.http.errors import RateLimitExceeded

WINDOW_S = 60.0


class RateLimiter:
    def __init__(self, per_minute: int):
        self.per_minute = per_minute  # 0 disables the limit
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, owner: str, now: float | None = None) -> None:
        """Count one request for `owner`, or raise 429 with the seconds until a slot frees."""
        if self.per_minute <= 0:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits[owner]
            while hits and hits[0] <= now - WINDOW_S:
                hits.popleft()
            if len(hits) >= self.per_minute:
                retry_after = max(1, math.ceil(hits[0] + WINDOW_S - now))
                raise RateLimitExceeded(
                    f"rate limit of {self.per_minute} requests per minute exceeded; retry in {retry_after} s",
                    retry_after,
                )
            hits.append(now)
