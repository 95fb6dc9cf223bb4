"""Health, readiness, and the signed image file links."""

from __future__ import annotations

import re

from fastapi import APIRouter, FastAPI, Query, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontend.dependencies import MetricsDep, SettingsDep, StoreDep, TritonDep
from frontend.errors import BackendUnavailable, NotFound, PayloadTooLarge
from frontend.generation import IMAGE_FORMATS
from frontend.signed_urls import check_signature

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
    record = store.get(match.group(1))
    data = store.read(record) if record is not None and record.filename == filename else None
    if record is None or data is None:
        raise NotFound("no such image")
    return Response(data, media_type=IMAGE_FORMATS[record.format][1])


def install_body_limit(app: FastAPI, max_bytes: int) -> None:
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_bytes)


class BodyLimitMiddleware:
    """413 for a body over the limit before any route reads it: at once for a declared Content-Length;
    a chunked body is read up to the limit here and then replayed to the app."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if b"chunked" not in headers.get(b"transfer-encoding", b""):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = PayloadTooLarge(f"request body over the {self.max_bytes} byte limit").response()
        await response(scope, receive, send)
