"""Health, readiness, metrics, and the signed image file links."""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter, Query, Response

from frontend.generation.service import IMAGE_FORMATS
from frontend.http.dependencies import (
    AdmissionDep,
    DatabaseDep,
    MetricsDep,
    SettingsDep,
    StoreDep,
    TritonDep,
)
from frontend.http.errors import BackendUnavailable, NotFound
from frontend.security.signed_urls import check_signature

router = APIRouter(tags=["system"])
_FILENAME = re.compile(rf"^([0-9a-f]{{32}})\.({'|'.join(IMAGE_FORMATS)})$")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(
    settings: SettingsDep, triton: TritonDep, database: DatabaseDep, store: StoreDep, admission: AdmissionDep
) -> dict[str, object]:
    """Ready while the database, the blob store and Redis (when T2I_REDIS_URL is set) answer and at least
    one Triton server's pipeline model is ready; each dependency's state is in the body, and each served
    model's servers."""
    # The database and blob store checks block (PostgreSQL, S3): off the loop, and at once.
    database_up, store_up, redis_up, servers = await asyncio.gather(
        asyncio.to_thread(database.ready),
        asyncio.to_thread(store.blobs.ready),
        admission.ready(),
        triton.readiness(),
    )
    states: dict[str, object] = {"database": _state(database_up), "blob_store": _state(store_up)}
    if settings.redis_url:
        states["redis"] = _state(redis_up)
    states["triton"] = {url: _state(up) for url, up in servers.items()}
    if any(servers.values()):
        # Each served model and the servers that serve it (they need not hold the same models).
        await triton.catalogue()
        states["models"] = dict(sorted(triton.serving.items()))
    down = [name for name, state in states.items() if state == "unavailable"]
    if not any(servers.values()):
        down.append("triton (the pipeline model is not ready on any server)")
    if down:
        raise BackendUnavailable(f"not ready: {', '.join(down)} unavailable")
    return {"status": "ready", **states}


def _state(up: bool) -> str:
    return "ready" if up else "unavailable"


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
