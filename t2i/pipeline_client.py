"""The pipeline model called directly over gRPC streaming (it is decoupled: previews, then the final
images), with tritonclient's synchronous client: for benchmarks, tests and scripts. The frontend has its
own asyncio client (frontend/triton/client.py)."""

from __future__ import annotations

import queue
from dataclasses import dataclass, field

import numpy as np
import tritonclient.grpc as grpcclient

from t2i import contract
from t2i.pipeline_io import images_from_output, infer_inputs, partial_index_from_output
from t2i.request import GenerationRequest


@dataclass
class PipelineResult:
    images: np.ndarray  # uint8 [N, H, W, 3]
    partials: list[np.ndarray] = field(default_factory=list)  # the previews, in order


def generate(
    client: grpcclient.InferenceServerClient, request: GenerationRequest, timeout_s: float = 600.0
) -> PipelineResult:
    """One request through the pipeline; raises tritonclient's InferenceServerException on an error
    response (a stream carries the message only, no status code: see t2i.pipeline_io for the field)."""
    responses: queue.Queue = queue.Queue()
    client.start_stream(
        callback=lambda result, error: responses.put((result, error)), stream_timeout=timeout_s
    )
    try:
        client.async_stream_infer(
            contract.PIPELINE.name,
            infer_inputs(request, grpcclient.InferInput),
            outputs=[grpcclient.InferRequestedOutput(t.name) for t in contract.PIPELINE.outputs],
        )
        partials: list[np.ndarray] = []
        while True:
            result, error = responses.get(timeout=timeout_s)
            if error is not None:
                raise error
            images = images_from_output(result.as_numpy("images"))
            if partial_index_from_output(result.as_numpy("partial_index")) == contract.FINAL_RESPONSE:
                return PipelineResult(images, partials)
            partials.append(images)
    finally:
        client.stop_stream()
