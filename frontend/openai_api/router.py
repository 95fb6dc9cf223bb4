from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from frontend.auth import CallerDep, RateLimitedCallerDep
from frontend.dependencies import GeneratorDep, SettingsDep, TritonDep
from frontend.openai_api import streaming, translation
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
) -> ImagesResponse | StreamingResponse:
    """Generate `n` images from a prompt; works with the official `openai` SDK's `images.generate`, also
    with `stream=True` (Server-Sent Events: `partial_images` previews, then the images)."""
    metadata = await generator.metadata()
    job = translation.to_job(body, metadata, caller, settings)
    if body.stream:
        generator.moderate(job)  # a refused prompt is a 400 before the stream starts, not an event
        events = streaming.image_events(
            generator,
            job,
            streaming.GENERATION_EVENTS,
            translation.image_fields(body, job),
            partial(translation.usage, job),
        )
        return StreamingResponse(events, media_type="text/event-stream")
    result = await generator.generate(job, request.is_disconnected)
    urls = {i.record.id: absolute_image_url(request, settings, i.record.filename) for i in result.images}
    return translation.to_response(body, job, result, urls)


@router.get("/models", response_model=ModelList)
async def list_models(caller: CallerDep, triton: TritonDep, settings: SettingsDep) -> ModelList:
    """The served model first, then the aliases of it (`root`: the served model a name runs)."""
    names = translation.model_names(await triton.metadata(), settings.model_aliases)
    return ModelList(data=[ModelCard(id=name, created=0, root=root) for name, root in names.items()])
