"""POST /v1/generate-image <-> the internal ImageJob."""

from __future__ import annotations

from frontend.api.generate_image.schemas import ASPECT_RATIO_SIZES, GenerateImageRequest
from frontend.api.schema_types import lora_pairs
from frontend.generation.prompt_upsampling import upsample_prompt
from frontend.generation.service import ImageJob, seed_or_random, validated
from frontend.generation.sizing import generation_size
from frontend.security.auth import Caller
from t2i.contract import ModelMetadata
from t2i.request import GenerationRequest

ROUTE = "/v1/generate-image"
PUBLIC_NAMES = {"width": "aspect_ratio", "height": "aspect_ratio"}


def to_job(body: GenerateImageRequest, metadata: ModelMetadata, caller: Caller) -> ImageJob:
    width, height = ASPECT_RATIO_SIZES[body.aspect_ratio]
    gen_width, gen_height = generation_size(width, height, metadata)
    # Never changes the prompt unless asked to.
    prompt = upsample_prompt(body.prompt) if body.prompt_upsampling else body.prompt
    request = GenerationRequest(
        prompt=prompt,
        negative_prompt=body.negative_prompt or "",
        width=gen_width,
        height=gen_height,
        seed=seed_or_random(body.seed),
        loras=lora_pairs(body.loras),
    )
    return ImageJob(
        validated(request, metadata, PUBLIC_NAMES),
        width,
        height,
        route=ROUTE,
        output_format=body.output_format,
        owner=caller.owner,
        safety_tolerance=body.safety_tolerance,
    )
