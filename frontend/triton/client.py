"""The only module that talks to Triton: the served models it holds (its catalogue) and the shared pipeline
model over async gRPC."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from frontend.http.errors import APIError, BackendUnavailable, GenerationTimeout, InvalidParameter
from t2i import contract
from t2i.contract import ModelMetadata
from t2i.pipeline_io import images_from_output, infer_inputs, parse_invalid_request, partial_index_from_output
from t2i.request import GenerationRequest
from t2i.triton_server import FAST_RECONNECT

logger = logging.getLogger(__name__)

# How long one reading of the served models stands: a model loaded or unloaded in Triton (explicit model
# control) appears or goes within this, without a restart.
CATALOGUE_TTL_S = 2.0
# Images and init images travel in one message; gRPC's 4 MiB default is too small for several.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
# Triton's words for a model it cannot serve right now (loading, unloaded, its stub restarting).
_NOT_SERVING = re.compile(r"not ready|unknown model|is not found|not healthy", re.IGNORECASE)


def map_triton_error(exc: InferenceServerException) -> APIError:
    """Triton's answer -> the public error: a bad field 400 (the pipeline names it; errors on a stream
    carry no status, so the structured message decides), deadline 504, server or model not reachable 503
    (worth a retry); anything else is a failure, 500."""
    status = str(exc.status() or "")
    message = exc.message() or str(exc)
    invalid = parse_invalid_request(message)
    if invalid is not None:
        return InvalidParameter(invalid.message, param=invalid.param)
    if "INVALID_ARGUMENT" in status:
        return InvalidParameter(message)
    if "DEADLINE_EXCEEDED" in status:
        return GenerationTimeout("image generation exceeded the request deadline")
    if any(s in status for s in ("UNAVAILABLE", "NOT_FOUND")) or _NOT_SERVING.search(message):
        return BackendUnavailable("the inference backend is not available; retry shortly")
    logger.error("Triton error %s: %s", status, message)
    return APIError("image generation failed")


# Receives a request's previews: (partial_index, uint8 [N, H, W, 3] at the generation size).
PreviewCallback = Callable[[int, np.ndarray], Awaitable[None]]


class TritonPipelineClient:
    def __init__(self, url: str):
        self.url = url
        self.client = grpcclient.InferenceServerClient(
            url,
            channel_args=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                *FAST_RECONNECT,  # a restarted Triton is noticed at once
            ],
        )
        # served name -> (its ready networks, its metadata), read from a network's config once per load.
        self._metadata: dict[str, tuple[frozenset[str], ModelMetadata]] = {}
        self._catalogue: dict[str, ModelMetadata] | None = None
        self._read_at = -float("inf")

    async def close(self) -> None:
        await self.client.close()

    async def is_ready(self) -> bool:
        try:
            return bool(await self.client.is_model_ready(contract.PIPELINE.name))
        except InferenceServerException:
            return False

    async def catalogue(self) -> dict[str, ModelMetadata]:
        """The served models this server runs now, by name: those whose every network model is ready
        (Triton's repository index), each with the metadata its networks publish; none while the
        pipeline model is not ready. Read again after CATALOGUE_TTL_S."""
        if self._catalogue is not None and time.monotonic() - self._read_at < CATALOGUE_TTL_S:
            return self._catalogue
        try:
            index = await self.client.get_model_repository_index(as_json=True)
            ready = {m["name"] for m in index.get("models", []) if m.get("state") == "READY"}
            networks: dict[str, set[str]] = {}
            for name in ready:
                parsed = contract.served_name_of(name)
                if parsed is not None:
                    networks.setdefault(parsed[0], set()).add(parsed[1])
            models = {}
            for served, loaded in sorted(networks.items()) if contract.PIPELINE.name in ready else ():
                metadata = await self._model_metadata(served, frozenset(loaded))
                if {spec.name for spec in metadata.networks} <= loaded:
                    models[served] = metadata
        except InferenceServerException as exc:
            raise map_triton_error(exc) from None
        self._metadata = {name: entry for name, entry in self._metadata.items() if name in networks}
        self._catalogue, self._read_at = models, time.monotonic()
        return models

    async def _model_metadata(self, served: str, loaded: frozenset[str]) -> ModelMetadata:
        cached = self._metadata.get(served)
        if cached is None or cached[0] != loaded:
            name = contract.network_model_name(served, min(loaded))
            config = await self.client.get_model_config(name, as_json=True)
            text = config["config"]["parameters"][contract.METADATA_PARAMETER]["string_value"]
            cached = self._metadata[served] = (loaded, ModelMetadata.from_json(text))
        return cached[1]

    async def generate(
        self, request: GenerationRequest, timeout_s: float, on_preview: PreviewCallback | None = None
    ) -> np.ndarray:
        """uint8 [N, H, W, 3] images for one internal request; its previews (request.partial_images)
        go to `on_preview` as they arrive."""
        final = None
        async for partial_index, images in self.stream(request, timeout_s):
            if partial_index == contract.FINAL_RESPONSE:
                final = images
            elif on_preview is not None:
                await on_preview(partial_index, images)
        if final is None:
            raise APIError("the pipeline ended its stream without images")
        return final

    async def stream(
        self, request: GenerationRequest, timeout_s: float
    ) -> AsyncIterator[tuple[int, np.ndarray]]:
        """(partial_index, uint8 [N, H, W, 3]) per response of the decoupled pipeline: the previews the
        request asked for, then contract.FINAL_RESPONSE with its images. Cancelling the consumer
        cancels the gRPC stream, and the pipeline stops at its next step."""

        async def one_request() -> AsyncIterator[dict[str, Any]]:
            yield {
                "model_name": contract.PIPELINE.name,
                "inputs": infer_inputs(request, grpcclient.InferInput),
                "outputs": [grpcclient.InferRequestedOutput(t.name) for t in contract.PIPELINE.outputs],
            }

        responses = self.client.stream_infer(one_request(), stream_timeout=timeout_s)
        finished = False
        try:
            # Read to the end of the stream: Triton closes it after the final response, as this client
            # sends one request and half-closes. Cancelling a finished stream is left to abnormal exits.
            async for result, error in responses:
                if error is not None:
                    raise map_triton_error(error)
                partial_index = partial_index_from_output(result.as_numpy("partial_index"))
                yield partial_index, images_from_output(result.as_numpy("images"))
            finished = True
        except grpc.aio.AioRpcError as exc:
            # The stream itself failed (Triton gone, deadline): its gRPC status says which.
            raise map_triton_error(InferenceServerException(exc.details(), status=str(exc.code()))) from None
        finally:
            if not finished:
                responses.cancel()
