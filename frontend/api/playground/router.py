"""Serves the playground page at `/` and its files under /playground/; all of them ship in `static/`."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from frontend.http.errors import NotFound

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_URL = "/playground"
# Only the files shipped beside the page, by name: a client's text never becomes a path.
_ASSETS = {path.name: path for path in STATIC_DIR.iterdir() if path.is_file() and path.name != "index.html"}
# The page loads only its own files and talks only to this server; `frame-ancestors` keeps it (and the
# API key typed into it) out of other sites' frames. Images may come from T2I_PUBLIC_URL's host.
_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: http: https:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {"Content-Security-Policy": _CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"}


@router.get("/")
async def playground() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=_HEADERS)


@router.get(ASSETS_URL + "/{name}")
async def playground_asset(name: str) -> FileResponse:
    path = _ASSETS.get(name)
    if path is None:
        raise NotFound("no such file")
    return FileResponse(path, headers=_HEADERS)
