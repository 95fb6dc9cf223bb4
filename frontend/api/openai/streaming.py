"""`stream: true`: a generation as Server-Sent Events in the OpenAI spec's shapes: one
`<kind>.partial_image` event per preview the request asked for (`partial_images`, previews of its first
image), then one `<kind>.completed` event per image, with usage. `<kind>` is `image_generation`, or
`image_edit` for edits. An error after the stream started is an `error` event with the usual envelope."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from frontend.api.openai.schemas import Usage
from frontend.generation.service import GenerationResult, ImageGenerator, ImageJob, encode_image
from frontend.http.errors import APIError

GENERATION_EVENTS = "image_generation"
EDIT_EVENTS = "image_edit"


def server_sent_event(event_type: str, payload: dict[str, Any]) -> str:
    return f"event: {event_type}\ndata: {json.dumps(payload)}\n\n"


async def image_events(
    generator: ImageGenerator,
    job: ImageJob,
    kind: str,
    fields: dict[str, Any],
    usage_of: Callable[[GenerationResult], Usage],
) -> AsyncIterator[str]:
    """The events of one job; `fields` are the response's gpt-image fields (size, quality, ...) and
    `usage_of(result)` its usage block. A client that goes away closes this generator, which cancels the
    generation (and so the Triton stream: the pipeline stops at its next step)."""
    previews: asyncio.Queue[tuple[int, np.ndarray] | None] = asyncio.Queue()

    async def on_preview(partial_index: int, images: np.ndarray) -> None:
        await previews.put((partial_index, images))

    task = asyncio.ensure_future(generator.generate(job, on_preview=on_preview))
    task.add_done_callback(lambda _: previews.put_nowait(None))
    try:
        while (preview := await previews.get()) is not None:
            partial_index, images = preview
            data = await asyncio.to_thread(
                encode_image,
                images[0],
                job.output_width,
                job.output_height,
                job.output_format,
                job.output_quality,
            )
            yield image_event(f"{kind}.partial_image", data, fields | {"partial_image_index": partial_index})
        result = task.result()
        for image in result.images:
            yield image_event(
                f"{kind}.completed", image.data, fields | {"usage": usage_of(result).model_dump()}
            )
    except APIError as exc:
        yield server_sent_event("error", exc.body())
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def image_event(event_type: str, data: bytes, fields: dict[str, Any]) -> str:
    payload = {
        "type": event_type,
        "b64_json": base64.b64encode(data).decode("ascii"),
        "created_at": int(time.time()),
    }
    return server_sent_event(event_type, payload | fields)
