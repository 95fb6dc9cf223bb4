from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import StreamingResponse

from frontend.api.openai import edits, streaming, translation
from frontend.api.openai.edit_schemas import ImageEditFields, ImageEditForm, ImageEditJSON, ImageVariationForm
from frontend.api.openai.schemas import ImageGenerationRequest, ImagesResponse, ModelCard, ModelList
from frontend.generation.service import ImageGenerator, ImageJob
from frontend.http.content_types import JSONBodyRoute, json_body_alternative
from frontend.http.dependencies import GeneratorDep, SettingsDep
from frontend.http.errors import ModelNotFound
from frontend.security.auth import CallerDep, RateLimitedCallerDep
from frontend.security.signed_urls import absolute_image_url
from frontend.settings import Settings

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
    metadata = await generator.model(body.model)
    job = translation.to_job(body, metadata, caller, settings)
    if body.stream:
        return stream_events(generator, job, streaming.GENERATION_EVENTS, body.quality)
    result = await generator.generate(job, request.is_disconnected)
    urls = {i.record.id: absolute_image_url(request, settings, i.record.filename) for i in result.images}
    return translation.to_response(body, job, result, urls)


async def edit_images_json(
    body: ImageEditJSON,
    request: Request,
    caller: RateLimitedCallerDep,
    generator: GeneratorDep,
    settings: SettingsDep,
) -> ImagesResponse | StreamingResponse:
    """OpenAI's JSON form of an edit: `images` (and `mask`) by `image_url` (http(s), fetched under the
    reference image rules, or a data URI) or `file_id` (one of your stored images)."""
    metadata = await generator.model(body.model)  # an unknown model is refused before any URL is fetched
    inputs = await edits.json_inputs(
        body, lambda reference, origin: generator.read_reference(reference, caller.owner, origin)
    )
    job = await asyncio.to_thread(edits.to_edit_job, body, inputs, metadata, caller, settings)
    return await answer_edit(body, job, request, generator, settings)


# Registered before the multipart route, so that it takes the JSON requests and that one the rest.
router.add_api_route(
    "/images/edits",
    edit_images_json,
    methods=["POST"],
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    responses=EVENT_STREAM,
    route_class_override=JSONBodyRoute,
)


@router.post(
    "/images/edits",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    responses=EVENT_STREAM,
    openapi_extra=json_body_alternative(ImageEditJSON.__name__),
)
async def edit_images(
    form: Annotated[ImageEditForm, Form(media_type="multipart/form-data")],
    request: Request,
    caller: RateLimitedCallerDep,
    generator: GeneratorDep,
    settings: SettingsDep,
) -> ImagesResponse | StreamingResponse:
    """Edit an image from a prompt: repaint where the mask is transparent, keeping every other pixel, or
    redraw it all without a mask; works with the official `openai` SDK's `images.edit`. Also takes
    OpenAI's JSON body (`application/json`: `images` and `mask` by `image_url` or `file_id`)."""
    metadata = await generator.model(form.model)

    def to_job() -> ImageJob:
        return edits.to_edit_job(form, edits.form_inputs(form), metadata, caller, settings)

    job = await asyncio.to_thread(to_job)  # reads and decodes the uploads
    return await answer_edit(form, job, request, generator, settings)


async def answer_edit(
    fields: ImageEditFields, job: ImageJob, request: Request, generator: ImageGenerator, settings: Settings
) -> ImagesResponse | StreamingResponse:
    if fields.stream:
        return stream_events(generator, job, streaming.EDIT_EVENTS, fields.quality)
    result = await generator.generate(job, request.is_disconnected)
    urls = {i.record.id: absolute_image_url(request, settings, i.record.filename) for i in result.images}
    return translation.images_response(fields.response_format, job, result, urls, fields.quality)


@router.post("/images/variations", response_model=ImagesResponse, response_model_exclude_none=True)
async def create_image_variations(
    form: Annotated[ImageVariationForm, Form(media_type="multipart/form-data")],
    request: Request,
    caller: RateLimitedCallerDep,
    generator: GeneratorDep,
    settings: SettingsDep,
) -> ImagesResponse:
    """`n` variations of an image; works with the official `openai` SDK's `images.create_variation`."""
    metadata = await generator.model(form.model)
    job = await asyncio.to_thread(edits.to_variation_job, form, metadata, caller, settings)
    result = await generator.generate(job, request.is_disconnected)
    urls = {i.record.id: absolute_image_url(request, settings, i.record.filename) for i in result.images}
    return translation.images_response(form.response_format, job, result, urls, "auto")


def stream_events(generator: ImageGenerator, job: ImageJob, kind: str, quality: str) -> StreamingResponse:
    generator.moderate(job)  # a refused prompt is a 400 before the stream starts, not an event
    fields = translation.image_fields(job, quality)
    events = streaming.image_events(generator, job, kind, fields, partial(translation.usage, job))
    return StreamingResponse(events, media_type="text/event-stream")


@router.get("/models", response_model=ModelList, response_model_exclude_none=True)
async def list_models(caller: CallerDep, generator: GeneratorDep) -> ModelList:
    """Every served model with its facts (family, sizes, defaults, schedulers, what it supports), then
    the aliases (`root`: the served model a name runs)."""
    catalogue = await generator.catalogue()
    cards = [translation.model_card(name, root, catalogue) for name, root in catalogue.names().items()]
    return ModelList(data=cards)


@router.get("/models/{model:path}", response_model=ModelCard, response_model_exclude_none=True)
async def retrieve_model(model: str, caller: CallerDep, generator: GeneratorDep) -> ModelCard:
    """One name of GET /v1/models (a served model or an alias), as OpenAI's model object; else a 404."""
    catalogue = await generator.catalogue()
    root = catalogue.names().get(model)
    if root is None:
        raise ModelNotFound(f"The model '{model}' does not exist or is not served here", param="model")
    return translation.model_card(model, root, catalogue)
