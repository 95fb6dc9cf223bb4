"""One frontend over two Triton servers (T2I_TRITON_URL with two URLs): requests are spread over both;
one stopped, the other serves every request and /readyz says which is down; restarted, it gets requests
again."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import tritonclient.grpc as grpcclient

from t2i.triton_server import TritonServer
from testbed.triton import triton_on_a_copy
from tests.e2e.conftest import running_frontend

pytestmark = pytest.mark.e2e
QUICK = {"prompt": "a red circle", "size": "256x256", "steps": 1, "response_format": "b64_json"}


def pipeline_requests(url: str) -> int:
    with grpcclient.InferenceServerClient(url) as client:
        return client.get_inference_statistics("pipeline").model_stats[0].inference_count


def wait_for_readyz(client: httpx.Client, expected: dict[str, str], attempts: int = 60) -> dict:
    """Poll /readyz until it reports `expected` for the Triton servers (it asks them at each call)."""
    body: dict = {}
    for _ in range(attempts):
        response = client.get("/readyz")
        body = response.json()
        if body.get("triton") == expected:
            return body
        time.sleep(0.5)
    raise AssertionError(f"/readyz never reported {expected}: {body}")


def test_requests_spread_over_servers_and_survive_one_going_away(
    triton_server: TritonServer, tiny_repository: Path, tmp_path: Path
) -> None:
    with triton_on_a_copy(tiny_repository, tmp_path / "triton") as second:
        urls = f"{triton_server.url},{second.url}"
        with (
            running_frontend(urls, tmp_path / "data", {"T2I_RATE_LIMIT_PER_MINUTE": "0"}) as frontend,
            httpx.Client(base_url=frontend.url, timeout=60) as client,
        ):
            before = [pipeline_requests(triton_server.url), pipeline_requests(second.url)]
            for _ in range(4):
                assert client.post("/v1/images/generations", json=QUICK).status_code == 200
            after = [pipeline_requests(triton_server.url), pipeline_requests(second.url)]
            assert [a - b for a, b in zip(after, before, strict=True)] == [2, 2]  # round-robin

            second.stop()
            assert all(client.post("/v1/images/generations", json=QUICK).status_code == 200 for _ in range(3))
            wait_for_readyz(client, {triton_server.url: "ready", second.url: "unavailable"})

            second.start()  # the same port: the server is back
            second.wait_ready()
            wait_for_readyz(client, {triton_server.url: "ready", second.url: "ready"})
            back = pipeline_requests(second.url)
            for _ in range(2):
                assert client.post("/v1/images/generations", json=QUICK).status_code == 200
            assert pipeline_requests(second.url) > back
