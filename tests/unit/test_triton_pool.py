"""The pool's server list: fixed host:port entries, and `dns:///` names re-resolved into every address
(a headless Service's pods), with a fake Triton client per address (no Triton in the unit tier)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from frontend.http.errors import BackendUnavailable
from frontend.triton import pool as pool_module
from frontend.triton.pool import TritonPool
from t2i.request import GenerationRequest


class FakeClient:
    """Stands in for TritonPipelineClient: records what it ran and whether it was closed."""

    instances: dict[str, FakeClient] = {}

    def __init__(self, url: str):
        self.url = url
        self.ready = True
        self.closed = False
        self.generated = 0
        self.release: asyncio.Event | None = None
        FakeClient.instances[url] = self

    async def close(self) -> None:
        self.closed = True

    async def is_ready(self) -> bool:
        return self.ready

    async def generate(self, request: GenerationRequest, timeout_s: float, on_preview=None) -> np.ndarray:
        if not self.ready:
            raise BackendUnavailable("down")
        self.generated += 1
        if self.release is not None:
            await self.release.wait()
        return np.zeros((1, 8, 8, 3), np.uint8)


class FakeDns:
    def __init__(self, answer: list[str]):
        self.answer = answer
        self.fail = False
        self.asked = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked += 1
        if self.fail:
            raise OSError("temporary failure in name resolution")
        return list(self.answer)


@pytest.fixture(autouse=True)
def fake_client(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeClient.instances = {}
    monkeypatch.setattr(pool_module, "TritonPipelineClient", FakeClient)


REQUEST = GenerationRequest(prompt="a red circle", width=64, height=64, steps=1, seed=1)


def run(coro):
    return asyncio.run(coro)


def test_a_dns_name_stands_for_every_address_it_resolves_to() -> None:
    dns = FakeDns(["10.0.0.1", "10.0.0.2"])
    pool = TritonPool(["fixed:8001", "dns:///triton-headless:8001"], resolver=dns, resolve_interval_s=0)

    async def scenario() -> None:
        assert set(await pool.readiness()) == {"fixed:8001", "10.0.0.1:8001", "10.0.0.2:8001"}
        for _ in range(6):
            await pool.generate(REQUEST, 10)
        assert {url: c.generated for url, c in FakeClient.instances.items()} == {
            "fixed:8001": 2,
            "10.0.0.1:8001": 2,
            "10.0.0.2:8001": 2,
        }
        # A pod went away and the autoscaler added one: the next resolve follows.
        dns.answer = ["10.0.0.2", "10.0.0.3"]
        await pool.generate(REQUEST, 10)
        assert pool.urls == ["fixed:8001", "10.0.0.2:8001", "10.0.0.3:8001"]
        assert FakeClient.instances["10.0.0.1:8001"].closed
        assert not FakeClient.instances["10.0.0.2:8001"].closed

    run(scenario())


def test_dns_is_asked_at_most_once_per_interval_and_a_failure_keeps_the_last_answer() -> None:
    dns = FakeDns(["10.0.0.1"])
    pool = TritonPool(["dns:///triton:8001"], resolver=dns, resolve_interval_s=3600)

    async def scenario() -> None:
        await pool.generate(REQUEST, 10)
        await pool.generate(REQUEST, 10)
        assert dns.asked == 1
        pool.resolved_at = -float("inf")  # the interval has passed
        dns.fail = True
        await pool.generate(REQUEST, 10)
        assert dns.asked == 2
        assert pool.urls == ["10.0.0.1:8001"]

    run(scenario())


def test_a_server_dropped_by_dns_during_a_request_is_closed_after_it() -> None:
    dns = FakeDns(["10.0.0.1"])
    pool = TritonPool(["dns:///triton:8001"], resolver=dns, resolve_interval_s=0)

    async def scenario() -> None:
        await pool.refresh()
        busy = FakeClient.instances["10.0.0.1:8001"]
        busy.release = asyncio.Event()
        running = asyncio.create_task(pool.generate(REQUEST, 10))
        while not busy.generated:
            await asyncio.sleep(0)
        dns.answer = ["10.0.0.2"]
        await pool.refresh()
        assert pool.urls == ["10.0.0.2:8001"]
        assert not busy.closed  # its request is still running
        busy.release.set()
        assert (await running).shape == (1, 8, 8, 3)
        assert busy.closed

    run(scenario())


def test_a_failed_server_is_left_out_and_the_request_goes_to_the_next() -> None:
    pool = TritonPool(["a:8001", "b:8001"], down_pause_s=3600)

    async def scenario() -> None:
        await pool.refresh()
        FakeClient.instances["a:8001"].ready = False
        for _ in range(3):
            await pool.generate(REQUEST, 10)
        assert FakeClient.instances["b:8001"].generated == 3
        FakeClient.instances["b:8001"].ready = False
        with pytest.raises(BackendUnavailable):
            await pool.generate(REQUEST, 10)

    run(scenario())


@pytest.mark.parametrize("url", ["triton", "triton:", ":8001", "dns:///triton", "dns:///triton:port"])
def test_a_malformed_url_fails_at_start_up(url: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        TritonPool([url])
