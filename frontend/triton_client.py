"""The only module that talks to Triton: the pipeline model over async gRPC."""

from __future__ import annotations

import logging

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from frontend.errors import APIError, BackendUnavailable, GenerationTimeout, InvalidParameter
from t2i import contract
from t2i.contract import ModelMetadata
from t2i.pipeline_io import images_from_output, infer_inputs, parse_invalid_request
from t2i.request import GenerationRequest
from t2i.triton_server import FAST_RECONNECT

logger = logging.getLogger(__name__)

# Images and init images travel in one message; gRPC's 4 MiB default is too small for several.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024


def map_triton_error(exc: InferenceServerException) -> APIError:
    """Triton status -> the public error: INVALID_ARG 400 (the pipeline names the field), deadline 504,
    server or model not reachable 503 (worth a retry); anything else is a failure, 500."""
    status = str(exc.status() or "")
    message = exc.message() or str(exc)
    if "INVALID_ARGUMENT" in status:
        invalid = parse_invalid_request(message)
        if invalid is not None:
            return InvalidParameter(invalid.message, param=invalid.param)
        return InvalidParameter(message)
    if "DEADLINE_EXCEEDED" in status:
        return GenerationTimeout("image generation exceeded the request deadline")
    if any(s in status for s in ("UNAVAILABLE", "NOT_FOUND")) or "not ready" in message:
        return BackendUnavailable("the inference backend is not available; retry shortly")
    logger.error("Triton error %s: %s", status, message)
    return APIError("image generation failed")


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
        self._metadata: ModelMetadata | None = None

    async def close(self) -> None:
        await self.client.close()

    async def is_ready(self) -> bool:
        try:
            return bool(await self.client.is_model_ready(contract.PIPELINE.name))
        except InferenceServerException:
            return False

    async def metadata(self) -> ModelMetadata:
        """The served model's metadata, read once from the pipeline's config parameters."""
        if self._metadata is None:
            try:
                config = await self.client.get_model_config(contract.PIPELINE.name, as_json=True)
            except InferenceServerException as exc:
                raise map_triton_error(exc) from None
            text = config["config"]["parameters"][contract.METADATA_PARAMETER]["string_value"]
            self._metadata = ModelMetadata.from_json(text)
        return self._metadata

    async def generate(self, request: GenerationRequest, timeout_s: float) -> np.ndarray:
        """uint8 [N, H, W, 3] images for one internal request."""
        inputs = infer_inputs(request, grpcclient.InferInput)
        outputs = [grpcclient.InferRequestedOutput(t.name) for t in contract.PIPELINE.outputs]
        try:
            result = await self.client.infer(
                contract.PIPELINE.name, inputs, outputs=outputs, client_timeout=timeout_s
            )
        except InferenceServerException as exc:
            raise map_triton_error(exc) from None
        return images_from_output(result.as_numpy(contract.PIPELINE.outputs[0].name))
