"""OpenAI images request <-> the internal ImageJob / GenerationResult."""

from __future__ import annotations

import base64
import secrets
import time

from frontend.errors import InvalidParameter
from frontend.generation import GenerationResult, ImageJob, validated
from frontend.openai_api.schemas import ImageData, ImageGenerationRequest, ImagesResponse, Usage
from frontend.sizing import generation_size, parse_size
from t2i.contract import ModelMetadata
from t2i.request import GenerationRequest

# Internal field -> this API's field, for error messages.
PUBLIC_NAMES = {"num_images": "n", "width": "size", "height": "size"}

# `vivid`: DALL-E 3's "hyper-real and dramatic"; a prompt suffix and stronger guidance.
VIVID_SUFFIX = ", vivid colors, dramatic lighting, high contrast, highly detailed"
VIVID_GUIDANCE_BOOST = 1.5


def to_job(body: ImageGenerationRequest, metadata: ModelMetadata) -> ImageJob:
    if body.model is not None and body.model != metadata.name:
        raise InvalidParameter(
            f"model '{body.model}' is not served here; available models: {metadata.name}", param="model"
        )
    width, height = parse_size(body.size, metadata)
    gen_width, gen_height = generation_size(width, height, metadata)
    guidance = body.guidance_scale if body.guidance_scale is not None else metadata.default_guidance_scale
    prompt = body.prompt
    if body.style == "vivid":
        prompt += VIVID_SUFFIX
        if body.guidance_scale is None:
            guidance += VIVID_GUIDANCE_BOOST
    steps = body.steps or (metadata.hd_steps if body.quality == "hd" else metadata.default_steps)
    request = GenerationRequest(
        prompt=prompt,
        negative_prompt=body.negative_prompt or "",
        width=gen_width,
        height=gen_height,
        steps=steps,
        guidance_scale=guidance,
        seed=body.seed if body.seed is not None else secrets.randbelow(2**32),
        num_images=body.n,
        scheduler=body.scheduler or "",
    )
    return ImageJob(validated(request, metadata, PUBLIC_NAMES), width, height)


def cost(job: ImageJob, price_per_megapixel_step: float) -> float:
    megapixels = job.request.width * job.request.height / 1e6
    return round(price_per_megapixel_step * megapixels * job.request.steps * job.request.num_images, 6)


def to_response(
    body: ImageGenerationRequest,
    job: ImageJob,
    result: GenerationResult,
    url_for: dict[str, str],
    price_per_megapixel_step: float,
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
        cost=cost(job, price_per_megapixel_step),
        latency_ms=result.latency_ms,
        image_size=f"{job.output_width}x{job.output_height}",
        model_used=result.model,
    )
    return ImagesResponse(created=int(time.time()), data=data, usage=usage, provider=body.provider)
