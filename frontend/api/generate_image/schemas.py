from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from frontend.api.schema_types import LorasField, Seed, prompt_field

AspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"]
# Output pixels of each ratio, width first, as the vendor documents them.
ASPECT_RATIO_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1920, 1080),
    "9:16": (1080, 1920),
    "4:3": (1024, 768),
    "3:4": (768, 1024),
    "21:9": (2560, 1080),
    "9:21": (1080, 2560),
}


class GenerateImageRequest(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "prompt": "mountain landscape",
                    "aspect_ratio": "16:9",
                    "output_format": "jpeg",
                    "seed": 42,
                    "prompt_upsampling": True,
                    "safety_tolerance": 2,
                }
            ]
        },
    )

    prompt: prompt_field(2000) = Field(description="What to draw, 1..2000 characters.")  # type: ignore[valid-type]
    aspect_ratio: AspectRatio = Field("16:9", description="Output size: 1:1 is 1024x1024, 16:9 1920x1080...")
    output_format: Literal["jpeg", "png"] = "jpeg"
    seed: Seed | None = None
    loras: LorasField = None
    prompt_upsampling: bool = Field(False, description="Deterministically enrich short prompts.")
    safety_tolerance: int = Field(2, ge=0, le=6, description="0 strictest .. 6 most permissive.")
    negative_prompt: str | None = Field(None, max_length=2000, description="Extension: what to avoid.")


class GenerateImageResponse(BaseModel):
    success: bool
    image_url: str
    request_id: str
    seed: int
    revised_prompt: str
