"""The admission gate in process; shared by replicas through Redis in tests/services/test_shared_redis.py.
(503 at the routes: test_admission_and_disconnect.py.)"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from frontend.generation.admission import (
    LEASE_MARGIN_S,
    LocalAdmissionGate,
    RedisAdmissionGate,
    open_admission_gate,
)
from frontend.http.errors import BackendUnavailable
from frontend.settings import Settings


def test_the_local_gate_admits_up_to_its_limit() -> None:
    async def scenario() -> None:
        gate = LocalAdmissionGate(limit=2)
        first, second = await gate.enter(), await gate.enter()
        assert first and second and first != second and gate.held == 2
        assert await gate.enter() is None
        await gate.leave(first)
        assert gate.held == 1
        third = await gate.enter()
        assert third is not None and await gate.enter() is None
        assert await gate.ready()
        await gate.close()

    asyncio.run(scenario())


def test_open_admission_gate_counts_where_the_settings_say(tmp_path: Path) -> None:
    async def scenario() -> None:
        local = open_admission_gate(Settings(data_dir=tmp_path, max_pending_generations=3))
        assert isinstance(local, LocalAdmissionGate) and local.limit == 3
        shared = open_admission_gate(
            Settings(
                data_dir=tmp_path,
                max_pending_generations=3,
                request_timeout_s=30,
                redis_url="redis://127.0.0.1:1/0",
            )
        )
        assert isinstance(shared, RedisAdmissionGate)
        assert shared.limit == 3 and shared.lease_s == 30 + LEASE_MARGIN_S
        await shared.close()

    asyncio.run(scenario())


def test_an_unreachable_redis_is_503_and_not_ready(tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        gate = open_admission_gate(Settings(data_dir=tmp_path, redis_url=f"redis://127.0.0.1:{port}/0"))
        with pytest.raises(BackendUnavailable) as unavailable:
            await gate.enter()
        assert unavailable.value.status == 503 and gate.held == 0
        assert await gate.ready() is False
        await gate.close()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        asyncio.run(scenario(sock.getsockname()[1]))
