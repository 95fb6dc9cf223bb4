"""Expiring image links: HMAC-SHA256 over the file name and the expiry time."""

from __future__ import annotations

import hashlib
import hmac
import time

from fastapi import Request

from frontend.http.errors import Expired, NotFound
from frontend.settings import Settings


def _signature(key: bytes, filename: str, expires: int) -> str:
    return hmac.new(key, f"{filename}:{expires}".encode(), hashlib.sha256).hexdigest()


def sign_image_url(key: bytes, filename: str, ttl_s: int, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + ttl_s)
    return f"/files/{filename}?expires={expires}&signature={_signature(key, filename, expires)}"


def check_signature(
    key: bytes, filename: str, expires: int, signature: str, now: float | None = None
) -> None:
    """NotFound for a wrong signature (reveals nothing), Expired for a valid one past its time."""
    # compare_digest refuses a non-ASCII str (TypeError, a 500): such a signature is simply wrong.
    if not signature.isascii() or not hmac.compare_digest(_signature(key, filename, expires), signature):
        raise NotFound("no such image")
    if (now if now is not None else time.time()) > expires:
        raise Expired("this image link has expired")


def absolute_image_url(request: Request, settings: Settings, filename: str) -> str:
    """The signed link as a full URL, based on T2I_PUBLIC_URL or the address the client used."""
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return base + sign_image_url(settings.signing_key, filename, settings.url_ttl_s)
