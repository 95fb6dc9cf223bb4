from __future__ import annotations

import asyncio
import io
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from PIL import Image

from frontend.api.tti import translation
from frontend.api.tti.schemas import TextToImageRequest
from frontend.generation.service import IMAGE_FORMATS, provider_model
from frontend.http.dependencies import GeneratorDep, SettingsDep, StoreDep
from frontend.http.errors import NotFound
from frontend.security.auth import CallerDep, RateLimitedCallerDep

router = APIRouter(tags=["Text-to-image with image store"])
IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}, "application/zip": {}}, "description": "The image, or a zip"}
}


@router.post("/images/tti", response_class=Response, responses=IMAGE_RESPONSES)
async def text_to_image(
    body: TextToImageRequest,
    request: Request,
    caller: RateLimitedCallerDep,
    generator: GeneratorDep,
    settings: SettingsDep,
) -> Response:
    """One image (`image/png`) or, for `count > 1`, a zip of them; ids and seeds in X-Image-Id / X-Seed."""
    metadata = await generator.model(provider_model(body.provider), param="provider")
    job = translation.to_job(body, metadata, caller, settings.default_safety_tolerance)
    result = await generator.generate(job, request.is_disconnected)
    headers = {
        "X-Image-Id": ",".join(i.record.id for i in result.images),
        "X-Seed": ",".join(str(i.record.seed) for i in result.images),
    }
    if len(result.images) == 1:
        record = result.images[0].record
        filename = translation.download_name(record.name, record.id, record.format)
        headers["Content-Disposition"] = f'inline; filename="{filename}"'
        return Response(result.images[0].data, media_type=IMAGE_FORMATS[record.format][1], headers=headers)
    archive = await asyncio.to_thread(translation.zip_images, result)
    headers["Content-Disposition"] = f'attachment; filename="{body.name or "images"}.zip"'
    return Response(archive, media_type="application/zip", headers=headers)


def _resized(data: bytes, width: int, image_format: str) -> bytes:
    picture = Image.open(io.BytesIO(data))
    height = max(1, round(picture.height * width / picture.width))
    buffer = io.BytesIO()
    picture.resize((width, height), Image.Resampling.LANCZOS).save(buffer, IMAGE_FORMATS[image_format][0])
    return buffer.getvalue()


@router.get("/images/{image_id}", response_class=Response, responses=IMAGE_RESPONSES)
async def get_image(
    image_id: str, caller: CallerDep, store: StoreDep, width: int | None = Query(None, ge=1, le=4096)
) -> Response:
    """One of your stored images; `width` resizes it keeping the aspect ratio. Others' images are 404."""
    # The database and the blob store block (PostgreSQL, S3): off the event loop.
    record = await asyncio.to_thread(store.get, image_id, caller.owner)
    data = await asyncio.to_thread(store.read, record) if record else None
    if record is None or data is None:
        raise NotFound("no such image")
    if width is not None and width != record.width:
        data = await asyncio.to_thread(_resized, data, width, record.format)
    headers = {"X-Image-Id": record.id, "X-Seed": str(record.seed)}
    return Response(data, media_type=IMAGE_FORMATS[record.format][1], headers=headers)
