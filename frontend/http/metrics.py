"""Prometheus metrics of one app instance (its own registry, so several apps can live in one process)."""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "t2i_http_requests_total",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "t2i_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.05, 0.25, 1, 2.5, 5, 10, 30, 60, 120, 300),
        )
        self.images = Counter(
            "t2i_images_generated_total", "Images generated", ["model", "route"], registry=self.registry
        )
        self.generation_seconds = Histogram(
            "t2i_generation_seconds",
            "Time in the Triton pipeline per request",
            ["model"],
            registry=self.registry,
            buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160, 300),
        )
        self.rejections = Counter(
            "t2i_rejected_requests_total",
            "Requests refused before generation",
            ["reason"],
            registry=self.registry,
        )

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def install(self, app: FastAPI) -> None:
        app.add_middleware(MetricsMiddleware, metrics=self)


class MetricsMiddleware:
    """Counts requests by route template and status. Plain ASGI rather than @app.middleware: Starlette's
    BaseHTTPMiddleware costs a task and a response copy per request on the hot path."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            # The route template, not the raw path: ids in paths would explode the label set.
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.request_seconds.labels(route).observe(time.perf_counter() - started)
