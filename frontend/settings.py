"""Typed settings, from T2I_* environment variables (or a .env file)."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="T2I_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    # gRPC address of an external Triton (the official container on a GPU box); unset: start the
    # embedded tritonserver on `model_repository`.
    triton_url: str | None = None
    triton_grpc_port: int = 8001
    model_repository: Path = PROJECT_ROOT / "model_repository"
    data_dir: Path = PROJECT_ROOT / "var" / "data"
    # Generation deadline; past it the request answers 504.
    request_timeout_s: float = 300.0
    # Signed image URLs: lifetime, and the HMAC secret (generated and kept in data_dir if unset).
    url_ttl_s: int = 3600
    # Base of the links handed out (behind a proxy, say https://images.example.com); default: as requested.
    public_url: str | None = None
    url_secret: str | None = None
    # usage.cost = price per megapixel-step x megapixels x steps x images (0: free, self-hosted).
    price_per_megapixel_step: float = 0.0

    @cached_property
    def signing_key(self) -> bytes:
        if self.url_secret:
            return self.url_secret.encode()
        path = self.data_dir / "url_secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_urlsafe(32))
            tmp.chmod(0o600)
            tmp.replace(path)
        return path.read_text().strip().encode()
