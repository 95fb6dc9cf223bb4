"""What belongs to the caller or describes the service: usage history and the style presets."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel

from frontend.generation.styles import load_styles
from frontend.http.dependencies import UsageDep
from frontend.security.auth import CallerDep
from frontend.storage.usage import UsageRecord

router = APIRouter(prefix="/v1", tags=["account"])


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
