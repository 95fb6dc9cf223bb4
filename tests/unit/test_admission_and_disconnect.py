"""Overload answers 503 at once; a client that hangs up cancels its Triton call and stores nothing."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest

from frontend.generation.service import ImageJob
from frontend.http.errors import ClientDisconnected
from t2i.request import GenerationRequest
from tests.unit.conftest import FakeTriton, make_client


class SlowTriton(FakeTriton):
    """Holds every generation until released; records cancellations."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.started = threading.Event()
        self.cancelled = 0

    async def generate(
        self, request: GenerationRequest, timeout_s: float, on_preview: object = None
    ) -> np.ndarray:
        self.started.set()
        try:
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return await super().generate(request, timeout_s)


def test_overload_is_503_at_once(tmp_path: Path) -> None:
    triton = SlowTriton()
    with make_client(tmp_path, triton, max_pending_generations=1) as client:
        first: dict[str, int] = {}
        worker = threading.Thread(
            target=lambda: first.update(
                status=client.post("/v1/generate-image", json={"prompt": "x"}).status_code
            )
        )
        worker.start()
        assert triton.started.wait(10)
        busy = client.post("/v1/generate-image", json={"prompt": "y"})
        assert busy.status_code == 503 and busy.headers["retry-after"]
        assert busy.json()["error"]["code"] == "backend_unavailable"
        triton.release.set()
        worker.join(10)
        assert first["status"] == 200
        assert client.post("/v1/generate-image", json={"prompt": "z"}).status_code == 200
        assert 't2i_rejected_requests_total{reason="overload"} 1.0' in client.get("/metrics").text


def test_disconnect_cancels_the_triton_call(tmp_path: Path) -> None:
    triton = SlowTriton()
    with make_client(tmp_path, triton) as client:
        generator = client.app.state.generator  # type: ignore[attr-defined]
        request = GenerationRequest(prompt="x", width=256, height=256, steps=20, guidance_scale=7.5, seed=1)
        job = ImageJob(request, 256, 256, route="/test")
        polls = 0

        async def disconnected() -> bool:
            nonlocal polls
            polls += 1
            return polls >= 2

        async def run() -> None:
            await generator.generate(job, disconnected)

        with pytest.raises(ClientDisconnected):
            client.portal.call(run)  # type: ignore[union-attr]
        assert triton.cancelled == 1
        assert generator.in_flight == 0
        assert client.get("/v1/usage").json()["totals"]["requests"] == 0  # nothing stored or billed
