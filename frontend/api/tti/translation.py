"""POST /images/tti <-> the internal ImageJob; the image bytes or a zip back."""

from __future__ import annotations

import io
import zipfile

from frontend.api.schema_types import lora_pairs
from frontend.api.tti.schemas import TextToImageRequest
from frontend.generation.service import GenerationResult, ImageJob, check_provider, seed_or_random, validated
from frontend.generation.sizing import generation_size, parse_size
from frontend.generation.styles import load_styles
from frontend.http.errors import InvalidParameter
from frontend.security.auth import Caller
from t2i.contract import ModelMetadata
from t2i.request import GenerationRequest

ROUTE = "/images/tti"
PUBLIC_NAMES = {"num_images": "count", "width": "size", "height": "size"}


def to_job(body: TextToImageRequest, metadata: ModelMetadata, caller: Caller, tolerance: int) -> ImageJob:
    check_provider(body.provider, metadata)
    styles = load_styles()
    if body.style not in styles:
        raise InvalidParameter(
            f"style '{body.style}' is unknown; available styles: {', '.join(styles)}", param="style"
        )
    style = styles[body.style]
    prompt, negative_prompt = style.apply(body.prompt, body.negative_prompt or "")
    width, height = parse_size(body.size, metadata)
    gen_width, gen_height = generation_size(width, height, metadata)
    request = GenerationRequest(
        prompt=prompt,
        negative_prompt=negative_prompt,
        width=gen_width,
        height=gen_height,
        guidance_scale=style.guidance_scale,
        seed=seed_or_random(body.seed),
        num_images=body.count,
        loras=lora_pairs(body.loras),
    )
    return ImageJob(
        validated(request, metadata, PUBLIC_NAMES),
        width,
        height,
        route=ROUTE,
        owner=caller.owner,
        folder=body.folder,
        name=body.name or "",
        safety_tolerance=tolerance,
        references=list(body.reference_images),
        reference_weight=body.reference_weight,
    )


def download_name(record_name: str, record_id: str, extension: str) -> str:
    return f"{record_name or record_id}.{extension}"


def zip_images(result: GenerationResult) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
        for image in result.images:
            record = image.record
            archive.writestr(download_name(record.name, record.id, record.format), image.data)
    return buffer.getvalue()
