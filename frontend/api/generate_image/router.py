from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from frontend.api.generate_image import translation
from frontend.api.generate_image.schemas import GenerateImageRequest, GenerateImageResponse
from frontend.http.dependencies import GeneratorDep, SettingsDep
from frontend.security.auth import RateLimitedCallerDep
from frontend.security.signed_urls import absolute_image_url

router = APIRouter(prefix="/v1", tags=["Generate-image"])


@router.post("/generate-image", response_model=GenerateImageResponse)
async def generate_image(
    body: GenerateImageRequest,
    request: Request,
    caller: RateLimitedCallerDep,
    generator: GeneratorDep,
    settings: SettingsDep,
) -> GenerateImageResponse:
    """One image at an aspect ratio, as a signed URL (valid one hour by default); the seed is always
    returned so the image can be regenerated."""
    job = translation.to_job(body, await generator.model(None), caller)  # the default model
    result = await generator.generate(job, request.is_disconnected)
    image = result.images[0]
    return GenerateImageResponse(
        success=True,
        image_url=absolute_image_url(request, settings, image.record.filename),
        request_id=uuid.uuid4().hex,
        seed=image.record.seed,
        revised_prompt=job.request.prompt,
    )
