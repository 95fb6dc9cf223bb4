from __future__ import annotations

from fastapi import APIRouter, Request

from frontend.auth import CallerDep, RateLimitedCallerDep
from frontend.dependencies import GeneratorDep, SettingsDep, TritonDep
from frontend.openai_api import translation
from frontend.openai_api.schemas import ImageGenerationRequest, ImagesResponse, ModelCard, ModelList
from frontend.signed_urls import absolute_image_url

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible images"])


@router.post("/images/generations", response_model=ImagesResponse, response_model_exclude_none=True)
async def create_images(
    body: ImageGenerationRequest,
    request: Request,
    caller: RateLimitedCallerDep,
    generator: GeneratorDep,
    settings: SettingsDep,
) -> ImagesResponse:
    """Generate `n` images from a prompt; works with the official `openai` SDK's `images.generate`."""
    metadata = await generator.metadata()
    job = translation.to_job(body, metadata, caller, settings)
    result = await generator.generate(job, request.is_disconnected)
    urls = {i.record.id: absolute_image_url(request, settings, i.record.filename) for i in result.images}
    return translation.to_response(body, job, result, urls)


@router.get("/models", response_model=ModelList)
async def list_models(caller: CallerDep, triton: TritonDep, settings: SettingsDep) -> ModelList:
    """The served model first, then the aliases of it (`root`: the served model a name runs)."""
    names = translation.model_names(await triton.metadata(), settings.model_aliases)
    return ModelList(data=[ModelCard(id=name, created=0, root=root) for name, root in names.items()])
