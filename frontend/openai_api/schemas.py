"""Request and response bodies, fields in the order of the public spec (../shared/API.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from frontend.schema_types import PublicSize, SchedulerName, Seed, prompt_field
from t2i import contract


class ImageGenerationRequest(BaseModel):
    # Strict: "n": "2" or "seed": true are errors, not silently coerced. Unknown fields (the SDK's
    # `user`, say) are accepted and ignored, as OpenAI does.
    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "prompt": "a lighthouse on a cliff at sunset, oil painting",
                    "n": 1,
                    "size": "1024x1024",
                    "response_format": "b64_json",
                    "seed": 42,
                }
            ]
        },
    )

    prompt: prompt_field(contract.MAX_PROMPT_CHARS) = Field(description="What to draw.")  # type: ignore[valid-type]
    model: str | None = Field(None, description="A served model name from GET /v1/models.")
    provider: str | None = Field(None, description="Accepted and echoed; `auto` or a served backend name.")
    n: int = Field(1, ge=1, le=4, description="Images to generate, run as one batch.")
    size: PublicSize = Field("1024x1024", description="WIDTHxHEIGHT, or `auto` for the model's native size.")
    quality: Literal["standard", "hd"] = Field("standard", description="`hd` runs the model's hd step count.")
    style: Literal["natural", "vivid"] = Field("natural", description="`vivid`: more saturated, dramatic.")
    response_format: Literal["url", "b64_json"] = "url"
    image: str | None = Field(
        None, description="An image to modify: http(s) URL, data: URI, or the id of one of your images."
    )
    user: str | None = None
    negative_prompt: str | None = Field(
        None, max_length=contract.MAX_PROMPT_CHARS, description="What to steer away from."
    )
    seed: Seed | None = None
    steps: int | None = Field(None, ge=1, le=contract.MAX_STEPS, description="Denoising steps.")
    guidance_scale: float | None = Field(
        None, ge=0.0, le=contract.MAX_GUIDANCE_SCALE, description="Classifier-free guidance scale."
    )
    scheduler: SchedulerName | None = Field(None, description="Sampler; the model's default if unset.")


class ImageData(BaseModel):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str
    seed: int


class Usage(BaseModel):
    cost: float
    latency_ms: int
    image_size: str
    model_used: str


class ImagesResponse(BaseModel):
    created: int
    data: list[ImageData]
    usage: Usage
    provider: str | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "t2i-triton"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
