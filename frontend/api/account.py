"""What belongs to the caller or describes the service: stored images, usage history, style presets."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from frontend.generation.styles import load_styles
from frontend.http.dependencies import SettingsDep, StoreDep, UsageDep
from frontend.security.auth import CallerDep
from frontend.security.signed_urls import absolute_image_url
from frontend.storage.images import ImageRecord
from frontend.storage.usage import UsageRecord

router = APIRouter(prefix="/v1", tags=["account"])


class StoredImage(BaseModel):
    id: str = Field(description="For GET /images/{id} and as a reference image")
    url: str = Field(description="A signed link to the file, valid T2I_URL_TTL_S")
    created: int
    prompt: str
    negative_prompt: str
    seed: int
    size: str = Field(description="WIDTHxHEIGHT")
    model: str
    output_format: str
    folder: str
    name: str

    @classmethod
    def of(cls, record: ImageRecord, url: str) -> StoredImage:
        return cls(
            id=record.id,
            url=url,
            created=int(record.created),
            prompt=record.prompt,
            negative_prompt=record.negative_prompt,
            seed=record.seed,
            size=f"{record.width}x{record.height}",
            model=record.model,
            output_format=record.format,
            folder=record.folder,
            name=record.name,
        )


class StoredImageList(BaseModel):
    object: str = "list"
    data: list[StoredImage]


class UsageTotals(BaseModel):
    requests: int
    images: int
    cost: float
    latency_ms_avg: float


class UsageResponse(BaseModel):
    object: str = "list"
    data: list[UsageRecord]
    totals: UsageTotals


class StyleCard(BaseModel):
    name: str
    description: str
    prompt_template: str
    negative_prompt: str
    guidance_scale: float


class StyleList(BaseModel):
    object: str = "list"
    data: list[StyleCard]


@router.get("/images", response_model=StoredImageList)
def list_images(
    request: Request,
    caller: CallerDep,
    store: StoreDep,
    settings: SettingsDep,
    limit: int = Query(50, ge=1, le=200),
) -> StoredImageList:
    """The caller's own stored images, newest first, each with a signed link (the playground's gallery)."""
    # A plain def: FastAPI runs it in its thread pool, since the database calls block.
    records = store.list_owned(caller.owner, limit)
    return StoredImageList(
        data=[StoredImage.of(r, absolute_image_url(request, settings, r.filename)) for r in records]
    )


@router.get("/usage", response_model=UsageResponse)
def usage_history(
    caller: CallerDep, usage: UsageDep, limit: int = Query(100, ge=1, le=1000)
) -> UsageResponse:
    """The caller's own generation requests, newest first, with totals over all of them."""
    # A plain def: FastAPI runs it in its thread pool, since the database calls block.
    return UsageResponse(
        data=usage.history(caller.owner, limit), totals=UsageTotals(**usage.totals(caller.owner))
    )


@router.get("/styles", response_model=StyleList)
async def list_styles() -> StyleList:
    """Style presets for `style` of POST /images/tti (and `natural` / `vivid` of the OpenAI route)."""
    return StyleList(data=[StyleCard(**preset.__dict__) for preset in load_styles().values()])
