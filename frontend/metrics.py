"""Prometheus metrics of one app instance (its own registry, so several apps can live in one process)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


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
        @app.middleware("http")
        async def count_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]):
            started = time.perf_counter()
            response = await call_next(request)
            # The route template, not the raw path: ids in paths would explode the label set.
            route = getattr(request.scope.get("route"), "path", "unmatched")
            self.requests.labels(route, str(response.status_code)).inc()
            self.request_seconds.labels(route).observe(time.perf_counter() - started)
            return response
