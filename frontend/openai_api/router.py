from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, Request

from frontend.auth import CallerDep, RateLimitedCallerDep
from frontend.dependencies import GeneratorDep, SettingsDep, TritonDep
from frontend.openai_api import edits, translation
from frontend.openai_api.edit_schemas import ImageEditForm, ImageVariationForm
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
    job = translation.to_job(body, metadata, caller, settings.default_safety_tolerance)
    result = await generator.generate(job, request.is_disconnected)
    urls = {i.record.id: absolute_image_url(request, settings, i.record.filename) for i in result.images}
    return translation.to_response(body, job, result, urls)


@router.post("/images/edits", response_model=ImagesResponse, response_model_exclude_none=True)
async def edit_images(
    form: Annotated[ImageEditForm, Form(media_type="multipart/form-data")],
    request: Request,
    caller: RateLimitedCallerDep,
    generator: GeneratorDep,
    settings: SettingsDep,
) -> ImagesResponse:
    """Edit an image from a prompt: repaint where the mask is transparent, keeping every other pixel, or
    redraw it all without a mask; works with the official `openai` SDK's `images.edit`."""
    metadata = await generator.metadata()
    tolerance = settings.default_safety_tolerance
    job = await asyncio.to_thread(edits.to_edit_job, form, metadata, caller, tolerance)
    result = await generator.generate(job, request.is_disconnected)
    urls = {i.record.id: absolute_image_url(request, settings, i.record.filename) for i in result.images}
    return edits.to_response(form.response_format, job, result, urls)


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
    tolerance = settings.default_safety_tolerance
    job = await asyncio.to_thread(edits.to_variation_job, form, metadata, caller, tolerance)
    result = await generator.generate(job, request.is_disconnected)
    urls = {i.record.id: absolute_image_url(request, settings, i.record.filename) for i in result.images}
    return edits.to_response(form.response_format, job, result, urls)


@router.get("/models", response_model=ModelList)
async def list_models(caller: CallerDep, triton: TritonDep) -> ModelList:
    """The served models (one per model repository)."""
    metadata = await triton.metadata()
    return ModelList(data=[ModelCard(id=metadata.name, created=0)])
