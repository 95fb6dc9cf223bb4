"""Who is calling: an API key (`Bearer` or `Token` scheme), or anyone in open mode (no keys exist)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from frontend.http.errors import InvalidAPIKey
from frontend.security.rate_limit import RateLimiter
from frontend.settings import Settings, is_loopback
from frontend.storage.keys import KeyStore

ANONYMOUS = "anonymous"
SCHEMES = ("bearer", "token")


@dataclass(frozen=True)
class Caller:
    owner: str  # the key id, or ANONYMOUS in open mode; images and usage belong to it
    key_name: str | None = None


def get_keys(request: Request) -> KeyStore:
    return request.app.state.keys


def get_rate_limiter(request: Request) -> RateLimiter:
    return request.app.state.rate_limiter


def authenticate(request: Request, keys: Annotated[KeyStore, Depends(get_keys)]) -> Caller:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    presented = scheme.lower() in SCHEMES and bool(secret.strip())
    # A key that authenticates proves keys exist: one database query for the usual request.
    key = keys.authenticate(secret.strip()) if presented else None
    if key is not None:
        return Caller(key.id, key.name)
    # Open mode is decided per request, so the first key created locks the server without a restart.
    if not keys.has_keys():
        settings: Settings = request.app.state.settings
        if is_loopback(settings.host):
            return Caller(ANONYMOUS)
        raise InvalidAPIKey("no API keys are configured on this server, and it is not bound to loopback")
    if not presented:
        raise InvalidAPIKey("missing API key: send 'Authorization: Bearer <key>'")
    raise InvalidAPIKey("invalid or revoked API key")


CallerDep = Annotated[Caller, Depends(authenticate)]


def rate_limited(caller: CallerDep, limiter: Annotated[RateLimiter, Depends(get_rate_limiter)]) -> Caller:
    limiter.check(caller.owner)
    return caller


RateLimitedCallerDep = Annotated[Caller, Depends(rate_limited)]
