"""POST /v1/images/generations through the real frontend and the real tritonserver (tiny preset)."""

from __future__ import annotations

import base64
import io
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from openai import OpenAI
from PIL import Image
from tritonclient.utils import InferenceServerException

from t2i import pipeline_client
from t2i.pipeline_io import parse_invalid_request
from t2i.request import GenerationRequest
from t2i.triton_server import TritonServer
from tests.e2e.conftest import Frontend, wait_for

pytestmark = pytest.mark.e2e
FAST = {"steps": 3}  # few denoising steps: these tests check plumbing, not image quality


@pytest.fixture(scope="module")
def sdk(frontend: Frontend) -> OpenAI:
    return OpenAI(base_url=f"{frontend.url}/v1", api_key=frontend.keys["alice"], max_retries=0)


@pytest.fixture(scope="module")
def alice(frontend: Frontend) -> httpx.Client:
    with httpx.Client(base_url=frontend.url, headers=frontend.headers("alice"), timeout=120) as client:
        yield client


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def generate_b64(sdk: OpenAI, **extra) -> list[str]:
    size = extra.pop("size", "256x256")
    n = extra.pop("n", 1)
    response = sdk.images.generate(
        prompt="a red circle on a blue background",
        size=size,  # type: ignore[arg-type]
        n=n,
        response_format="b64_json",
        extra_body=FAST | extra,
    )
    return [item.b64_json for item in response.data or [] if item.b64_json]


def test_ready_and_models(alice: httpx.Client, triton_server: TritonServer) -> None:
    assert alice.get("/healthz").json() == {"status": "ok"}
    # The embedded defaults: the SQLite file and the local image directory; no Redis to report.
    assert alice.get("/readyz").json() == {
        "status": "ready",
        "database": "ready",
        "blob_store": "ready",
        "triton": {triton_server.url: "ready"},
        "models": {"tiny": [triton_server.url]},  # each served model and its servers
    }
    assert alice.get("/v1/models").json()["data"][0]["id"] == "tiny"  # the aliases follow it


def test_openai_sdk_b64_json(sdk: OpenAI) -> None:
    response = sdk.images.generate(
        prompt="a small yellow star",
        size="256x256",
        response_format="b64_json",
        extra_body={"seed": 3, **FAST},
    )
    assert response.data is not None and len(response.data) == 1
    image = decode(response.data[0].b64_json or "")
    assert image.format == "PNG" and image.size == (256, 256)
    assert response.data[0].revised_prompt == "a small yellow star"
    usage = response.to_dict()["usage"]  # our usage fields, beside the SDK's token-count schema
    assert usage["model_used"] == "tiny" and usage["image_size"] == "256x256"  # type: ignore[typeddict-item]


def test_openai_sdk_url(sdk: OpenAI, frontend_url: str) -> None:
    response = sdk.images.generate(prompt="a green square", size="512x512", extra_body=FAST)
    assert response.data is not None
    url = response.data[0].url or ""
    assert url.startswith(f"{frontend_url}/files/")
    fetched = httpx.get(url)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(fetched.content)).size == (512, 512)
    tampered = httpx.get(url.replace("signature=", "signature=0"))
    assert tampered.status_code == 404 and tampered.json()["error"]["code"] == "not_found"


def test_same_seed_same_bytes_other_seed_other_bytes(sdk: OpenAI) -> None:
    first = generate_b64(sdk, seed=1234)
    again = generate_b64(sdk, seed=1234)
    other = generate_b64(sdk, seed=1235)
    assert first == again
    assert first != other


def test_n_2_uses_seed_plus_i(alice: httpx.Client) -> None:
    body = {"prompt": "a blue triangle", "n": 2, "size": "256x256", "response_format": "b64_json", "seed": 50}
    data = alice.post("/v1/images/generations", json=body | FAST).json()["data"]
    assert [d["seed"] for d in data] == [50, 51]
    first, second = (np.asarray(decode(d["b64_json"])).astype(int) for d in data)
    assert not np.array_equal(first, second)
    alone = alice.post("/v1/images/generations", json=body | FAST | {"n": 1, "seed": 51}).json()["data"][0]
    # Regenerated alone from its own seed: the same image, up to batch-size rounding in onnxruntime.
    assert np.abs(np.asarray(decode(alone["b64_json"])).astype(int) - second).max() <= 2


