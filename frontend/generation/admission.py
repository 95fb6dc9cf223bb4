"""Admission control: past T2I_MAX_PENDING_GENERATIONS generations in flight, new ones are refused at once
(503) rather than queued without bound, where Triton's queue would grow and every caller time out.

Counted in this process (`LocalAdmissionGate`), or across every frontend replica that shares
T2I_REDIS_URL (`RedisAdmissionGate`). In Redis each generation holds a lease that expires by itself, so a
replica that dies mid-generation gives its slots back once their leases run out.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable
from typing import Protocol, cast

from redis.asyncio import Redis, from_url
from redis.exceptions import RedisError

from frontend.http.errors import BackendUnavailable
from frontend.settings import REDIS_TIMEOUT_S, Settings

logger = logging.getLogger(__name__)

# The sorted set of leases (member: lease id, score: expiry in Redis's own clock).
IN_FLIGHT_KEY = "t2i:generations-in-flight"
# A lease outlives the Triton deadline (T2I_REQUEST_TIMEOUT_S) by this much: the references fetched
# before the Triton call and the encoding and storing after it are outside that deadline.
LEASE_MARGIN_S = 60.0

# Drop expired leases, count, and add one only if under the limit: one script, so two replicas cannot
# both take the last slot. The time is the Redis server's, so replicas' clocks need not agree (TIME in
# a script that writes needs Redis >= 5, which replicates a script's effects rather than the script).
_ENTER_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local limit, lease_s = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then
    return 0
end
redis.call('ZADD', KEYS[1], now + lease_s, ARGV[3])
-- The set goes away once its newest lease has expired, with no one left to tidy it.
redis.call('EXPIRE', KEYS[1], math.ceil(lease_s))
return 1
"""


class AdmissionGate(Protocol):
    held: int  # generations this process has admitted and not yet let go

    async def enter(self) -> str | None:
        """A lease id for one more generation, or None when the limit is reached."""
        ...

    async def leave(self, lease: str) -> None: ...

    async def ready(self) -> bool: ...

    async def close(self) -> None: ...


class LocalAdmissionGate:
    """Generations in flight in this process (one event loop: no lock needed, nothing awaits inside)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0

    async def enter(self) -> str | None:
        if self.held >= self.limit:
            return None
        self.held += 1
        return uuid.uuid4().hex

    async def leave(self, lease: str) -> None:
        self.held -= 1

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        pass


class RedisAdmissionGate:
    """Generations in flight across every replica using `client`'s Redis, each behind a lease of
    `lease_s` seconds that `leave` ends early."""

    def __init__(self, client: Redis, limit: int, lease_s: float, key: str = IN_FLIGHT_KEY):
        self.client = client
        self.limit = limit
        self.lease_s = lease_s
        self.key = key
        self.held = 0
        self._enter = client.register_script(_ENTER_SCRIPT)

    async def enter(self) -> str | None:
        lease = uuid.uuid4().hex
        try:
            admitted = await self._enter(keys=[self.key], args=[self.limit, self.lease_s, lease])
        except RedisError as exc:
            # Refuse rather than admit without a count: the limit protects Triton for every replica.
            logger.error("admission count in Redis unreachable: %s", exc)
            raise BackendUnavailable("the admission count is unreachable; retry shortly") from None
        if not admitted:
            return None
        self.held += 1
        return lease

    async def leave(self, lease: str) -> None:
        self.held -= 1
        try:
            await self.client.zrem(self.key, lease)
        except RedisError as exc:
            # The lease expires by itself; until then it holds one slot too many.
            logger.warning("could not end admission lease %s in Redis (it expires by itself): %s", lease, exc)

    async def ready(self) -> bool:
        """Whether Redis answers PING."""
        try:
            # redis-py types each command for its sync and async clients at once (bool | Awaitable[bool]).
            return bool(await cast(Awaitable[bool], self.client.ping()))
        except RedisError as exc:
            logger.warning("redis not ready: %s", exc)
            return False

    async def close(self) -> None:
        await self.client.aclose()


def open_admission_gate(settings: Settings) -> AdmissionGate:
    """In Redis when T2I_REDIS_URL is set, else in this process. Connects on first use, not here."""
    if settings.redis_url is None:
        return LocalAdmissionGate(settings.max_pending_generations)
    client = from_url(
        settings.redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    return RedisAdmissionGate(
        client, settings.max_pending_generations, lease_s=settings.request_timeout_s + LEASE_MARGIN_S
    )
