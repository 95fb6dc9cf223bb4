"""Several Triton servers behind one client (`T2I_TRITON_URL=host-a:8001,host-b:8001`): requests go
round-robin to the servers that are up and serve the request's model (servers may hold different models);
one that fails (unreachable, model not ready) is left out for a
pause, then tried again once its pipeline answers ready. A generation that failed that way before any
preview reached the client is sent to the next server: it is deterministic and nothing was stored yet.

A `dns:///name:port` entry stands for every address the name resolves to, asked again every few seconds:
a Kubernetes headless Service lists its ready pods that way, so pods the autoscaler adds get requests
within one resolve interval and pods that went away are dropped. (A ClusterIP Service behind one gRPC
connection would pin each frontend to one pod: Services balance connections, not requests.)"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable

import numpy as np

from frontend.http.errors import BackendUnavailable
from frontend.triton.client import PreviewCallback, TritonPipelineClient
from t2i.contract import ModelMetadata
from t2i.request import GenerationRequest

logger = logging.getLogger(__name__)
# How long a failed server is left out before the next request asks whether it is back.
DOWN_PAUSE_S = 2.0
DNS_SCHEME = "dns:///"
# How often `dns:///` names are resolved again (Kubernetes DNS itself caches for about 5 s).
RESOLVE_INTERVAL_S = 5.0

# host, port -> the addresses it resolves to (as `host` strings); the event loop's getaddrinfo by default.
Resolver = Callable[[str, int], Awaitable[list[str]]]


def parse_urls(text: str) -> list[str]:
    return [url.strip() for url in text.split(",") if url.strip()]


def check_urls(urls: list[str]) -> None:
    """ValueError, in one line naming T2I_TRITON_URL, unless every entry is host:port or dns:///name:port."""
    if not urls:
        raise ValueError("T2I_TRITON_URL names no Triton server")
    for url in urls:
        try:
            split_host_port(url.removeprefix(DNS_SCHEME))
        except ValueError as exc:
            raise ValueError(f"T2I_TRITON_URL: {exc}") from None


def split_host_port(target: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"a Triton URL is host:port or dns:///name:port, not {target!r}")
    return host.strip("[]"), int(port)


