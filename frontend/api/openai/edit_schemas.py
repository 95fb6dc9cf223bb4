"""Multipart bodies of POST /v1/images/edits and /v1/images/variations, as the official SDK sends them:
files as file parts, every other field as a text part (`n` arrives as "2", `stream` as "false"), so these
models coerce where the JSON schemas are strict. Fields in the order of OpenAI's CreateImageEditRequest
and CreateImageVariationRequest, then this server's extensions (as `extra_body` sends them).

Fields of the GPT image models that this server cannot honour are declared, so that sending them is a 400
naming the field with the reason, not a silently different result.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import UploadFile
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from frontend.api.schema_types import MAX_IMAGES_PER_REQUEST, PublicSize, SchedulerName, Seed, prompt_field
from t2i import contract

# Images one edit takes, as OpenAI's GPT image models do.
MAX_EDIT_IMAGES = 16


def refused(reason: str) -> AfterValidator:
    """A field accepted by the schema's type but refused whenever it is sent, with why."""

    def refuse(value: Any) -> Any:
        raise ValueError(reason)

    return AfterValidator(refuse)


NOT_GIF = "GIF output is not served here (output_format is png or jpeg)"
NOT_SVG = "SVG output is not served here (output_format is png or jpeg)"


class ImageEditForm(BaseModel):
    # Unknown fields are accepted and ignored, as on /v1/images/generations.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    image: list[UploadFile] = Field(
        default_factory=list,
        description="The image to edit (PNG, JPEG, WebP or GIF, at most 4096 px a side). Several, sent "
        "as `image[]` as the SDK does for a list, are blended (pixel mean) into one, without a mask.",
    )
    image_list: list[UploadFile] = Field(
        default_factory=list, alias="image[]", description="Several images: what the SDK sends for a list."
    )
    prompt: prompt_field(contract.MAX_PROMPT_CHARS) = Field(description="The edit to make.")  # type: ignore[valid-type]
    mask: UploadFile | None = Field(
        None,
        description="PNG of the image's size whose fully transparent pixels (alpha 0) mark where to "
        "repaint; every other pixel is kept exactly. Without it the whole image is redrawn.",
    )
    background: Literal["auto", "opaque"] | None = Field(
        None, description="`auto` or `opaque`: this server draws opaque images (no `transparent`)."
    )
    model: str | None = Field(None, description="A served model name from GET /v1/models.")
    n: int = Field(1, ge=1, le=MAX_IMAGES_PER_REQUEST, description="Images to generate, as one batch.")
    size: PublicSize = Field(
        "auto", description="WIDTHxHEIGHT of the result; `auto` (default): the input image's own size."
    )
    response_format: Literal["url", "b64_json"] = "url"
    output_format: Literal["png", "jpeg"] = Field("png", description="`png` or `jpeg` (no webp, gif, svg).")
    output_compression: Annotated[
        int | None, refused("output_compression is not supported: jpeg is encoded at quality 95")
    ] = Field(None, ge=0, le=100)
    user: str | None = None
    input_fidelity: Literal["low", "high"] | None = Field(
        None, description="Without a mask, `high` stays closer to the image (a lower strength)."
    )
    stream: bool = Field(False, description="`true`: Server-Sent Events, `image_edit.*`.")
    partial_images: int = Field(
        0, ge=0, le=contract.MAX_PARTIAL_IMAGES, description="Previews streamed before the images."
    )
    quality: Literal["low", "medium", "high", "xhigh", "max", "auto", "standard"] = Field(
        "auto",
        description="Denoising steps: `low` half the model's default, `medium`, `auto`, `standard` the "
        "default, `high`, `xhigh`, `max` the model's hd steps.",
    )
    complexity: Literal["low", "medium", "high"] | None = Field(
        None, description="Accepted for compatibility; no effect (no planning stage here)."
    )
    frame_count: Annotated[int | None, refused(NOT_GIF)] = None
    frame_duration_ms: Annotated[int | None, refused(NOT_GIF)] = None
    markup: Annotated[UploadFile | None, refused("markup images are not supported here; use mask")] = None
    safety_identifier: str | None = None
    svg_model: Annotated[str | None, refused(NOT_SVG)] = Field(None, alias="svg[model]")
    svg_reasoning_effort: Annotated[str | None, refused(NOT_SVG)] = Field(
        None, alias="svg[reasoning][effort]"
    )
    # Extensions.
    negative_prompt: str | None = Field(None, max_length=contract.MAX_PROMPT_CHARS)
    seed: Seed | None = None
    steps: int | None = Field(None, ge=1, le=contract.MAX_STEPS, description="Overrides `quality`.")
    guidance_scale: float | None = Field(None, ge=0.0, le=contract.MAX_GUIDANCE_SCALE)
    scheduler: SchedulerName | None = None
    strength: float | None = Field(
        None, gt=0.0, le=1.0, description="Default 1 with a mask, else from input_fidelity."
    )

    def images(self) -> list[UploadFile]:
        return self.image + self.image_list


class ImageVariationForm(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    image: UploadFile = Field(description="The image to vary (PNG, JPEG, WebP or GIF).")
    model: str | None = Field(None, description="A served model name from GET /v1/models.")
    n: int = Field(1, ge=1, le=MAX_IMAGES_PER_REQUEST, description="Variations, each from its own seed.")
    response_format: Literal["url", "b64_json"] = "url"
    size: PublicSize = Field("1024x1024", description="WIDTHxHEIGHT, or `auto`: the input image's size.")
    user: str | None = None
    # Extensions.
    seed: Seed | None = None
    steps: int | None = Field(None, ge=1, le=contract.MAX_STEPS)
    guidance_scale: float | None = Field(None, ge=0.0, le=contract.MAX_GUIDANCE_SCALE)
    scheduler: SchedulerName | None = None
    strength: float | None = Field(None, gt=0.0, le=1.0, description="How far a variation may stray.")
