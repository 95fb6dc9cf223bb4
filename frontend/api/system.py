"""Health, readiness, metrics, and the signed image file links."""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter, Query, Response

from frontend.generation.service import IMAGE_FORMATS
from frontend.http.dependencies import MetricsDep, SettingsDep, StoreDep, TritonDep
from frontend.http.errors import BackendUnavailable, NotFound
from frontend.security.signed_urls import check_signature

router = APIRouter(tags=["system"])
_FILENAME = re.compile(rf"^([0-9a-f]{{32}})\.({'|'.join(IMAGE_FORMATS)})$")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(triton: TritonDep) -> dict[str, object]:
    """Ready while at least one Triton server's pipeline model is; `triton` says which are."""
    servers = await triton.readiness()
    if not any(servers.values()):
        raise BackendUnavailable("the pipeline model is not ready on any Triton server")
    return {
        "status": "ready",
        "triton": {url: "ready" if up else "unavailable" for url, up in servers.items()},
    }


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
    # The database and the blob store block (PostgreSQL, S3): off the event loop.
    record = await asyncio.to_thread(store.get, match.group(1))
    data = (
        await asyncio.to_thread(store.read, record)
        if record is not None and record.filename == filename
        else None
    )
    if record is None or data is None:
        raise NotFound("no such image")
    return Response(data, media_type=IMAGE_FORMATS[record.format][1])
