"""One error envelope for every route, and the one mapping from exceptions to HTTP status.

Body: {"error": {"code", "message", "param", "type"}} as ../shared/API.md fixes it; FastAPI's default 422
body never reaches a client, and a 500 never shows exception text.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    code: str
    message: str
    param: str | None = None
    type: str


class ErrorBody(BaseModel):
    """The one error envelope of every route (documented in the OpenAPI schema for every status)."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "invalid_parameter or content_policy_violation"),
        (401, "invalid_api_key"),
        (404, "not_found"),
        (405, "method_not_allowed"),
        (410, "expired"),
        (413, "payload_too_large"),
        (429, "rate_limit_exceeded"),
        (500, "internal_error"),
        (503, "backend_unavailable"),
        (504, "timeout"),
    )
}


class APIError(Exception):
    status = 500
    code = "internal_error"
    type = "server_error"

    def __init__(self, message: str, param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "param": self.param, "type": self.type}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


class InvalidParameter(APIError):
    status, code, type = 400, "invalid_parameter", "invalid_request_error"


class ContentPolicyViolation(APIError):
    status, code, type = 400, "content_policy_violation", "invalid_request_error"


class InvalidAPIKey(APIError):
    status, code, type = 401, "invalid_api_key", "invalid_request_error"

    def __init__(self, message: str):
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class NotFound(APIError):
    status, code, type = 404, "not_found", "invalid_request_error"


class ModelNotFound(NotFound):
    code = "model_not_found"  # OpenAI's code for a model that does not exist


class MethodNotAllowed(APIError):
    status, code, type = 405, "method_not_allowed", "invalid_request_error"


class Expired(APIError):
    status, code, type = 410, "expired", "invalid_request_error"


class PayloadTooLarge(APIError):
    status, code, type = 413, "payload_too_large", "invalid_request_error"


class RateLimitExceeded(APIError):
    status, code, type = 429, "rate_limit_exceeded", "rate_limit_error"

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})


class BackendUnavailable(APIError):
    status, code, type = 503, "backend_unavailable", "server_error"

    def __init__(self, message: str, retry_after_s: int = 5):
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})


class GenerationTimeout(APIError):
    status, code, type = 504, "timeout", "server_error"

    def __init__(self, message: str):
        # The `openai` SDK retries every 5xx twice unless told not to: three full-length generations for
        # one call that has already run past the deadline.
        super().__init__(message, headers={"x-should-retry": "false"})


class ClientDisconnected(Exception):
    """The client went away before its images were ready: its Triton call is cancelled, nothing is
    stored, and the answer (nginx's 499) reaches no one."""


def _validation_error(exc: RequestValidationError) -> APIError:
    error = exc.errors()[0]
    loc = [part for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    if not loc:
        if error.get("type") == "json_invalid":
            return InvalidParameter("request body is not valid JSON")
        return InvalidParameter("request body must be a JSON object")
    # As OpenAI names them: `images[0].image_url`.
    param = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    if error.get("type") == "extra_forbidden":
        return InvalidParameter(f"unknown field '{param}'", param=param)
    # pydantic's own wording ("Input should be ...") names the allowed values or range.
    return InvalidParameter(f"Invalid value for '{param}': {error.get('msg', 'invalid')}", param=param)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_error(exc).response()

    @app.exception_handler(ClientDisconnected)
    async def client_gone(_: Request, exc: ClientDisconnected) -> Response:
        return Response(status_code=499)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return NotFound("no such route or resource").response()
        if exc.status_code == 405:
            # Starlette's exception carries the `Allow` header that RFC 9110 requires on a 405.
            return MethodNotAllowed(
                "method not allowed on this route", headers=dict(exc.headers or {})
            ).response()
        if exc.status_code == 400:
            # A body that cannot be parsed (a malformed multipart one, say): Starlette's message names
            # what is wrong and is safe to show.
            return InvalidParameter(str(exc.detail)).response()
        error = APIError(str(exc.detail))
        error.status = exc.status_code
        return error.response()

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return APIError("internal server error").response()
