from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import StreamingResponse

from frontend.api.openai import edits, streaming, translation
from frontend.api.openai.edit_schemas import ImageEditForm, ImageVariationForm
from frontend.api.openai.schemas import ImageGenerationRequest, ImagesResponse, ModelCard, ModelList
from frontend.generation.service import ImageGenerator, ImageJob
from frontend.http.dependencies import GeneratorDep, SettingsDep, TritonDep
from frontend.security.auth import CallerDep, RateLimitedCallerDep
from frontend.security.signed_urls import absolute_image_url

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible images"])


# `stream: true` answers Server-Sent Events instead of the JSON body (frontend/api/openai/streaming.py);
# each event's data is one JSON object.
SSE_EVENTS = "`<kind>.partial_image` x partial_images, then `<kind>.completed` per image; `error` on failure"
EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {"schema": {"type": "object", "description": SSE_EVENTS}}},
        "description": "the images (JSON), or with `stream: true` the events",
    }
}


@router.post(
    "/images/generations",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    responses=EVENT_STREAM,
)
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
        return stream_events(generator, job, streaming.GENERATION_EVENTS, body.quality)
    result = await generator.generate(job, request.is_disconnected)
    urls = {i.record.id: absolute_image_url(request, settings, i.record.filename) for i in result.images}
    return translation.to_response(body, job, result, urls)


@router.post(
    "/images/edits", response_model=ImagesResponse, response_model_exclude_none=True, responses=EVENT_STREAM
)
async def edit_images(
    form: Annotated[ImageEditForm, Form(media_type="multipart/form-data")],
    request: Request,
    caller: RateLimitedCallerDep,
    generator: GeneratorDep,
    settings: SettingsDep,
) -> ImagesResponse | StreamingResponse:
    """Edit an image from a prompt: repaint where the mask is transparent, keeping every other pixel, or
    redraw it all without a mask; works with the official `openai` SDK's `images.edit`."""
    metadata = await generator.metadata()
    job = await asyncio.to_thread(edits.to_edit_job, form, metadata, caller, settings)
    if form.stream:
        return stream_events(generator, job, streaming.EDIT_EVENTS, form.quality)
    result = await generator.generate(job, request.is_disconnected)
    urls = {i.record.id: absolute_image_url(request, settings, i.record.filename) for i in result.images}
    return translation.images_response(form.response_format, job, result, urls, form.quality)


@router.post("/images/variations", response_model=ImagesResponse, response_model_exclude_none=True)
async def create_image_variations(
    form: Annotated[ImageVariationForm, Form(media_type="multipart/form-data")],
    request: Request,
    caller: RateLimitedCallerDep,
    generator: GeneratorDep,
    settings: SettingsDep,
) -> ImagesResponse:
    """`n` variations of an image; works with the official `openai` SDK's `images.create_variation`."""
    metadata = await generator.metadata()
    job = await asyncio.to_thread(edits.to_variation_job, form, metadata, caller, settings)
    result = await generator.generate(job, request.is_disconnected)
    urls = {i.record.id: absolute_image_url(request, settings, i.record.filename) for i in result.images}
    return translation.images_response(form.response_format, job, result, urls, "auto")


def stream_events(generator: ImageGenerator, job: ImageJob, kind: str, quality: str) -> StreamingResponse:
    generator.moderate(job)  # a refused prompt is a 400 before the stream starts, not an event
    fields = translation.image_fields(job, quality)
    events = streaming.image_events(generator, job, kind, fields, partial(translation.usage, job))
    return StreamingResponse(events, media_type="text/event-stream")


@router.get("/models", response_model=ModelList)
async def list_models(caller: CallerDep, triton: TritonDep, settings: SettingsDep) -> ModelList:
    """The served model first, then the aliases of it (`root`: the served model a name runs)."""
    names = translation.model_names(await triton.metadata(), settings.model_aliases)
    return ModelList(data=[ModelCard(id=name, created=0, root=root) for name, root in names.items()])
