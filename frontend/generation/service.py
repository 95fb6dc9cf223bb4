"""What every public API shares once it has translated its request: validate against the served model,
run the pipeline, resize to the requested pixels, encode, store."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from frontend.generation.admission import AdmissionGate
from frontend.generation.catalogue import Catalogue
from frontend.generation.compositing import KeptPixels, composite_kept
from frontend.generation.references import Origin, ReferenceError, ReferenceLoader, ReferenceTooLarge
from frontend.generation.sizing import resize_exact
from frontend.http.errors import (
    BackendUnavailable,
    ClientDisconnected,
    ContentPolicyViolation,
    InvalidParameter,
    PayloadTooLarge,
)
from frontend.http.metrics import Metrics
from frontend.security.moderation import PromptModerator
from frontend.settings import Settings
from frontend.storage.images import ImageRecord, ImageStore
from frontend.storage.usage import UsageRecord, UsageStore
from frontend.triton.client import PreviewCallback
from frontend.triton.pool import TritonPool
from t2i import contract
from t2i.contract import ModelMetadata
from t2i.request import GenerationRequest, InvalidRequest, check_request

# Stored and served formats: extension -> (Pillow format, content type). The extension is the file's and
# the signed URL's, so every route that serves a stored image reads its content type here.
IMAGE_FORMATS = {
    "png": ("PNG", "image/png"),
    "jpeg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
}
# Pillow's `quality` for the lossy formats when the API sets none.
DEFAULT_LOSSY_QUALITY = 95


@dataclass
class ImageJob:
    """The internal request plus what happens to its images afterwards."""

    request: GenerationRequest
    output_width: int
    output_height: int
    route: str
    output_format: str = "png"
    output_quality: int = DEFAULT_LOSSY_QUALITY  # jpeg and webp only
    owner: str = "anonymous"
    folder: str = "images"
    name: str = ""
    safety_tolerance: int = 2
    # Image-to-image: data: URIs, ids of the owner's images or http(s) URLs, blended into one init image.
    references: list[str] = field(default_factory=list)
    reference_weight: float = 0.5
    # Errors about reference i name this field (`image` on /v1/images/generations).
    reference_param: str = "reference_images[{index}]"
    # Edits with a mask: the original's pixels pasted back where the mask keeps them, at the output size.
    keep: KeptPixels | None = None


@dataclass
class GeneratedImage:
    record: ImageRecord
    data: bytes


@dataclass
class GenerationResult:
    images: list[GeneratedImage]
    latency_ms: int
    model: str
    cost: float


def validated(
    request: GenerationRequest, metadata: ModelMetadata, public_names: Mapping[str, str]
) -> GenerationRequest:
    """Defaults from the model, then the pipeline's own checks, with errors named in the API's terms.

    The count is checked per Triton request: more than contract.MAX_IMAGES images run as several
    (triton_requests), so each API's schema bounds its total."""
    request = request.with_defaults(metadata)
    try:
        check_request(
            dataclasses.replace(request, num_images=min(request.num_images, contract.MAX_IMAGES)), metadata
        )
    except InvalidRequest as exc:
        param = public_names.get(exc.param, exc.param)
        raise InvalidParameter(exc.message.replace(exc.param, param, 1), param=param) from None
    return request


BACKEND_NAME = "triton"
DISCONNECT_POLL_S = 0.25


def seed_or_random(seed: int | None) -> int:
    """Every image has a seed: a random one (0..2**32-1, the public range) when the caller sets none."""
    return seed if seed is not None else secrets.randbelow(2**32)


def provider_model(provider: str | None) -> str | None:
    """The served model a `provider` field names: none for `auto` or this backend (the default model)."""
    return None if provider in (None, "auto", BACKEND_NAME) else provider


def check_provider(provider: str | None, metadata: ModelMetadata, also: tuple[str, ...] = ()) -> None:
    """`provider` is accepted for compatibility: `auto`, this backend, the served model's name, or the
    provider names an API's own documents use (`also`: the OpenAI route's `openai`)."""
    accepted = ("auto", *also, BACKEND_NAME, metadata.name)
    if provider is not None and provider not in accepted:
        raise InvalidParameter(
            f"provider '{provider}' is not served here; use one of: {', '.join(accepted)}", param="provider"
        )


