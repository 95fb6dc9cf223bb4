"""OpenAI images request <-> the internal ImageJob / GenerationResult."""

from __future__ import annotations

import base64
import time
from typing import Any

from frontend.api.openai.image_inputs import IMAGE_TO_IMAGE_STRENGTH
from frontend.api.openai.schemas import (
    ImageData,
    ImageGenerationRequest,
    ImagesResponse,
    ModelCapabilities,
    ModelCard,
    QualityTier,
    SizeRange,
    Usage,
)
from frontend.api.schema_types import lora_pairs
from frontend.generation.catalogue import Catalogue
from frontend.generation.service import (
    IMAGE_FORMATS,
    GenerationResult,
    ImageJob,
    check_provider,
    seed_or_random,
    validated,
)
from frontend.generation.sizing import generation_size, parse_size
from frontend.generation.styles import load_styles
from frontend.http.errors import InvalidParameter
from frontend.security.auth import Caller
from frontend.settings import Settings
from t2i import contract
from t2i.contract import ModelMetadata
from t2i.request import GenerationRequest

ROUTE = "/v1/images/generations"
# Internal field -> this API's field, for error messages.
PUBLIC_NAMES = {"num_images": "n", "width": "size", "height": "size"}
# Provider names of the OpenAI documents (seed 001 sends "provider": "openai").
PROVIDERS = ("openai",)
# Every `quality` of the spec -> the tier it runs. The models here publish two step counts (default and hd),
# so the tiers above `high` run hd too, and the response names the tier that ran.
QUALITY_TIERS: dict[str, QualityTier] = {
    "low": "low",
    "medium": "medium",
    "standard": "medium",
    "auto": "medium",
    "high": "high",
    "hd": "high",
    "xhigh": "high",
    "max": "high",
}


def tier_steps(tier: QualityTier, metadata: ModelMetadata) -> int:
    """Denoising steps of a quality tier, from the model's own settings: the one place they are derived."""
    if tier == "low":
        return (metadata.default_steps + 1) // 2  # about half, never 0 (SDXL-Turbo's default is 1 step)
    return metadata.hd_steps if tier == "high" else metadata.default_steps


def model_card(name: str, root: str, catalogue: Catalogue) -> ModelCard:
    """GET /v1/models' entry for a name and the served model it runs (`root`, from catalogue.names()):
    a served model with its facts, or an alias of one."""
    if name != root:
        return ModelCard(id=name, created=0, root=root)
    metadata = catalogue.models[name]
    return ModelCard(
        id=name,
        created=0,
        root=name,
        family=metadata.family,
        description=contract.FAMILY_DESCRIPTIONS[metadata.family],
        size=SizeRange(
            native=f"{metadata.native_width}x{metadata.native_height}",
            min_side=metadata.smallest_side,
            max_side=metadata.max_side,
            multiple=metadata.size_multiple,
        ),
        default_steps=metadata.default_steps,
        hd_steps=metadata.hd_steps,
        default_guidance_scale=metadata.default_guidance_scale,
        default_scheduler=metadata.default_scheduler,
        schedulers=list(metadata.schedulers),
        loras=list(metadata.loras),
        capabilities=ModelCapabilities(
            inpainting="inpainting-unet" if metadata.inpainting_unet else "latent-blending"
        ),
        random_weights=metadata.random_weights,
    )


def check_supported(body: ImageGenerationRequest) -> None:
    """Spec values these models cannot honour: a 400 naming the field rather than a silent substitute."""
    if body.background == "transparent":
        raise InvalidParameter(
            "background 'transparent' is not supported: these models draw opaque images; use auto or opaque",
            param="background",
        )
    if body.output_format not in IMAGE_FORMATS:
        formats = ", ".join(IMAGE_FORMATS)
        raise InvalidParameter(
            f"output_format '{body.output_format}' is not produced here; use one of: {formats}",
            param="output_format",
        )


def safety_tolerance(body: ImageGenerationRequest, settings: Settings) -> int:
    """`moderation` on the moderator's levels: `auto` is the server's default, `low` a more permissive one
    (never stricter than the default)."""
    if body.moderation == "low":
        return max(settings.low_moderation_safety_tolerance, settings.default_safety_tolerance)
    return settings.default_safety_tolerance


def to_job(
    body: ImageGenerationRequest, metadata: ModelMetadata, caller: Caller, settings: Settings
) -> ImageJob:
    check_provider(body.provider, metadata, also=PROVIDERS)
    check_supported(body)
    width, height = parse_size(body.size, metadata)
    gen_width, gen_height = generation_size(width, height, metadata)
    # `natural` is the prompt as written; `vivid` is the preset of that name in data/styles.json.
    style = load_styles()[body.style]
    prompt, negative_prompt = style.apply(body.prompt, body.negative_prompt or "")
    guidance = body.guidance_scale
    if guidance is None:
        guidance = style.guidance_scale if body.style != "natural" else metadata.default_guidance_scale
    request = GenerationRequest(
        prompt=prompt,
        negative_prompt=negative_prompt,
        width=gen_width,
        height=gen_height,
        steps=body.steps or tier_steps(QUALITY_TIERS[body.quality], metadata),
        guidance_scale=guidance,
        seed=seed_or_random(body.seed),
        num_images=body.n,
        scheduler=body.scheduler or "",
        loras=lora_pairs(body.loras),
        # Previews exist only to be streamed.
        partial_images=body.partial_images if body.stream else 0,
    )
    return ImageJob(
        validated(request, metadata, PUBLIC_NAMES),
        width,
        height,
        route=ROUTE,
        output_format=body.output_format,
        output_quality=body.output_compression,
        owner=caller.owner,
        safety_tolerance=safety_tolerance(body, settings),
        # `image`: image-to-image through the references of /images/tti (their SSRF rules included),
        # whose weight is 1 - strength.
        references=[body.image] if body.image is not None else [],
        reference_weight=1.0 - IMAGE_TO_IMAGE_STRENGTH,
        reference_param="image",
    )


def to_response(
    body: ImageGenerationRequest, job: ImageJob, result: GenerationResult, url_for: dict[str, str]
) -> ImagesResponse:
    return images_response(body.response_format, job, result, url_for, body.quality, body.provider)


def images_response(
    response_format: str,
    job: ImageJob,
    result: GenerationResult,
    url_for: dict[str, str],
    quality: str,
    provider: str | None = None,
) -> ImagesResponse:
    """The images response of every OpenAI route (generations, edits, variations)."""
    data = []
    for image in result.images:
        item = ImageData(revised_prompt=job.request.prompt, seed=image.record.seed)
        if response_format == "b64_json":
            item.b64_json = base64.b64encode(image.data).decode("ascii")
        else:
            item.url = url_for[image.record.id]
        data.append(item)
    return ImagesResponse(
        created=int(time.time()),
        data=data,
        usage=usage(job, result),
        provider=provider,
        **image_fields(job, quality),
    )


def image_fields(job: ImageJob, quality: str) -> dict[str, Any]:
    """The gpt-image fields every response and stream event carries: what was made, as the spec names it
    (`quality`: the tier that ran)."""
    return {
        "output_format": job.output_format,  # checked by each route's schema
        "size": f"{job.output_width}x{job.output_height}",
        "quality": QUALITY_TIERS[quality],
        "background": "opaque",
    }


def usage(job: ImageJob, result: GenerationResult) -> Usage:
    # The model that ran (an alias's target), as seed 001 describes model_used.
    size = f"{job.output_width}x{job.output_height}"
    return Usage(cost=result.cost, latency_ms=result.latency_ms, image_size=size, model_used=result.model)
