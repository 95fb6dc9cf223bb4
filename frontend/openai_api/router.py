from __future__ import annotations

from fastapi import APIRouter, Request

from frontend.dependencies import GeneratorDep, SettingsDep, TritonDep
from frontend.openai_api import translation
from frontend.openai_api.schemas import ImageGenerationRequest, ImagesResponse, ModelCard, ModelList
from frontend.signed_urls import sign_image_url

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible images"])


@router.post("/images/generations", response_model=ImagesResponse, response_model_exclude_none=True)
async def create_images(
    body: ImageGenerationRequest, request: Request, generator: GeneratorDep, settings: SettingsDep
) -> ImagesResponse:
    """Generate `n` images from a prompt; works with the official `openai` SDK's `images.generate`."""
    job = translation.to_job(body, await generator.metadata())
    result = await generator.generate(job)
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    urls = {
        image.record.id: base
        + sign_image_url(settings.signing_key, image.record.filename, settings.url_ttl_s)
        for image in result.images
    }
    return translation.to_response(body, job, result, urls, settings.price_per_megapixel_step)


@router.get("/models", response_model=ModelList)
async def list_models(triton: TritonDep) -> ModelList:
    """The served models (one per model repository)."""
    metadata = await triton.metadata()
    return ModelList(data=[ModelCard(id=metadata.name, created=0)])
