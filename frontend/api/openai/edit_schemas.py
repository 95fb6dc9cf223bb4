"""Bodies of POST /v1/images/edits and /v1/images/variations. The multipart ones as the official SDK sends
them: files as file parts, every other field as a text part (`n` arrives as "2", `stream` as "false"), so
these models coerce where the JSON schemas are strict. Edits also take OpenAI's JSON body, images by
reference. Fields in the order of OpenAI's CreateImageEditRequest
and CreateImageVariationRequest, then this server's extensions (as `extra_body` sends them).

Fields of the GPT image models that this server cannot honour are declared, so that sending them is a 400
naming the field with the reason, not a silently different result.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import UploadFile
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from frontend.api.schema_types import (
    MAX_IMAGES_PER_REQUEST,
    LorasFormField,
    NullableFieldsModel,
    NullIsDefault,
    PublicSize,
    SchedulerName,
    Seed,
    prompt_field,
)
from t2i import contract

# Images one edit takes, as OpenAI's GPT image models do.
MAX_EDIT_IMAGES = 16
# ImageRefParam.image_url's limit in OpenAI's spec (a data URI of a large image).
MAX_IMAGE_URL_CHARS = 20 * 1024 * 1024


def refused(reason: str) -> AfterValidator:
    """A field accepted by the schema's type but refused whenever it is sent, with why."""

    def refuse(value: Any) -> Any:
        raise ValueError(reason)

    return AfterValidator(refuse)


MODEL_DESCRIPTION = "A served model or alias from GET /v1/models; unset: the default model."
NOT_GIF = "GIF output is not served here (output_format is png or jpeg)"
NOT_SVG = "SVG output is not served here (output_format is png or jpeg)"


class ImageEditFields(NullableFieldsModel):
    """Every field of an edit but its images, in both of its bodies. Fields the spec makes nullable read a
    null as their default (the multipart form sends none)."""

    # Unknown fields are accepted and ignored, as on /v1/images/generations.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    prompt: prompt_field(contract.MAX_PROMPT_CHARS) = Field(description="The edit to make.")  # type: ignore[valid-type]
    background: Literal["auto", "opaque"] | None = Field(
        None, description="`auto` or `opaque`: this server draws opaque images (no `transparent`)."
    )
    model: str | None = Field(None, description=MODEL_DESCRIPTION)
    n: Annotated[int, NullIsDefault()] = Field(
        1, ge=1, le=MAX_IMAGES_PER_REQUEST, description="Images to generate, as one batch."
    )
    size: Annotated[PublicSize, NullIsDefault()] = Field(
        "auto", description="WIDTHxHEIGHT of the result; `auto` (default): the input image's own size."
    )
    response_format: Annotated[Literal["url", "b64_json"], NullIsDefault()] = "url"
    output_format: Annotated[Literal["png", "jpeg"], NullIsDefault()] = Field(
        "png", description="`png` or `jpeg` (no webp, gif, svg)."
    )
    output_compression: Annotated[
        int | None, refused("output_compression is not supported: jpeg is encoded at quality 95")
    ] = Field(None, ge=0, le=100)
    user: str | None = None
    input_fidelity: Literal["low", "high"] | None = Field(
        None, description="Without a mask, `high` stays closer to the image (a lower strength)."
    )
    stream: Annotated[bool, NullIsDefault()] = Field(
        False, description="`true`: Server-Sent Events, `image_edit.*`."
    )
    partial_images: Annotated[int, NullIsDefault()] = Field(
        0, ge=0, le=contract.MAX_PARTIAL_IMAGES, description="Previews streamed before the images."
    )
    quality: Annotated[
        Literal["low", "medium", "high", "xhigh", "max", "auto", "standard"], NullIsDefault()
    ] = Field(
        "auto",
        description="Denoising steps: `low` half the model's default, `medium`, `auto`, `standard` the "
        "default, `high`, `xhigh`, `max` the model's hd steps.",
    )
    complexity: Literal["low", "medium", "high"] | None = Field(
        None, description="Accepted for compatibility; no effect (no planning stage here)."
    )
    frame_count: Annotated[int | None, refused(NOT_GIF)] = None
    frame_duration_ms: Annotated[int | None, refused(NOT_GIF)] = None
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
    loras: LorasFormField = None
    strength: float | None = Field(
        None, gt=0.0, le=1.0, description="Default 1 with a mask, else from input_fidelity."
    )


class ImageEditForm(ImageEditFields):
    """The multipart body, as the SDK's `images.edit` sends it."""

    image: list[UploadFile] = Field(
        default_factory=list,
        description="The image to edit (PNG, JPEG, WebP or GIF, at most 4096 px a side). Several, sent "
        "as `image[]` as the SDK does for a list, are blended (pixel mean) into one, without a mask.",
    )
    image_list: list[UploadFile] = Field(
        default_factory=list, alias="image[]", description="Several images: what the SDK sends for a list."
    )
    mask: UploadFile | None = Field(
        None,
        description="PNG of the image's size whose fully transparent pixels (alpha 0) mark where to "
        "repaint; every other pixel is kept exactly. Without it the whole image is redrawn.",
    )
    markup: Annotated[UploadFile | None, refused("markup images are not supported here; use mask")] = None

    def images(self) -> list[UploadFile]:
        return self.image + self.image_list


class ImageRef(BaseModel):
    """OpenAI's ImageRefParam: exactly one of `image_url` and `file_id`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    image_url: str | None = Field(
        None,
        max_length=MAX_IMAGE_URL_CHARS,
        description="An http(s) URL the server fetches (public hosts only, as for reference images) or "
        "a data:image/<png|jpeg|webp|gif>;base64 URI.",
    )
    file_id: str | None = Field(None, description="The id of one of your stored images (32 hex digits).")

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageRef:
        if (self.image_url is None) == (self.file_id is None):
            raise ValueError("give exactly one of image_url and file_id")
        return self

    @property
    def reference(self) -> str:
        """As the reference loader reads it: a URL, a data URI or a stored image's id."""
        return self.image_url if self.image_url is not None else str(self.file_id)


class ImageEditJSON(ImageEditFields):
    """The JSON body (OpenAI's EditImageBodyJsonParam): images by URL, data URI or stored image id."""

    # Strict as the generations body is: "n": "2" is an error, not coerced.
    model_config = ConfigDict(strict=True)

    images: list[ImageRef] = Field(
        min_length=1,
        max_length=MAX_EDIT_IMAGES,
        description="The images to edit; several (without a mask) are blended into one.",
    )
    mask: ImageRef | None = Field(
        None, description="The mask image, by the same rule as the multipart `mask` (alpha 0: repaint)."
    )


class ImageVariationForm(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    image: UploadFile = Field(description="The image to vary (PNG, JPEG, WebP or GIF).")
    model: str | None = Field(None, description=MODEL_DESCRIPTION)
    n: int = Field(1, ge=1, le=MAX_IMAGES_PER_REQUEST, description="Variations, each from its own seed.")
    response_format: Literal["url", "b64_json"] = "url"
    size: PublicSize = Field("1024x1024", description="WIDTHxHEIGHT, or `auto`: the input image's size.")
    user: str | None = None
    # Extensions.
    seed: Seed | None = None
    steps: int | None = Field(None, ge=1, le=contract.MAX_STEPS)
    guidance_scale: float | None = Field(None, ge=0.0, le=contract.MAX_GUIDANCE_SCALE)
    scheduler: SchedulerName | None = None
    loras: LorasFormField = None
    strength: float | None = Field(None, gt=0.0, le=1.0, description="How far a variation may stray.")
