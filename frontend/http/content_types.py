"""One path, one body per content type: OpenAI's POST /v1/images/edits takes a multipart upload or a JSON
body. FastAPI reads a route's body in one way only, so each form is a route of its own; `JSONBodyRoute`
matches only JSON requests, and is added before the path's other route, which then takes the rest."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

JSON_MEDIA_TYPE = "application/json"


def media_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.decode("latin-1").partition(";")[0].strip().lower()
    return ""


class JSONBodyRoute(APIRoute):
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and media_type(scope) != JSON_MEDIA_TYPE:
            return Match.NONE, {}
        return super().matches(scope)


def json_body_alternative(schema: str) -> dict[str, Any]:
    """`openapi_extra` for the other route of the path: documents the JSON body (the component `schema`,
    which the JSON route's own body registers) beside its own. The paths table holds one operation per
    method, the last route's, so this is where both bodies are listed."""
    content = {JSON_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return {"requestBody": {"content": content}}
