"""OpenAI images request <-> the internal ImageJob / GenerationResult."""

from __future__ import annotations

import base64
import time

from frontend.auth import Caller
from frontend.errors import InvalidParameter
from frontend.generation import GenerationResult, ImageJob, check_provider, seed_or_random, validated
from frontend.openai_api.image_inputs import IMAGE_TO_IMAGE_STRENGTH
from frontend.openai_api.schemas import ImageData, ImageGenerationRequest, ImagesResponse, Usage
from frontend.sizing import generation_size, parse_size
from frontend.styles import load_styles
from t2i.contract import ModelMetadata
from t2i.request import GenerationRequest

ROUTE = "/v1/images/generations"
# Internal field -> this API's field, for error messages.
PUBLIC_NAMES = {"num_images": "n", "width": "size", "height": "size"}


def check_model(model: str | None, metadata: ModelMetadata) -> None:
    if model is not None and model != metadata.name:
        raise InvalidParameter(
            f"model '{model}' is not served here; available models: {metadata.name}", param="model"
        )


def to_job(body: ImageGenerationRequest, metadata: ModelMetadata, caller: Caller, tolerance: int) -> ImageJob:
    check_model(body.model, metadata)
    check_provider(body.provider, metadata)
    width, height = parse_size(body.size, metadata)
    gen_width, gen_height = generation_size(width, height, metadata)
    # `natural` is the prompt as written; `vivid` is the preset of that name in data/styles.json.
    style = load_styles()[body.style]
    prompt, negative_prompt = style.apply(body.prompt, body.negative_prompt or "")
    guidance = body.guidance_scale
    if guidance is None:
        guidance = style.guidance_scale if body.style != "natural" else metadata.default_guidance_scale
    steps = body.steps or (metadata.hd_steps if body.quality == "hd" else metadata.default_steps)
    request = GenerationRequest(
        prompt=prompt,
        negative_prompt=negative_prompt,
        width=gen_width,
        height=gen_height,
        steps=steps,
        guidance_scale=guidance,
        seed=seed_or_random(body.seed),
        num_images=body.n,
        scheduler=body.scheduler or "",
    )
    return ImageJob(
        validated(request, metadata, PUBLIC_NAMES),
        width,
        height,
        route=ROUTE,
        owner=caller.owner,
        safety_tolerance=tolerance,
        # `image`: image-to-image through the references of /images/tti (their SSRF rules included),
        # whose weight is 1 - strength.
        references=[body.image] if body.image is not None else [],
        reference_weight=1.0 - IMAGE_TO_IMAGE_STRENGTH,
        reference_param="image",
    )


def to_response(
    body: ImageGenerationRequest, job: ImageJob, result: GenerationResult, url_for: dict[str, str]
) -> ImagesResponse:
    data = []
    for image in result.images:
        item = ImageData(revised_prompt=job.request.prompt, seed=image.record.seed)
        if body.response_format == "b64_json":
            item.b64_json = base64.b64encode(image.data).decode("ascii")
        else:
            item.url = url_for[image.record.id]
        data.append(item)
    usage = Usage(
        cost=result.cost,
        latency_ms=result.latency_ms,
        image_size=f"{job.output_width}x{job.output_height}",
        model_used=result.model,
    )
    return ImagesResponse(created=int(time.time()), data=data, usage=usage, provider=body.provider)
