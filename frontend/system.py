"""Health, readiness, and the signed image file links."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Query, Request, Response

from frontend.dependencies import MetricsDep, SettingsDep, StoreDep, TritonDep
from frontend.errors import BackendUnavailable, NotFound, PayloadTooLarge
from frontend.generation import IMAGE_FORMATS
from frontend.signed_urls import check_signature

router = APIRouter(tags=["system"])
_FILENAME = re.compile(r"^([0-9a-f]{32})\.(png|jpeg)$")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(triton: TritonDep) -> dict[str, str]:
    """Triton is reachable and the pipeline model is ready."""
    if not await triton.is_ready():
        raise BackendUnavailable("the pipeline model is not ready")
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
async def metrics(metrics: MetricsDep) -> Response:
    """Prometheus metrics: requests by route and status, generation latency, images, rejections."""
    return metrics.render()


@router.get("/files/{filename}", response_class=Response)
async def signed_file(
    filename: str, settings: SettingsDep, store: StoreDep, expires: int = Query(), signature: str = Query()
) -> Response:
    """An image behind a signed, expiring link (the `url` of generation responses)."""
    match = _FILENAME.match(filename)
    if not match:
        raise NotFound("no such image")
    check_signature(settings.signing_key, filename, expires, signature)
    record = store.get(match.group(1))
    data = store.read(record) if record is not None and record.filename == filename else None
    if record is None or data is None:
        raise NotFound("no such image")
    return Response(data, media_type=IMAGE_FORMATS[record.format][1])


def install_body_limit(app: FastAPI, max_bytes: int) -> None:
    """413 for a declared body over the limit, before anything reads it."""

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            return PayloadTooLarge(f"request body over the {max_bytes} byte limit").response()
        return await call_next(request)
