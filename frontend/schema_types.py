"""Field types shared by the public APIs' schemas."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from t2i import contract

PublicSize = Literal[
    "256x256", "512x512", "1024x1024", "1792x1024", "1024x1792", "1536x1024", "1024x1536", "auto"
]
MAX_SEED = 4294967295
# Images per public request (`n`, `count`); the pipeline itself takes up to contract.MAX_IMAGES.
MAX_IMAGES_PER_REQUEST = 4
# The contract's scheduler names as the schema's enum (Literal of a tuple is the Literal of its items).
SchedulerName = Literal[contract.SCHEDULERS]  # type: ignore[valid-type]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must contain non-whitespace characters")
    return value


def _safe_name(value: str) -> str:
    if ".." in value:
        raise ValueError("must not contain '..'")
    return value


def prompt_field(max_length: int) -> type[str]:
    return Annotated[str, Field(min_length=1, max_length=max_length), AfterValidator(_not_blank)]  # type: ignore[return-value]


Seed = Annotated[int, Field(ge=0, le=MAX_SEED, description="Image i uses seed + i; random if unset.")]
# File and folder names in the image store: letters, digits, '.', '_', '-'; no path separators, no '..'.
SafeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"), AfterValidator(_safe_name)]
