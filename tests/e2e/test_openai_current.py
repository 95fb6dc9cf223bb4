"""POST /v1/images/generations with everything the current `openai` SDK and OpenAI's CreateImageRequest
send, through the real frontend and the real tritonserver (tiny preset), the SDK as the client."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from openai import BadRequestError, InternalServerError, OpenAI
from openai.types import ImagesResponse
from openai.types.images_response import Usage as SDKUsage
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from frontend.settings import OPENAI_IMAGE_MODELS
from t2i import contract
from t2i.contract import ModelMetadata
from t2i.onnx_networks import repository_metadata
from t2i.triton_server import TritonServer
from tests.e2e.conftest import Frontend, running_frontend
from tests.unit.test_openai_api import NULLABLE_FIELDS

pytestmark = pytest.mark.e2e
ROUTE = "/v1/images/generations"
FAST = {"steps": 3}  # few denoising steps where the test checks plumbing, not the step count
# Seed 001's example request, byte for byte as the vendor document shows it.
SEED_001_REQUEST = b"""{
  "provider": "openai",
  "model": "dall-e-3",
  "prompt": "A serene lake at sunset with mountains in the background",
  "n": 1,
  "size": "1024x1024",
  "quality": "standard",
  "style": "natural"
}"""


@pytest.fixture(scope="module")
def frontend(triton_server: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Frontend]:
    """This module's own frontend, key `carol`, without the session frontend's 60 requests a minute per
    key: the other modules may have spent most of them in the same minute."""
    settings = {"T2I_RATE_LIMIT_PER_MINUTE": "0"}
    data_dir = tmp_path_factory.mktemp("openai-current")
    with running_frontend(triton_server.url, data_dir, settings, ("carol",)) as running:
        yield running


@pytest.fixture(scope="module")
def sdk(frontend: Frontend) -> OpenAI:
    return OpenAI(base_url=f"{frontend.url}/v1", api_key=frontend.keys["carol"], max_retries=0)


@pytest.fixture(scope="module")
def carol(frontend: Frontend) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=frontend.url, headers=frontend.headers("carol"), timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def metadata(tiny_repository: Path) -> ModelMetadata:
    return repository_metadata(tiny_repository)


@pytest.fixture(scope="module")
def deadline_frontend(
    triton_server: TritonServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Frontend]:
    """Open mode with a 0.3 s deadline and no rate limit: the session's strict frontend allows 3 requests
    a minute, which another module may have spent just before this one."""
    settings = {"T2I_REQUEST_TIMEOUT_S": "0.3", "T2I_RATE_LIMIT_PER_MINUTE": "0"}
    with running_frontend(triton_server.url, tmp_path_factory.mktemp("deadline"), settings) as running:
        yield running


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def model_stats(server: TritonServer, model: str):  # tritonclient's protobuf ModelStatistics
    with grpcclient.InferenceServerClient(server.url) as client:
        return client.get_inference_statistics(model).model_stats[0]


def test_seed_001_example_verbatim(carol: httpx.Client) -> None:
    response = carol.post(
        ROUTE,
        content=SEED_001_REQUEST,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    (item,) = body["data"]
    assert item["revised_prompt"] == "A serene lake at sunset with mountains in the background"
    fetched = httpx.get(item["url"])
    assert fetched.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(fetched.content)).size == (1024, 1024)
    # OpenAI's ImageGenUsage, then seed 001's usage block; dall-e-3 is an alias, and model_used names the
    # model that ran.
    tokens = {"input_tokens", "input_tokens_details", "output_tokens", "total_tokens"}
    assert set(body["usage"]) == tokens | {"cost", "latency_ms", "image_size", "model_used"}
    assert body["usage"]["image_size"] == "1024x1024" and body["usage"]["model_used"] == "tiny"
    assert body["provider"] == "openai"
    assert (body["output_format"], body["size"], body["quality"], body["background"]) == (
        "png",
        "1024x1024",
        "medium",
        "opaque",
    )


def test_the_sdk_parses_the_response(sdk: OpenAI) -> None:
    response = sdk.images.generate(
        model="gpt-image-1",
        prompt="a red circle on a blue background",
        size="256x256",
        quality="low",
        response_format="b64_json",
        user="user-42",
        extra_body={"provider": "openai", "seed": 5},
    )
    assert isinstance(response, ImagesResponse) and response.data is not None
    assert decode(response.data[0].b64_json or "").size == (256, 256)
    assert (response.output_format, response.size, response.quality, response.background) == (
        "png",
        "256x256",
        "low",
        "opaque",
    )
    # The SDK's Usage counts tokens; it keeps seed 001's fields as they came.
    assert isinstance(response.usage, SDKUsage)
    usage = response.usage.to_dict()
    assert usage["model_used"] == "tiny" and usage["image_size"] == "256x256"  # type: ignore[typeddict-item]


def test_models_lists_the_aliases(carol: httpx.Client) -> None:
    cards = carol.get("/v1/models").json()["data"]
    assert [c["id"] for c in cards] == ["tiny", *OPENAI_IMAGE_MODELS]
    assert {c["root"] for c in cards} == {"tiny"}


@pytest.mark.parametrize("quality", ["low", "auto", "high", "hd"])
def test_quality_runs_the_steps_the_model_metadata_gives(
    sdk: OpenAI, carol: httpx.Client, triton_server: TritonServer, metadata: ModelMetadata, quality: str
) -> None:
    """What ran, seen from Triton: one UNet execution per denoising step (Euler, guidance in one batch)."""
    expected = {
        "low": (metadata.default_steps + 1) // 2,
        "auto": metadata.default_steps,
        "high": metadata.hd_steps,
        "hd": metadata.hd_steps,
    }[quality]
    assert metadata.hd_steps > metadata.default_steps and metadata.default_scheduler == "euler"
    unet = contract.network_model_name(metadata.name, "unet")
    before = model_stats(triton_server, unet).execution_count
    response = sdk.images.generate(
        prompt="a red circle",
        size="256x256",
        quality=quality,  # type: ignore[arg-type]
        response_format="b64_json",
    )
    assert model_stats(triton_server, unet).execution_count - before == expected
    assert response.quality == {"low": "low", "auto": "medium", "high": "high", "hd": "high"}[quality]
    # The usage row the server keeps says the same.
    assert carol.get("/v1/usage", params={"limit": 1}).json()["data"][0]["steps"] == expected


@pytest.mark.parametrize(("output_format", "pillow_format"), [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_output_formats(sdk: OpenAI, carol: httpx.Client, output_format: str, pillow_format: str) -> None:
    def generate(**extra: object) -> ImagesResponse:
        return sdk.images.generate(
            prompt="a yellow star on a black background",
            size="640x360",  # any size within the model's limits
            output_format=output_format,  # type: ignore[arg-type]
            extra_body={"seed": 11, **FAST},
            **extra,  # type: ignore[arg-type]
        )

    best = generate(response_format="b64_json")
    assert best.data is not None and best.output_format == output_format and best.size == "640x360"
    image = decode(best.data[0].b64_json or "")
    assert image.format == pillow_format and image.size == (640, 360)
    smaller = generate(response_format="b64_json", output_compression=10)
    assert smaller.data is not None
    assert len(smaller.data[0].b64_json or "") < len(best.data[0].b64_json or "") / 2

    linked = generate()
    assert linked.data is not None
    url = linked.data[0].url or ""
    assert f".{output_format}?expires=" in url
    fetched = httpx.get(url)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == f"image/{output_format}"
    assert Image.open(io.BytesIO(fetched.content)).format == pillow_format
    image_id = url.split("/files/")[1].split(".")[0]
    stored = carol.get(f"/images/{image_id}", params={"width": 320})
    assert stored.headers["content-type"] == f"image/{output_format}"
    assert Image.open(io.BytesIO(stored.content)).size == (320, 180)


def test_explicit_nulls_mean_the_defaults(carol: httpx.Client) -> None:
    nullable = NULLABLE_FIELDS  # every nullable field of the schema, listed once (the unit tier)
    body = {"prompt": "a green square"} | dict.fromkeys(nullable)
    response = carol.post(ROUTE, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert len(answer["data"]) == 1 and answer["data"][0]["url"]  # n 1, response_format url
    assert (answer["output_format"], answer["size"], answer["quality"]) == ("png", "1024x1024", "medium")
    assert answer["data"][0]["revised_prompt"] == "a green square"  # style natural


@pytest.mark.parametrize("n", [6, 10])
def test_n_up_to_10_with_seeds_s_to_s_plus_n(
    carol: httpx.Client, triton_server: TritonServer, n: int
) -> None:
    seed = 500
    request = {"prompt": "a blue triangle", "size": "256x256", "response_format": "b64_json", "seed": seed}
    before = model_stats(triton_server, "pipeline").inference_count
    data = carol.post(ROUTE, json=request | FAST | {"n": n}).json()["data"]
    # More than contract.MAX_IMAGES (8) images: two Triton requests.
    triton_requests = -(-n // contract.MAX_IMAGES)
    assert model_stats(triton_server, "pipeline").inference_count - before == triton_requests
    assert [d["seed"] for d in data] == list(range(seed, seed + n))
    images = [np.asarray(decode(d["b64_json"])).astype(int) for d in data]
    assert all(not np.array_equal(images[i], images[j]) for i in range(n) for j in range(i + 1, n)), (
        "every image differs"
    )
    # The last image (in the second Triton request when n > 8) regenerated alone from its seed.
    alone = carol.post(ROUTE, json=request | FAST | {"n": 1, "seed": seed + n - 1}).json()["data"][0]
    assert np.abs(np.asarray(decode(alone["b64_json"])).astype(int) - images[-1]).max() <= 2


def test_transparent_background_is_400_naming_it(sdk: OpenAI) -> None:
    with pytest.raises(BadRequestError) as error:
        sdk.images.generate(prompt="a red circle", background="transparent", output_format="png")
    assert error.value.status_code == 400 and error.value.param == "background"
    assert error.value.code == "invalid_parameter"


def test_unknown_model_is_400_listing_served_and_aliased(sdk: OpenAI) -> None:
    with pytest.raises(BadRequestError) as error:
        sdk.images.generate(prompt="a red circle", model="flux-pro")
    assert error.value.param == "model"
    assert "tiny" in error.value.message and "dall-e-3" in error.value.message
    assert "gpt-image-1.5" in error.value.message


def test_moderation_low_is_more_permissive(sdk: OpenAI) -> None:
    with pytest.raises(BadRequestError) as error:
        sdk.images.generate(prompt="a gory red circle", moderation="auto")
    assert error.value.code == "content_policy_violation"
    allowed = sdk.images.generate(
        prompt="a gory red circle", moderation="low", size="256x256", extra_body=FAST
    )
    assert allowed.data is not None and len(allowed.data) == 1


def requests_answered(frontend: Frontend, status: int) -> float:
    text = httpx.get(f"{frontend.url}/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "t2i_http_requests_total" and sample.labels == {
                "route": ROUTE,
                "status": str(status),
            }:
                return sample.value
    return 0.0


def test_504_is_not_retried_by_the_sdk(deadline_frontend: Frontend) -> None:
    # The SDK's defaults: two retries on a 5xx, unless the answer says x-should-retry: false.
    client = OpenAI(base_url=f"{deadline_frontend.url}/v1", api_key="open-mode")
    assert client.max_retries == 2
    before = requests_answered(deadline_frontend, 504)
    with pytest.raises(InternalServerError) as error:
        # 60 steps take longer than this frontend's 0.3 s deadline.
        client.images.generate(prompt="a red circle", size="256x256", extra_body={"steps": 60})
    assert error.value.status_code == 504 and error.value.code == "timeout"
    assert requests_answered(deadline_frontend, 504) - before == 1  # one attempt, no retries
    assert error.value.response.headers["x-should-retry"] == "false"
