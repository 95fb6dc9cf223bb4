"""Request and response bodies, fields in the order of the public spec (../shared/API.md).

Values and nullability follow OpenAI's CreateImageRequest and the `openai` SDK's ImageGenerateParams: every
field but `prompt` and `user` is nullable there, and an explicit null means the default (NullIsDefault).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from frontend.api.schema_types import (
    SIZE_PATTERN,
    LorasField,
    NullableFieldsModel,
    NullIsDefault,
    SchedulerName,
    Seed,
    prompt_field,
)
from t2i import contract

# The spec's `n` range; more images than one Triton request carries (contract.MAX_IMAGES) run as several.
MAX_N = 10
MAX_COMPRESSION = 100
# Every value the spec takes for `quality`; what each runs is translation.QUALITY_TIERS.
Quality = Literal["standard", "hd", "low", "medium", "high", "xhigh", "max", "auto"]
# The spec's tiers in responses (ImagesResponse.quality).
QualityTier = Literal["low", "medium", "high"]
OutputFormat = Literal["png", "jpeg", "webp", "gif", "svg"]
Background = Literal["transparent", "opaque", "auto"]

SEED_001_EXAMPLE: dict[str, JsonValue] = {
    "provider": "openai",
    "model": "dall-e-3",
    "prompt": "A serene lake at sunset with mountains in the background",
    "n": 1,
    "size": "1024x1024",
    "quality": "standard",
    "style": "natural",
}


class ImageGenerationRequest(NullableFieldsModel):
    # Strict: "n": "2" or "seed": true are errors, not silently coerced. Fields the SDK may send that change
    # nothing here (`frame_count`, `frame_duration_ms` and `svg` only apply to gif/svg output, refused by
    # `output_format`) are accepted and ignored, as OpenAI ignores unknown fields.
    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        json_schema_extra={
            "examples": [
                SEED_001_EXAMPLE,
                {
                    "prompt": "a lighthouse on a cliff at sunset, oil painting",
                    "model": "gpt-image-1",
                    "n": 2,
                    "size": "1536x1024",
                    "quality": "high",
                    "output_format": "webp",
                    "output_compression": 80,
                    "response_format": "b64_json",
                    "seed": 42,
                },
            ]
        },
    )

    prompt: prompt_field(contract.MAX_PROMPT_CHARS) = Field(description="What to draw.")  # type: ignore[valid-type]
    model: str | None = Field(
        None,
        description="A served model name from GET /v1/models, or an alias (T2I_MODEL_ALIASES; by default "
        "every OpenAI image model name, e.g. `dall-e-3`, `gpt-image-1`, runs the default model); unset: "
        "the default model.",
    )
    provider: str | None = Field(
        None, description="Accepted and echoed: `auto`, `openai`, `triton` or the served model name."
    )
    n: Annotated[int, NullIsDefault()] = Field(
        1, ge=1, le=MAX_N, description="Images to generate; image i uses seed + i."
    )
    quality: Annotated[Quality, NullIsDefault()] = Field(
        "auto",
        description="Denoising steps from the model's settings: `low` about half the default steps; "
        "`medium`, `standard`, `auto` the default; `high`, `hd`, `xhigh`, `max` the model's hd steps.",
    )
    response_format: Annotated[Literal["url", "b64_json"], NullIsDefault()] = "url"
    image: str | None = Field(
        None, description="An image to modify: http(s) URL, data: URI, or the id of one of your images."
    )
    output_format: Annotated[OutputFormat, NullIsDefault()] = Field(
        "png", description="`png`, `jpeg` or `webp`; `gif` and `svg` are not produced here (400)."
    )
    output_compression: Annotated[int, NullIsDefault()] = Field(
        MAX_COMPRESSION,
        ge=0,
        le=MAX_COMPRESSION,
        description="jpeg/webp quality 0..100 (100: least compression, the spec's default); png ignores it.",
    )
    stream: Annotated[bool, NullIsDefault()] = Field(
        False, description="`true`: Server-Sent Events, `image_generation.partial_image` then `.completed`."
    )
    partial_images: Annotated[int, NullIsDefault()] = Field(
        0, ge=0, le=contract.MAX_PARTIAL_IMAGES, description="Previews streamed before the images (0..3)."
    )
    size: Annotated[str, NullIsDefault()] = Field(
        "1024x1024",
        pattern=SIZE_PATTERN,
        description="`256x256`, `512x512`, `1024x1024`, `1792x1024`, `1024x1792`, `1536x1024`, `1024x1536`, "
        "`auto` (the model's native size) or any WIDTHxHEIGHT with both sides within the model's limits.",
    )
    moderation: Annotated[Literal["low", "auto"], NullIsDefault()] = Field(
        "auto", description="`auto`: the default safety level; `low`: a more permissive one."
    )
    background: Annotated[Background, NullIsDefault()] = Field(
        "auto", description="`auto` or `opaque`; `transparent` is not supported by these models (400)."
    )
    style: Annotated[Literal["vivid", "natural"], NullIsDefault()] = Field(
        "natural",
        description="`natural` (default here): the prompt as written; `vivid`: the vivid preset of "
        "GET /v1/styles. OpenAI's own default is `vivid`.",
    )
    user: str = Field("", description="Accepted (an end-user id for abuse monitoring); not stored.")
    safety_identifier: str | None = Field(None, description="Accepted; not stored.")
    complexity: Literal["low", "medium", "high"] | None = Field(
        None, description="Accepted; no effect on these models."
    )
    negative_prompt: str | None = Field(
        None, max_length=contract.MAX_PROMPT_CHARS, description="What to steer away from."
    )
    seed: Seed | None = None
    steps: int | None = Field(
        None, ge=1, le=contract.MAX_STEPS, description="Denoising steps; overrides `quality`."
    )
    guidance_scale: float | None = Field(
        None, ge=0.0, le=contract.MAX_GUIDANCE_SCALE, description="Classifier-free guidance scale."
    )
    scheduler: SchedulerName | None = Field(None, description="Sampler; the model's default if unset.")
    loras: LorasField = None


class ImageData(BaseModel):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str
    seed: int


class InputTokensDetails(BaseModel):
    image_tokens: int = 0
    text_tokens: int = 0


class Usage(BaseModel):
    """OpenAI's ImageGenUsage (token counts: a diffusion model reads and writes no tokens, so zeros, which
    strictly typed clients still require), then seed 001's usage block (cost, latency, size, model). The
    same union in every JSON response and every streamed `completed` event."""

    input_tokens: int = 0
    input_tokens_details: InputTokensDetails = Field(default_factory=InputTokensDetails)
    output_tokens: int = 0
    total_tokens: int = 0
    cost: float
    latency_ms: int
    image_size: str
    model_used: str


class ImagesResponse(BaseModel):
    created: int
    data: list[ImageData]
    output_format: Literal["png", "jpeg", "webp"]
    size: str
    quality: QualityTier
    background: Literal["opaque"]
    usage: Usage
    provider: str | None = None


class SizeRange(BaseModel):
    native: str = Field(description="WIDTHxHEIGHT the model was trained at: `size: auto`")
    min_side: int
    max_side: int
    multiple: int = Field(description="Width and height are multiples of this.")


class ModelCapabilities(BaseModel):
    generations: bool = True
    edits: bool = Field(default=True, description="POST /v1/images/edits and /variations (image-to-image)")
    inpainting: str = Field(description="How a mask is honoured: `inpainting-unet` or `latent-blending`.")
    streaming: bool = Field(default=True, description="`stream: true` with partial images")


class ModelCard(BaseModel):
    """OpenAI's model object; a served model adds its facts, an alias names the model it runs."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "t2i-triton"
    root: str = Field(description="The served model this name runs: itself, or the model an alias names.")
    family: str | None = Field(
        default=None,
        description="`sd` (SD 1.x/2.x), `sdxl`, `flux` (Flux.1) or `sd3` (SD 3/3.5); served models only.",
    )
    description: str | None = None
    size: SizeRange | None = None
    default_steps: int | None = Field(default=None, description="Steps of `quality` auto/medium/standard.")
    hd_steps: int | None = Field(default=None, description="Steps of `quality` high/hd.")
    default_guidance_scale: float | None = None
    default_scheduler: str | None = None
    schedulers: list[str] | None = None
    loras: list[str] | None = Field(
        default=None, description="LoRA adapters a request may name in `loras` (torch-backend models)."
    )
    capabilities: ModelCapabilities | None = None
    random_weights: bool | None = Field(default=None, description="A preset's seeded random weights (tests).")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
