"""/docs (Swagger UI) and /redoc with their assets served from here, so they work offline.

The JavaScript and CSS come from the `fastapi-offline` wheel (Swagger UI, Apache-2.0; ReDoc, MIT), which
ships the files FastAPI's default pages load from a CDN. FastAPI's own page builders are used, pointed at
local URLs; nothing else on the pages reaches out (no Google fonts, no online validator badge)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

from frontend.http.errors import NotFound

router = APIRouter(include_in_schema=False)

# The pages themselves keep to this server: ReDoc's sidebar credit is an <img> from its CDN, which the
# policy blocks (ReDoc then leaves the image out). Both pages need inline scripts and styles.
_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)

ASSETS_URL = "/static/docs"
_ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
# Only these files are served (names from the wheel; never a path the client chose).
_ASSETS = {
    name: _ASSETS_DIR / name
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
}
_OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        oauth2_redirect_url=f"{root}{_OAUTH2_REDIRECT_URL}",
        # Swagger UI would otherwise send the schema's URL to validator.swagger.io for its badge.
        swagger_ui_parameters={"validatorUrl": None},
    )
    return _with_policy(page)


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = _CONTENT_SECURITY_POLICY
    return page


@router.get(_OAUTH2_REDIRECT_URL)
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )
    return _with_policy(page)


@router.get(ASSETS_URL + "/{name}")
async def docs_asset(name: str) -> FileResponse:
    path = _ASSETS.get(name)
    if path is None:
        raise NotFound("no such file")
    # The files change only with the installed wheel: let browsers keep them for a day.
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})
