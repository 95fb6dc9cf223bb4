"""POST /v1/images/edits and /v1/images/variations <-> the internal ImageJob; the OpenAI images response.

An edit with a mask is inpainting: the transparent region is repainted from noise (strength 1), the rest
is kept in latent space while denoising and then pasted back exactly (frontend.generation.compositing).
An edit without a mask is image-to-image from the image and the prompt; a variation is image-to-image from the
image alone, under a fixed neutral prompt (the API has none).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
from fastapi import UploadFile

from frontend.api.openai.edit_schemas import (
    MAX_EDIT_IMAGES,
    ImageEditFields,
    ImageEditForm,
    ImageEditJSON,
    ImageVariationForm,
)
from frontend.api.openai.image_inputs import (
    INPAINT_STRENGTH,
    INPUT_FIDELITY_STRENGTH,
    KEEP,
    VARIATION_STRENGTH,
    decode_image,
    mean_image,
    repaint_mask,
)
from frontend.api.openai.translation import QUALITY_TIERS, tier_steps
from frontend.api.schema_types import lora_pairs
from frontend.generation.compositing import KeptPixels
from frontend.generation.references import Origin
from frontend.generation.service import ImageJob, seed_or_random, validated
from frontend.generation.sizing import generation_size, parse_size
from frontend.http.errors import InvalidParameter
from frontend.security.auth import Caller
from frontend.settings import Settings
from t2i.contract import ModelMetadata
from t2i.request import GenerationRequest

EDITS_ROUTE = "/v1/images/edits"
VARIATIONS_ROUTE = "/v1/images/variations"
# A reference (URL, data URI, stored image id) -> its bytes, errors the API's (ImageGenerator.read_reference).
ReadReference = Callable[[str, Origin], Awaitable[bytes]]
# Internal field -> this API's field, for error messages.
PUBLIC_NAMES = {"num_images": "n", "width": "size", "height": "size", "init_image": "image"}
# The prompt of every variation. Empty is refused by the pipeline (a prompt is required), and a
# descriptive one would pull every image towards its subject; this names none.
VARIATION_PROMPT = "an image"


def output_size(size: str, image: np.ndarray, metadata: ModelMetadata) -> tuple[int, int]:
    """`auto` is the input image's own size here (kept pixels then come back byte for byte); any other
    size is WIDTHxHEIGHT, and the image is stretched to it."""
    if size == "auto":
        return image.shape[1], image.shape[0]
    return parse_size(size, metadata)


@dataclass(frozen=True)
class EditInputs:
    """An edit's images and mask as sent, undecoded, each with the name errors give it."""

    images: list[tuple[str, bytes]]
    mask: tuple[str, bytes] | None = None
    images_param: str = "image"  # the field itself, for errors about all of them


def form_inputs(form: ImageEditForm) -> EditInputs:
    """The multipart body's files; errors name `image`, or `image[i]` among several."""
    files: list[UploadFile] = form.images()
    if not files:
        raise InvalidParameter("image is required: one image file, or several as image[]", param="image")
    if form.image and form.image_list:
        raise InvalidParameter("send the images either as image or as image[], not both", param="image")
    if len(files) > MAX_EDIT_IMAGES:
        raise InvalidParameter(f"at most {MAX_EDIT_IMAGES} images, got {len(files)}", param="image")
    # Starlette has spooled each part already (to disk past 1 MiB); the body limit bounds them.
    names = ["image"] if len(files) == 1 else [f"image[{i}]" for i in range(len(files))]
    mask = ("mask", form.mask.file.read()) if form.mask is not None else None
    return EditInputs([(name, f.file.read()) for name, f in zip(names, files, strict=True)], mask)


async def json_inputs(body: ImageEditJSON, read: ReadReference) -> EditInputs:
    """The JSON body's references, read at once; errors name `images[i]` or `mask`."""
    origins = [Origin(i, f"images[{i}]") for i in range(len(body.images))]
    reads = [read(ref.reference, origin) for ref, origin in zip(body.images, origins, strict=True)]
    if body.mask is not None:
        reads.append(read(body.mask.reference, Origin(len(origins), "mask")))
    data = await asyncio.gather(*reads)
    images = [(origin.label, image) for origin, image in zip(origins, data[: len(origins)], strict=True)]
    mask = ("mask", data[-1]) if body.mask is not None else None
    return EditInputs(images, mask, "images")


def to_edit_job(
    form: ImageEditFields, inputs: EditInputs, metadata: ModelMetadata, caller: Caller, settings: Settings
) -> ImageJob:
    """Decodes the images (CPU-bound: the route runs this off the event loop)."""
    images = [decode_image(data, name) for name, data in inputs.images]
    width, height = output_size(form.size, images[0], metadata)
    gen_width, gen_height = generation_size(width, height, metadata)
    keep = None
    if inputs.mask is not None:
        if len(images) > 1:
            # OpenAI applies the mask to the first image; the others could only be ignored here.
            raise InvalidParameter(
                f"a mask edits one image; got {len(images)} (send only the image the mask belongs to)",
                param=inputs.images_param,
            )
        init_image = images[0]
        mask_param, mask_data = inputs.mask
        mask = repaint_mask(mask_data, (init_image.shape[1], init_image.shape[0]), mask_param)
        strength = form.strength or INPAINT_STRENGTH
        keep = KeptPixels.at_output_size(init_image, mask == KEEP, width, height)
    else:
        init_image = images[0] if len(images) == 1 else mean_image(images, gen_width, gen_height)
        mask = None
        strength = form.strength or INPUT_FIDELITY_STRENGTH[form.input_fidelity or "low"]
    request = GenerationRequest(
        prompt=form.prompt,
        negative_prompt=form.negative_prompt or "",
        width=gen_width,
        height=gen_height,
        steps=form.steps or tier_steps(QUALITY_TIERS[form.quality], metadata),
        guidance_scale=form.guidance_scale if form.guidance_scale is not None else -1.0,
        seed=seed_or_random(form.seed),
        num_images=form.n,
        scheduler=form.scheduler or "",
        loras=lora_pairs(form.loras),
        init_image=init_image,
        strength=strength,
        mask=mask,
        partial_images=form.partial_images if form.stream else 0,
    )
    return ImageJob(
        validated(request, metadata, PUBLIC_NAMES),
        width,
        height,
        route=EDITS_ROUTE,
        output_format=form.output_format,
        owner=caller.owner,
        safety_tolerance=settings.default_safety_tolerance,
        keep=keep,
    )


def to_variation_job(
    form: ImageVariationForm, metadata: ModelMetadata, caller: Caller, settings: Settings
) -> ImageJob:
    """Decodes the upload (CPU-bound: the route runs this off the event loop)."""
    # Starlette has spooled the part already (to disk past 1 MiB); the body limit bounds it.
    image = decode_image(form.image.file.read(), "image")
    width, height = output_size(form.size, image, metadata)
    gen_width, gen_height = generation_size(width, height, metadata)
    request = GenerationRequest(
        prompt=VARIATION_PROMPT,
        width=gen_width,
        height=gen_height,
        steps=form.steps or 0,
        guidance_scale=form.guidance_scale if form.guidance_scale is not None else -1.0,
        seed=seed_or_random(form.seed),
        num_images=form.n,
        scheduler=form.scheduler or "",
        loras=lora_pairs(form.loras),
        init_image=image,
        strength=form.strength or VARIATION_STRENGTH,
    )
    return ImageJob(
        validated(request, metadata, PUBLIC_NAMES),
        width,
        height,
        route=VARIATIONS_ROUTE,
        owner=caller.owner,
        safety_tolerance=settings.default_safety_tolerance,
    )
