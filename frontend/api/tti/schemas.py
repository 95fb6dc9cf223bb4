from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from frontend.api.schema_types import LorasField, PublicSize, SafeName, Seed, prompt_field
from t2i import contract


class TextToImageRequest(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "prompt": "A serene mountain landscape at sunset, golden hour lighting, highly detailed",
                    "size": "1536x1024",
                    "negative_prompt": "people, buildings, text, blurry",
                    "style": "realistic",
                    "count": 1,
                    "name": "hero-banner",
                    "folder": "marketing",
                }
            ]
        },
    )

    prompt: prompt_field(contract.MAX_PROMPT_CHARS) = Field(description="What to draw.")  # type: ignore[valid-type]
    provider: str = Field(
        "auto", description="`auto` or `triton` (the default model), or a served model's name or alias."
    )
    size: PublicSize = Field("1024x1024", description="WIDTHxHEIGHT or `auto`.")
    style: str = Field("realistic", description="A preset from GET /v1/styles.")
    reference_images: list[str] = Field(
        default_factory=list,
        max_length=4,
        description="Up to 4: `data:` URIs, ids of your own images, or http(s) URLs; blended together.",
    )
    reference_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="Influence of the references (image-to-image strength)."
    )
    count: int = Field(1, ge=1, le=4, description="Variations; more than one answers with a zip.")
    negative_prompt: str | None = Field(None, max_length=contract.MAX_PROMPT_CHARS)
    name: SafeName | None = Field(None, description="File name without extension.")
    folder: SafeName = Field("images", description="Folder in the image store.")
    seed: Seed | None = None
    loras: LorasField = None
