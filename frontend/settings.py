"""Typed settings, from T2I_* environment variables (or a .env file)."""

from __future__ import annotations

import ipaddress
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# OpenAI's image model names, as the `openai` SDK's `ImageModel` lists them (a unit test keeps this in step
# with the installed SDK). By default each one is an alias of whatever model this server serves, so a
# client written for OpenAI works unchanged.
OPENAI_IMAGE_MODELS = (
    "dall-e-2",
    "dall-e-3",
    "gpt-image-1",
    "gpt-image-1-mini",
    "gpt-image-1.5",
    "gpt-image-2",
    "gpt-image-2-2026-04-21",
    "gpt-image-2.5-sunburst",
    "gpt-image-2.5-sunburst-2026-09-08",
    "gpt-image-2.5-flare",
    "gpt-image-2.5-flare-2026-09-08",
    "gpt-image-2.6-sunburst",
    "gpt-image-2.6-flare",
    "chatgpt-image-latest",
)
# An alias target meaning "the default served model, whatever its name": names come from the model
# repository, which settings cannot know.
DEFAULT_MODEL_TARGET = "*"
# Every Redis call (rate limit, admission) is a short script: a Redis that takes longer is treated as
# down, and the request gets 503 instead of hanging with it.
REDIS_TIMEOUT_S = 2.0


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
    # Keys, image rows and usage: a SQLAlchemy URL (postgresql://user:password@host/db, or sqlite:///path)
    # that several replicas can share; unset: the embedded SQLite file in data_dir.
    database_url: str | None = None
    # Where image bytes go: unset = data_dir/images; file:///dir = that local directory (one frontend);
    # s3://bucket/prefix = an S3-compatible store that several replicas share. S3 credentials come from
    # boto3's chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION...), never from here.
    blob_store_url: str | None = None
    # Endpoint of an S3-compatible store other than AWS (SeaweedFS, MinIO, Ceph): http(s)://host:port.
    s3_endpoint_url: str | None = None
    # redis://host:port/db shared by the frontend replicas: each key's rate limit and the generations in
    # flight are counted there, across all of them. Unset: both are counted in this process only.
    redis_url: str | None = None
    # Generation deadline; past it the request answers 504.
    request_timeout_s: float = 300.0
    # Signed image URLs: lifetime, and the HMAC secret (generated and kept in data_dir if unset).
    url_ttl_s: int = 3600
    # Base of the links handed out (behind a proxy, say https://images.example.com); default: as requested.
    public_url: str | None = None
    url_secret: str | None = None
    # usage.cost = price x generated megapixels x steps x images; price per model name, JSON in the env
    # (T2I_PRICE_TABLE='{"sd15": 0.0004}'), models not listed use the default (0: free, self-hosted).
    price_table: dict[str, float] = {}
    default_price_per_megapixel_step: float = 0.0
    # Generations in flight (in this frontend, or across the replicas sharing redis_url) beyond which new
    # ones get 503 at once (admission control).
    max_pending_generations: int = 32
    # Generation requests per minute per API key (0: no limit).
    rate_limit_per_minute: int = 60
    # Moderation level for routes without a safety_tolerance field (0 strictest .. 6 most permissive).
    default_safety_tolerance: int = 2
    # The level of the OpenAI route's `moderation: "low"` (never stricter than the default level).
    low_moderation_safety_tolerance: int = 4
    # The served model of requests that name none (and of the "*" aliases); unset or not served: the
    # first served model by name.
    default_model: str | None = None
    # `model` names also taken: alias -> served model name, or "*" for the default model (JSON in the
    # env: T2I_MODEL_ALIASES='{"dall-e-3": "sdxl"}'; '{}' takes served names only).
    model_aliases: dict[str, str] = Field(
        default_factory=lambda: dict.fromkeys(OPENAI_IMAGE_MODELS, DEFAULT_MODEL_TARGET)
    )
    # Request bodies over this answer 413.
    max_body_bytes: int = 64 * 1024 * 1024
    # Reference images fetched by URL: size cap, timeout, and hosts allowed even if private/loopback.
    reference_max_bytes: int = 10 * 1024 * 1024
    reference_timeout_s: float = 10.0
    reference_allowed_hosts: list[str] = []

    @field_validator("blob_store_url", "s3_endpoint_url", "redis_url", mode="before")
    @classmethod
    def empty_is_unset(cls, value: object) -> object:
        # A deployment template that passes an unset variable through (VAR: ${VAR:-}) sets it to "".
        return None if value == "" else value

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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
