"""Several Triton servers behind one client (`T2I_TRITON_URL=host-a:8001,host-b:8001`): requests go
round-robin to the servers that are up; one that fails (unreachable, model not ready) is left out for a
pause, then tried again once its pipeline answers ready. A generation that failed that way before any
preview reached the client is sent to the next server: it is deterministic and nothing was stored yet."""

from __future__ import annotations

import logging
import time

import numpy as np

from frontend.http.errors import BackendUnavailable
from frontend.triton.client import PreviewCallback, TritonPipelineClient
from t2i.contract import ModelMetadata
from t2i.request import GenerationRequest

logger = logging.getLogger(__name__)
# How long a failed server is left out before the next request asks whether it is back.
DOWN_PAUSE_S = 2.0


def parse_urls(text: str) -> list[str]:
    return [url.strip() for url in text.split(",") if url.strip()]


class TritonPool:
    def __init__(self, urls: list[str], down_pause_s: float = DOWN_PAUSE_S):
        if not urls:
            raise ValueError("at least one Triton URL is needed")
        self.servers = [TritonPipelineClient(url) for url in urls]
        self.down_pause_s = down_pause_s
        self.down_until: dict[int, float] = {}
        self.next_index = 0

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    async def close(self) -> None:
        for server in self.servers:
            await server.close()

    async def readiness(self) -> dict[str, bool]:
        """Each server's pipeline readiness, asked now (and its down mark updated)."""
        states = {}
        for index, server in enumerate(self.servers):
            ready = await server.is_ready()
            self._mark(index, ready)
            states[server.url] = ready
        return states

    async def is_ready(self) -> bool:
        return any((await self.readiness()).values())

    async def metadata(self) -> ModelMetadata:
        """The served model's metadata: every server serves the same model repository."""
        last: BackendUnavailable | None = None
        for server in self.servers:
            try:
                return await server.metadata()
            except BackendUnavailable as exc:
                last = exc
        assert last is not None
        raise last

    async def generate(
        self, request: GenerationRequest, timeout_s: float, on_preview: PreviewCallback | None = None
    ) -> np.ndarray:
        previews_sent = 0

        async def counting_preview(partial_index: int, images: np.ndarray) -> None:
            nonlocal previews_sent
            previews_sent += 1
            assert on_preview is not None
            await on_preview(partial_index, images)

        tried: set[int] = set()
        while True:
            index = await self.pick(tried)
            tried.add(index)
            try:
                return await self.servers[index].generate(
                    request, timeout_s, counting_preview if on_preview is not None else None
                )
            except BackendUnavailable:
                logger.warning("Triton at %s is unavailable; leaving it out", self.servers[index].url)
                self._mark(index, False)
                if previews_sent:  # the client already saw part of this run: no second one
                    raise

    async def pick(self, tried: set[int]) -> int:
        """The next server up, round-robin; one whose pause is over is asked whether it is back."""
        count = len(self.servers)
        for offset in range(count):
            index = (self.next_index + offset) % count
            if index in tried:
                continue
            if index in self.down_until:
                if time.monotonic() < self.down_until[index]:
                    continue
                ready = await self.servers[index].is_ready()
                self._mark(index, ready)
                if not ready:
                    continue
            self.next_index = (index + 1) % count
            return index
        raise BackendUnavailable("no inference backend is available; retry shortly")

    def _mark(self, index: int, ready: bool) -> None:
        if ready:
            if self.down_until.pop(index, None) is not None:
                logger.info("Triton at %s is back", self.servers[index].url)
        else:
            self.down_until[index] = time.monotonic() + self.down_pause_s