def reference_strength(reference_weight: float) -> float:
    """reference_weight 1.0 keeps the reference nearly intact; 0.0 starts from (almost) pure noise."""
    return min(1.0, max(0.05, 1.0 - reference_weight))


def encode_image(
    image: np.ndarray, width: int, height: int, output_format: str, quality: int = DEFAULT_LOSSY_QUALITY
) -> bytes:
    picture = resize_exact(image, width, height)
    buffer = io.BytesIO()
    if output_format == "png":
        # Fast zlib level: PNG size barely changes, encoding time drops several-fold at 1024x1024.
        picture.save(buffer, "PNG", compress_level=1)
    else:
        picture.save(buffer, IMAGE_FORMATS[output_format][0], quality=quality)
    return buffer.getvalue()


def triton_requests(request: GenerationRequest) -> list[GenerationRequest]:
    """One request split into Triton requests of at most contract.MAX_IMAGES images. Each continues the
    seeds where the previous stopped (s, s + 8, ...), so image i of the whole request still uses s + i."""
    return [
        dataclasses.replace(
            request,
            seed=request.seed + start,
            num_images=min(contract.MAX_IMAGES, request.num_images - start),
            partial_images=request.partial_images if start == 0 else 0,
        )
        for start in range(0, request.num_images, contract.MAX_IMAGES)
    ]


@contextlib.contextmanager
def reference_errors(param_of: Callable[[int], str]) -> Iterator[None]:
    """A reference that cannot be used as the API's error, its parameter named by `param_of(index)`."""
    try:
        yield
    except ReferenceTooLarge as exc:
        raise PayloadTooLarge(str(exc), param=param_of(exc.index)) from None
    except ReferenceError as exc:
        raise InvalidParameter(str(exc), param=param_of(exc.index)) from None