def address_url(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


async def resolve_addresses(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class TritonPool:
    def __init__(
        self,
        urls: list[str],
        down_pause_s: float = DOWN_PAUSE_S,
        resolver: Resolver = resolve_addresses,
        resolve_interval_s: float = RESOLVE_INTERVAL_S,
    ):
        check_urls(urls)  # a malformed entry fails at start-up
        self.targets = urls
        self.down_pause_s = down_pause_s
        self.resolver = resolver
        self.resolve_interval_s = resolve_interval_s
        self.resolved_at = -float("inf")
        fixed = [url for url in urls if not url.startswith(DNS_SCHEME)]
        # Every server with an open client: those in `order`, and those DNS dropped while a request ran
        # on them (closed once it ends).
        self.clients = {url: TritonPipelineClient(url) for url in fixed}
        self.order = fixed  # the servers requests go to, in round-robin order
        self.origin = {url: url for url in fixed}  # server url -> the T2I_TRITON_URL entry it came from
        self.down_until: dict[str, float] = {}
        self.in_use: dict[str, int] = {}
        self.next_index = 0
        # From the last catalogue(): each server's models, and each model's servers.
        self.models_of: dict[str, set[str]] = {}
        self.serving: dict[str, list[str]] = {}

    @property
    def urls(self) -> list[str]:
        return list(self.order)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()
        self.clients.clear()

    async def refresh(self) -> None:
        """Resolve the `dns:///` entries again once the interval has passed. A name that does not
        resolve right now keeps the addresses it had: a DNS hiccup must not empty the pool."""
        if not any(url.startswith(DNS_SCHEME) for url in self.targets):
            return
        now = time.monotonic()
        if now - self.resolved_at < self.resolve_interval_s:
            return
        self.resolved_at = now
        origin: dict[str, str] = {}
        for target in self.targets:
            if not target.startswith(DNS_SCHEME):
                origin.setdefault(target, target)
                continue
            host, port = split_host_port(target.removeprefix(DNS_SCHEME))
            try:
                urls = [address_url(address, port) for address in await self.resolver(host, port)]
            except OSError as exc:
                logger.warning("cannot resolve %s (%s); keeping its last addresses", target, exc)
                urls = [url for url in self.order if self.origin.get(url) == target]
            for url in urls:
                origin.setdefault(url, target)
        self.origin = origin
        await self._apply_order(list(origin))

    async def _apply_order(self, order: list[str]) -> None:
        added = [url for url in order if url not in self.order]
        removed = [url for url in self.order if url not in order]
        for url in added:
            self.clients.setdefault(url, TritonPipelineClient(url))
        if added or removed:
            logger.info("Triton servers now %s (added %s, removed %s)", order, added, removed)
        self.order = order
        for url in removed:
            self.down_until.pop(url, None)
            self.models_of.pop(url, None)
            if not self.in_use.get(url, 0):
                await self._close(url)

    async def _close(self, url: str) -> None:
        client = self.clients.pop(url, None)
        if client is not None:
            await client.close()

    async def readiness(self) -> dict[str, bool]:
        """Each server's pipeline readiness, asked now (and its down mark updated)."""
        await self.refresh()
        states = {}
        for url in list(self.order):
            ready = await self.clients[url].is_ready()
            self._mark(url, ready)
            states[url] = ready
        return states

    async def is_ready(self) -> bool:
        return any((await self.readiness()).values())

    async def catalogue(self) -> dict[str, ModelMetadata]:
        """Every model some server serves, by name (servers need not hold the same models); which
        servers serve each is kept for routing (`serving`)."""
        await self.refresh()
        merged: dict[str, ModelMetadata] = {}
        serving: dict[str, list[str]] = {}
        last = BackendUnavailable("no inference backend is available; retry shortly")
        answered = False
        for url in list(self.order):
            try:
                models = await self.clients[url].catalogue()
            except BackendUnavailable as exc:
                last = exc
                continue
            answered = True
            self.models_of[url] = set(models)
            for name, metadata in models.items():
                merged.setdefault(name, metadata)
                serving.setdefault(name, []).append(url)
        if not answered:
            raise last
        self.serving = serving
        return dict(sorted(merged.items()))

    async def generate(
        self, request: GenerationRequest, timeout_s: float, on_preview: PreviewCallback | None = None
    ) -> np.ndarray:
        previews_sent = 0

        async def counting_preview(partial_index: int, images: np.ndarray) -> None:
            nonlocal previews_sent
            previews_sent += 1
            assert on_preview is not None
            await on_preview(partial_index, images)

        tried: set[str] = set()
        while True:
            url = await self.pick(tried, request.model)
            tried.add(url)
            self.in_use[url] = self.in_use.get(url, 0) + 1
            try:
                return await self.clients[url].generate(
                    request, timeout_s, counting_preview if on_preview is not None else None
                )
            except BackendUnavailable:
                logger.warning("Triton at %s is unavailable; leaving it out", url)
                self._mark(url, False)
                if previews_sent:  # the client already saw part of this run: no second one
                    raise
            finally:
                self.in_use[url] -= 1
                if not self.in_use[url]:
                    del self.in_use[url]
                    if url not in self.order:  # DNS dropped it while this request ran
                        await self._close(url)

    async def pick(self, tried: set[str], model: str = "") -> str:
        """The next server up that serves `model`, round-robin; one whose pause is over is asked whether
        it is back. A server whose models are not known yet is tried (it answers for itself)."""
        await self.refresh()
        count = len(self.order)
        for offset in range(count):
            index = (self.next_index + offset) % count
            url = self.order[index]
            if url in tried or (model and url in self.models_of and model not in self.models_of[url]):
                continue
            if url in self.down_until:
                if time.monotonic() < self.down_until[url]:
                    continue
                ready = await self.clients[url].is_ready()
                self._mark(url, ready)
                if not ready:
                    continue
            self.next_index = (index + 1) % count
            return url
        raise BackendUnavailable("no inference backend is available; retry shortly")

    def _mark(self, url: str, ready: bool) -> None:
        if ready:
            if self.down_until.pop(url, None) is not None:
                logger.info("Triton at %s is back", url)
        else:
            self.down_until[url] = time.monotonic() + self.down_pause_s