@pytest.mark.parametrize(
    ("size", "pixels"),
    [
        ("256x256", (256, 256)),
        ("512x512", (512, 512)),
        ("1024x1024", (1024, 1024)),
        ("1792x1024", (1792, 1024)),
        ("1024x1792", (1024, 1792)),
        ("1536x1024", (1536, 1024)),
        ("1024x1536", (1024, 1536)),
        ("auto", (256, 256)),
    ],
)
def test_every_size_returns_exactly_its_pixels(sdk: OpenAI, size: str, pixels: tuple[int, int]) -> None:
    (b64,) = generate_b64(sdk, size=size, steps=1)
    assert decode(b64).size == pixels


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": ""}, "prompt"),
        ({"n": 11}, "n"),
        ({"size": "4000x4000"}, "size"),
        ({"steps": 1000}, "steps"),
        ({"scheduler": "nope"}, "scheduler"),
        ({"model": "dall-e-4"}, "model"),
        ({"seed": "abc"}, "seed"),
    ],
)
def test_bad_input_is_400_naming_the_field(alice: httpx.Client, body: dict, param: str) -> None:
    response = alice.post("/v1/images/generations", json={"prompt": "a cat"} | body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and error["param"] == param and param in error["message"]


def test_sdk_raises_bad_request_for_bad_size(sdk: OpenAI) -> None:
    from openai import BadRequestError

    with pytest.raises(BadRequestError) as error:
        sdk.images.generate(prompt="a cat", size="4000x4000")
    assert error.value.status_code == 400


def infer(server: TritonServer, request: GenerationRequest) -> np.ndarray:
    with grpcclient.InferenceServerClient(server.url) as client:
        return pipeline_client.generate(client, request).images


def test_pipeline_rejects_bad_input_and_stays_healthy(triton_server: TritonServer) -> None:
    for bad, param in (
        (GenerationRequest(prompt="x", width=100), "width"),
        (GenerationRequest(prompt=" "), "prompt"),
        (GenerationRequest(prompt="x", scheduler="nope"), "scheduler"),
        (GenerationRequest(prompt="x", steps=500), "steps"),
    ):
        with pytest.raises(InferenceServerException) as error:
            infer(triton_server, bad)
        invalid = parse_invalid_request(error.value.message() or "")
        assert invalid is not None and invalid.param == param
    images = infer(triton_server, GenerationRequest(prompt="x", steps=2, width=128, height=64, num_images=2))
    assert images.shape == (2, 64, 128, 3) and images.dtype == np.uint8


def test_image_to_image_through_triton(triton_server: TritonServer) -> None:
    init = np.zeros((64, 64, 3), dtype=np.uint8)
    init[16:48, 16:48] = (255, 0, 0)
    plain = infer(triton_server, GenerationRequest(prompt="x", steps=4, width=64, height=64, seed=1))
    edited = infer(
        triton_server,
        GenerationRequest(prompt="x", steps=4, width=64, height=64, seed=1, init_image=init, strength=0.5),
    )
    assert edited.shape == plain.shape and not np.array_equal(edited, plain)


def test_concurrent_requests_batch_and_keep_their_own_pixels(triton_server: TritonServer) -> None:
    """Requests queued while the pipeline is busy reach one execute(); each gets exactly its own images,
    and a bad one among them fails alone."""
    common = {"width": 64, "height": 64, "steps": 6}
    requests = [
        GenerationRequest(prompt="a red circle", seed=1, num_images=2, guidance_scale=7.5, **common),
        GenerationRequest(
            prompt="a blue square", negative_prompt="green", seed=7, guidance_scale=3.0, **common
        ),
        GenerationRequest(prompt="a star", seed=3, guidance_scale=1.0, **common),
        GenerationRequest(prompt="bad", width=100, height=64, steps=6),
        GenerationRequest(prompt="a tree", seed=5, **common),
    ]
    alone = [infer(triton_server, r) for i, r in enumerate(requests) if i != 3]

    with grpcclient.InferenceServerClient(triton_server.url) as client:
        before = client.get_inference_statistics("pipeline").model_stats[0]
    # A slow first request keeps the instance busy while the others queue up behind it.
    blocker = GenerationRequest(prompt="blocker", width=256, height=256, steps=30)
    with ThreadPoolExecutor(len(requests) + 1) as pool:
        first = pool.submit(infer, triton_server, blocker)
        time.sleep(0.3)
        futures = [pool.submit(infer, triton_server, r) for r in requests]
        first.result()
        outcomes = [f.exception() or f.result() for f in futures]
    # The Python backend reports an execute()'s statistics after its responses are sent: wait for them.
    with grpcclient.InferenceServerClient(triton_server.url) as client:

        def counted() -> int:
            stats = client.get_inference_statistics("pipeline").model_stats[0]
            return stats.inference_count - before.inference_count

        wait_for(lambda: counted() >= len(requests) + 1, timeout_s=10)
        after = client.get_inference_statistics("pipeline").model_stats[0]

    assert isinstance(outcomes[3], InferenceServerException)
    invalid = parse_invalid_request(outcomes[3].message() or "")
    assert invalid is not None and invalid.param == "width"
    good = [o for i, o in enumerate(outcomes) if i != 3]
    for expected, got in zip(alone, good, strict=True):
        assert np.array_equal(expected, got)
    # Fewer executions than requests: the queued requests ran together.
    requests_done = after.inference_count - before.inference_count
    executions = after.execution_count - before.execution_count
    assert requests_done == len(requests) + 1 and executions < requests_done


def test_client_disconnect_cancels_the_generation(alice: httpx.Client, triton_server: TritonServer) -> None:
    """A client that hangs up mid-generation frees the pipeline: a request queued behind it runs at once
    instead of waiting for a 150-step 1024x1024 generation nobody will read."""
    with grpcclient.InferenceServerClient(triton_server.url) as client:
        before = client.get_inference_statistics("pipeline").model_stats[0].inference_count
    slow = {"prompt": "x", "size": "1024x1024", "n": 4, "steps": 150, "response_format": "b64_json"}
    with pytest.raises(httpx.TimeoutException):
        alice.post("/v1/images/generations", json=slow, timeout=1.5)  # gives up, closes the connection
    started = time.monotonic()
    quick = alice.post("/v1/images/generations", json={"prompt": "y", "size": "256x256", "steps": 1})
    assert quick.status_code == 200
    assert time.monotonic() - started < 8  # the abandoned one alone would take far longer here
    with grpcclient.InferenceServerClient(triton_server.url) as client:
        assert client.get_inference_statistics("pipeline").model_stats[0].inference_count >= before + 1
