"""Per-key request limit over a moving 60-second window, on the `limits` library: counted in this process,
or in Redis (T2I_REDIS_URL) so that every frontend replica draws on the same budget per key.

The calls block (Redis round trips); `rate_limited` is a sync FastAPI dependency, so they run in the
thread pool, never on the event loop.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from frontend.http.errors import BackendUnavailable, RateLimitExceeded
from frontend.settings import REDIS_TIMEOUT_S

logger = logging.getLogger(__name__)

IN_PROCESS_STORAGE = "memory://"
# Part of every key the limiter writes (LIMITS:generations/<owner>/<n>/1/minute in Redis).
NAMESPACE = "generations"


class RateLimiter:
    def __init__(self, per_minute: int, redis_url: str | None = None):
        self.per_minute = per_minute  # 0 disables the limit
        self._item = RateLimitItemPerMinute(max(per_minute, 1), namespace=NAMESPACE)  # unused when off
        if redis_url is None:
            storage = storage_from_string(IN_PROCESS_STORAGE, wrap_exceptions=True)
        else:
            storage = storage_from_string(
                redis_url,
                wrap_exceptions=True,
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
        self._storage = storage
        self._window = MovingWindowRateLimiter(storage)

    def check(self, owner: str) -> None:
        """Count one request for `owner`, or raise 429 with the seconds until a slot frees."""
        if self.per_minute <= 0:
            return
        try:
            if self._window.hit(self._item, owner):
                return
            stats = self._window.get_window_stats(self._item, owner)
        except StorageError as exc:
            # Refuse rather than let every request through: an unlimited minute is what the limit is for.
            logger.error("rate limit store unreachable: %s", exc.storage_error)
            raise BackendUnavailable("the rate limit store is unreachable; retry shortly") from None
        # The moving window frees its oldest hit at reset_time (a wall-clock time, as the library keeps it).
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimitExceeded(
            f"rate limit of {self.per_minute} requests per minute exceeded; retry in {retry_after} s",
            retry_after,
        )

    def ready(self) -> bool:
        """Whether the counts can be read (Redis: PING; in process: always). Blocking: off the loop."""
        return bool(self._storage.check())
