"""An exception inside the pipeline model: a clean error for that request only (also when it was batched
with others), no stack trace in any body, and the next request succeeds."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from t2i.request import GenerationRequest
from t2i.triton_server import TritonServer
from tests.e2e.conftest import FAULT_PROMPT, Frontend
from tests.e2e.test_openai_images import infer

pytestmark = pytest.mark.e2e


def test_fault_fails_alone_and_the_model_stays_up(triton_server: TritonServer) -> None:
    with pytest.raises(InferenceServerException) as error:
        infer(triton_server, GenerationRequest(prompt=FAULT_PROMPT, width=64, height=64, steps=2))
    message = error.value.message() or ""
    assert "failed inside the pipeline model" in message and "Traceback" not in message
    after = infer(triton_server, GenerationRequest(prompt="fine", width=64, height=64, steps=2))
    assert after.shape == (1, 64, 64, 3)


def test_fault_in_a_batch_fails_only_its_request(triton_server: TritonServer) -> None:
    common = {"width": 64, "height": 64, "steps": 4}
    good = [GenerationRequest(prompt=f"good {i}", seed=i, **common) for i in range(3)]
    alone = [infer(triton_server, r) for r in good]
    bad = GenerationRequest(prompt=FAULT_PROMPT, **common)
    with ThreadPoolExecutor(5) as pool:
        blocker = pool.submit(
            infer, triton_server, GenerationRequest(prompt="b", width=256, height=256, steps=30)
        )
        time.sleep(0.3)  # queue the rest behind it, so they reach the model as one batch
        futures = [pool.submit(infer, triton_server, r) for r in (good[0], bad, good[1], good[2])]
        blocker.result()
        outcomes = [f.exception() or f.result() for f in futures]
    assert isinstance(outcomes[1], InferenceServerException)
    for expected, got in zip(alone, [outcomes[0], outcomes[2], outcomes[3]], strict=True):
        assert isinstance(got, np.ndarray) and np.array_equal(expected, got)


def test_fault_through_rest_is_a_clean_500(frontend: Frontend) -> None:
    headers = frontend.headers("alice")
    response = httpx.post(
        f"{frontend.url}/v1/images/generations", json={"prompt": FAULT_PROMPT, "steps": 2}, headers=headers
    )
    assert response.status_code == 500
    assert response.json()["error"] == {
        "code": "internal_error",
        "message": "image generation failed",
        "param": None,
        "type": "server_error",
    }
    assert (
        httpx.post(
            f"{frontend.url}/v1/images/generations",
            json={"prompt": "fine", "steps": 2},
            headers=headers,
            timeout=60,
        ).status_code
        == 200
    )