class ImageGenerator:
    """Moderation, references, the Triton call, resize/encode/store, usage and metrics: every API's
    request ends here, so none of them repeats this."""

    def __init__(
        self,
        triton: TritonPool,
        store: ImageStore,
        usage: UsageStore,
        moderator: PromptModerator,
        references: ReferenceLoader,
        metrics: Metrics,
        settings: Settings,
        admission: AdmissionGate,
    ):
        self.triton = triton
        self.store = store
        self.usage = usage
        self.moderator = moderator
        self.references = references
        self.metrics = metrics
        self.settings = settings
        self.admission = admission

    @property
    def in_flight(self) -> int:
        """Generations running in this process (the gate may count other replicas' too)."""
        return self.admission.held

    async def catalogue(self) -> Catalogue:
        return Catalogue.of(await self.triton.catalogue(), self.settings)

    async def model(self, name: str | None, param: str = "model") -> ModelMetadata:
        """The served model a request names (an alias, or none: the default); a 400 naming `param` for an
        unknown name."""
        return (await self.catalogue()).resolve(name, param)

    def cost(self, model: str, request: GenerationRequest) -> float:
        price = self.settings.price_table.get(model, self.settings.default_price_per_megapixel_step)
        megapixels = request.width * request.height / 1e6
        return round(price * megapixels * request.steps * request.num_images, 6)

    async def generate(
        self,
        job: ImageJob,
        disconnected: Callable[[], Awaitable[bool]] | None = None,
        on_preview: PreviewCallback | None = None,
    ) -> GenerationResult:
        """`disconnected` (the route's `request.is_disconnected`) is polled while Triton works: a client
        that goes away cancels its gRPC call, and the pipeline stops at its next step. `on_preview` gets
        the request's previews (job.request.partial_images of them) as the pipeline streams them."""
        metadata = await self.model(job.request.model)  # stamped by `validated`
        self.moderate(job)
        # Admission: past settings.max_pending_generations in flight, 503 at once (see admission.py).
        lease = await self.admission.enter()
        if lease is None:
            self.metrics.rejections.labels("overload").inc()
            raise BackendUnavailable("the server is at capacity; retry shortly", retry_after_s=2)
        try:
            return await self._generate(job, metadata, disconnected, on_preview)
        finally:
            await self.admission.leave(lease)

    async def _generate(
        self,
        job: ImageJob,
        metadata: ModelMetadata,
        disconnected: Callable[[], Awaitable[bool]] | None,
        on_preview: PreviewCallback | None,
    ) -> GenerationResult:
        request = job.request
        if job.references:
            init_image = await self.load_references(job)
            request = dataclasses.replace(
                request, init_image=init_image, strength=reference_strength(job.reference_weight)
            )
        started = time.perf_counter()
        call = asyncio.ensure_future(self._run_pipeline(request, on_preview))
        while disconnected is not None and not call.done():
            await asyncio.wait([call], timeout=DISCONNECT_POLL_S)
            if not call.done() and await disconnected():
                call.cancel()
                # Wait for the cancellation to reach the gRPC call, so Triton hears of it now.
                with contextlib.suppress(BaseException):
                    await call
                self.metrics.rejections.labels("client_disconnected").inc()
                raise ClientDisconnected()
        pixels = await call
        self.metrics.generation_seconds.labels(metadata.name).observe(time.perf_counter() - started)
        cost = self.cost(metadata.name, request)
        # One worker-thread hop for all the blocking work: encode, store, usage row.
        images, latency_ms = await asyncio.to_thread(self._finish, job, pixels, metadata, started, cost)
        self.metrics.images.labels(metadata.name, job.route).inc(len(images))
        return GenerationResult(images, latency_ms, metadata.name, cost)

    async def _run_pipeline(
        self, request: GenerationRequest, on_preview: PreviewCallback | None
    ) -> np.ndarray:
        """All of a request's images. Its Triton requests run at once (the dynamic batcher may put them
        in one execute()); if one fails or the caller cancels, the others are cancelled too. Previews
        come from the first (they show its images)."""
        timeout_s = self.settings.request_timeout_s
        calls = [
            asyncio.ensure_future(self.triton.generate(part, timeout_s, on_preview if i == 0 else None))
            for i, part in enumerate(triton_requests(request))
        ]
        try:
            return np.concatenate(await asyncio.gather(*calls))
        finally:
            for call in calls:
                call.cancel()  # a no-op for those that finished

    def moderate(self, job: ImageJob) -> None:
        verdict = self.moderator.check(job.request.prompt, job.request.negative_prompt, job.safety_tolerance)
        if not verdict.allowed:
            self.metrics.rejections.labels("moderation").inc()
            field_name = verdict.field or "prompt"
            raise ContentPolicyViolation(
                f"the {field_name} was refused by the content policy (category: {verdict.category})",
                param=field_name,
            )

    async def load_references(self, job: ImageJob) -> np.ndarray:
        with reference_errors(lambda index: job.reference_param.format(index=index)):
            return await self.references.blend(
                job.references, job.owner, job.request.width, job.request.height
            )

    async def read_reference(self, reference: str, owner: str, origin: Origin) -> bytes:
        """An image sent by reference (URL, data URI, stored image id), undecoded; errors name the
        origin's label as the parameter."""
        with reference_errors(lambda _: origin.label):
            return await self.references.read(reference, owner, origin)

    def _finish(
        self, job: ImageJob, pixels: np.ndarray, metadata: ModelMetadata, started: float, cost: float
    ) -> tuple[list[GeneratedImage], int]:
        """Resize, encode and store each image, then the usage row (off the event loop)."""
        results = []
        for i, image in enumerate(pixels):
            if job.keep is not None:
                image = composite_kept(image, job.keep)  # at the output size: the encode resizes no more
            data = encode_image(
                image, job.output_width, job.output_height, job.output_format, job.output_quality
            )
            record = ImageRecord(
                id=uuid.uuid4().hex,
                owner=job.owner,
                folder=job.folder,
                name=f"{job.name}-{i + 1}" if job.name and len(pixels) > 1 else job.name,
                prompt=job.request.prompt,
                negative_prompt=job.request.negative_prompt,
                seed=job.request.seed + i,
                model=metadata.name,
                width=job.output_width,
                height=job.output_height,
                format=job.output_format,
                created=time.time(),
            )
            self.store.save(record, data)
            results.append(GeneratedImage(record, data))
        latency_ms = int((time.perf_counter() - started) * 1000)
        usage = UsageRecord(
            route=job.route,
            model=metadata.name,
            image_size=f"{job.output_width}x{job.output_height}",
            count=len(results),
            steps=job.request.steps,
            latency_ms=latency_ms,
            cost=cost,
            created=time.time(),
        )
        self.usage.record(job.owner, usage)
        return results, latency_ms
