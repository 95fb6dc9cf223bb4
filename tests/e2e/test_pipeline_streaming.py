"""The decoupled pipeline model over gRPC streaming: the previews a request asks for, then its images;
previews change nothing in the final pixels, and batched requests keep their own previews."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from t2i import pipeline_client
from t2i.pipeline_client import PipelineResult
from t2i.request import GenerationRequest
from t2i.triton_server import TritonServer

pytestmark = pytest.mark.e2e
COMMON = {"prompt": "a red circle", "width": 64, "height": 64, "steps": 8, "seed": 3}


def generate(server: TritonServer, request: GenerationRequest) -> PipelineResult:
    with grpcclient.InferenceServerClient(server.url) as client:
        return pipeline_client.generate(client, request)


def test_partial_images_come_first_and_leave_the_result_unchanged(triton_server: TritonServer) -> None:
    plain = generate(triton_server, GenerationRequest(**COMMON, num_images=2))
    streamed = generate(triton_server, GenerationRequest(**COMMON, num_images=2, partial_images=3))
    assert plain.partials == []
    assert len(streamed.partials) == 3
    assert all(p.shape == (2, 64, 64, 3) and p.dtype == np.uint8 for p in streamed.partials)
    assert np.array_equal(streamed.images, plain.images)
    # Previews show the run converging: each differs from the next, the last is closest to the result.
    distances = [np.abs(p.astype(int) - plain.images.astype(int)).mean() for p in streamed.partials]
    assert distances[-1] < distances[0]


def test_batched_requests_get_only_their_own_previews(triton_server: TritonServer) -> None:
    requests = [
        GenerationRequest(**COMMON, partial_images=2),
        GenerationRequest(**(COMMON | {"prompt": "a blue square", "seed": 9})),
        GenerationRequest(**(COMMON | {"prompt": "a star", "seed": 5}), partial_images=1),
    ]
    alone = [generate(triton_server, r).images for r in requests]
    blocker = GenerationRequest(prompt="blocker", width=256, height=256, steps=30)
    with ThreadPoolExecutor(len(requests) + 1) as pool:
        first = pool.submit(generate, triton_server, blocker)
        time.sleep(0.3)  # the others queue behind it and reach the model as one batch
        futures = [pool.submit(generate, triton_server, r) for r in requests]
        first.result()
        results = [f.result() for f in futures]
    assert [len(r.partials) for r in results] == [2, 0, 1]
    for expected, result in zip(alone, results, strict=True):
        assert np.array_equal(expected, result.images)
