"""Rate limits and admission shared by frontend replicas through a real Redis: two limiters or gates on one
Redis stand for two replicas. Every test counts under its own key or owner, so runs do not meet."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis, from_url

from frontend.generation.admission import IN_FLIGHT_KEY, RedisAdmissionGate
from frontend.http.errors import RateLimitExceeded
from frontend.security.rate_limit import RateLimiter
from tests.unit.conftest import FakeTriton, make_client
from tests.unit.test_admission_and_disconnect import SlowTriton
from tests.unit.test_api_routes import auth, create_keys

pytestmark = pytest.mark.services


def with_redis(redis_url: str, scenario: Callable[[Redis], Awaitable[None]]) -> None:
    async def run() -> None:
        client = from_url(redis_url)
        try:
            await scenario(client)
        finally:
            await client.aclose()

    asyncio.run(run())


def test_two_replicas_share_one_rate_limit_budget(redis_url: str) -> None:
    owner = f"key-{uuid.uuid4().hex}"
    first, second = RateLimiter(3, redis_url), RateLimiter(3, redis_url)
    assert first.ready() and second.ready()
    first.check(owner)
    second.check(owner)
    first.check(owner)
    for replica in (second, first):
        with pytest.raises(RateLimitExceeded) as refused:
            replica.check(owner)
        assert 58 <= int(refused.value.headers["Retry-After"]) <= 60
    second.check(f"key-{uuid.uuid4().hex}")  # another key has its own budget


def test_two_replicas_share_the_count_of_generations_in_flight(redis_url: str) -> None:
    async def scenario(client: Redis) -> None:
        key = f"t2i-test:{uuid.uuid4().hex}"
        first = RedisAdmissionGate(client, limit=2, lease_s=60, key=key)
        second = RedisAdmissionGate(client, limit=2, lease_s=60, key=key)
        assert await first.ready() and await second.ready()
        held_by_first, held_by_second = await first.enter(), await second.enter()
        assert held_by_first and held_by_second
        assert await first.enter() is None and await second.enter() is None
        assert await client.zcard(key) == 2 and first.held == 1 and second.held == 1
        await first.leave(held_by_first)
        assert first.held == 0
        again = await second.enter()
        assert again is not None and await first.enter() is None
        await second.leave(again)
        await second.leave(held_by_second)
        assert await client.zcard(key) == 0
        # The set expires by itself after its longest lease, so no Redis fills with idle keys.
        lease = await first.enter()
        assert lease is not None and 0 < await client.ttl(key) <= 60
        await first.leave(lease)

    with_redis(redis_url, scenario)


def test_concurrent_entries_never_pass_the_limit(redis_url: str) -> None:
    async def scenario(client: Redis) -> None:
        key = f"t2i-test:{uuid.uuid4().hex}"
        gates = [RedisAdmissionGate(from_url(redis_url), limit=5, lease_s=60, key=key) for _ in range(2)]
        try:
            leases = await asyncio.gather(*(gates[i % 2].enter() for i in range(40)))
            assert sum(lease is not None for lease in leases) == 5
            assert await client.zcard(key) == 5
        finally:
            for gate in gates:
                await gate.close()
            await client.delete(key)

    with_redis(redis_url, scenario)


def test_a_dead_replicas_leases_expire(redis_url: str) -> None:
    async def scenario(client: Redis) -> None:
        key = f"t2i-test:{uuid.uuid4().hex}"
        dead = RedisAdmissionGate(from_url(redis_url), limit=1, lease_s=1.0, key=key)
        assert await dead.enter() is not None
        await dead.close()  # the replica is gone without leaving
        alive = RedisAdmissionGate(client, limit=1, lease_s=60, key=key)
        assert await alive.enter() is None
        await asyncio.sleep(1.3)
        lease = await alive.enter()
        assert lease is not None and await client.zcard(key) == 1
        await alive.leave(lease)

    with_redis(redis_url, scenario)


def test_two_apps_on_one_redis_share_the_rate_limit(redis_url: str, tmp_path: Path) -> None:
    (secret,) = create_keys(tmp_path, "shared")  # a new key id: a budget no other run has touched
    limits = {"rate_limit_per_minute": 2, "redis_url": redis_url}
    with (
        make_client(tmp_path, FakeTriton(), **limits) as first,
        make_client(tmp_path, FakeTriton(), **limits) as second,
    ):
        codes = [
            replica.post("/v1/generate-image", json={"prompt": "x"}, headers=auth(secret)).status_code
            for replica in (first, second, first, second)
        ]
        assert codes == [200, 200, 429, 429]


def test_two_apps_on_one_redis_share_admission(redis_url: str, tmp_path: Path) -> None:
    async def clear(client: Redis) -> None:
        # This Redis is the tests' own: a lease left by an interrupted earlier run would hold the slot.
        await client.delete(IN_FLIGHT_KEY)

    with_redis(redis_url, clear)
    slow = SlowTriton()
    shared = {"max_pending_generations": 1, "redis_url": redis_url, "rate_limit_per_minute": 0}
    with (
        make_client(tmp_path / "a", slow, **shared) as first,
        make_client(tmp_path / "b", FakeTriton(), **shared) as second,
    ):
        status: dict[str, int] = {}
        worker = threading.Thread(
            target=lambda: status.update(
                first=first.post("/v1/generate-image", json={"prompt": "x"}).status_code
            )
        )
        worker.start()
        try:
            assert slow.started.wait(10)
            busy = second.post("/v1/generate-image", json={"prompt": "y"})
            assert busy.status_code == 503 and busy.headers["retry-after"]
            assert busy.json()["error"]["code"] == "backend_unavailable"
            assert 't2i_rejected_requests_total{reason="overload"} 1.0' in second.get("/metrics").text
        finally:
            slow.release.set()
            worker.join(10)
        assert status["first"] == 200
        assert second.post("/v1/generate-image", json={"prompt": "z"}).status_code == 200
