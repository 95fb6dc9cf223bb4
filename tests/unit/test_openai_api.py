"""The OpenAI images route in front of a fake Triton client: translation, validation, error bodies.
(The end-to-end tier runs the same routes against the real tritonserver.)"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from tritonclient.utils import InferenceServerException

from frontend.app import create_app
from frontend.errors import APIError, BackendUnavailable, GenerationTimeout, InvalidParameter
from frontend.settings import Settings
from frontend.triton_client import map_triton_error
from t2i.pipeline_io import invalid_request_message
from t2i.request import InvalidRequest
from tests.unit.conftest import TINY, FakeTriton


def post(client: TestClient, **body):
    return client.post("/v1/images/generations", json={"prompt": "a red circle"} | body)


def test_defaults_translate_onto_the_internal_request(client: TestClient, triton: FakeTriton) -> None:
    response = post(client, response_format="b64_json", seed=9)
    assert response.status_code == 200
    (request,) = triton.requests
    assert (request.width, request.height) == (256, 256)  # 1024x1024 generated at the native area
    assert request.steps == TINY.default_steps and request.guidance_scale == TINY.default_guidance_scale
    assert request.scheduler == "euler" and request.num_images == 1 and request.seed == 9
    body = response.json()
    image = Image.open(io.BytesIO(base64.b64decode(body["data"][0]["b64_json"])))
    assert image.size == (1024, 1024) and image.format == "PNG"
    assert body["data"][0]["seed"] == 9
    assert body["usage"] | {"latency_ms": 0} == {
        "cost": 0.0,
        "latency_ms": 0,
        "image_size": "1024x1024",
        "model_used": "tiny",
    }


def test_extensions_and_hd(client: TestClient, triton: FakeTriton) -> None:
    response = post(
        client,
        n=3,
        size="1792x1024",
        quality="hd",
        negative_prompt="blur",
        guidance_scale=3.0,
        scheduler="ddim",
    )
    assert response.status_code == 200
    request = triton.requests[0]
    assert request.width > request.height and request.width % 16 == 0
    assert request.steps == TINY.hd_steps and request.negative_prompt == "blur"
    assert request.guidance_scale == 3.0 and request.scheduler == "ddim" and request.num_images == 3
    data = response.json()["data"]
    assert [d["seed"] for d in data] == [request.seed, request.seed + 1, request.seed + 2]
    assert all(d["url"].startswith("http://127.0.0.1:8000/files/") for d in data)


def test_vivid_style_changes_prompt_and_guidance(client: TestClient, triton: FakeTriton) -> None:
    body = post(client, style="vivid", response_format="b64_json").json()
    request = triton.requests[0]
    assert (
        request.prompt.startswith("a red circle, ") and request.guidance_scale > TINY.default_guidance_scale
    )
    assert body["data"][0]["revised_prompt"] == request.prompt


def test_url_serves_the_image_and_tampering_is_refused(client: TestClient) -> None:
    url = post(client, size="512x512").json()["data"][0]["url"]
    image = client.get(url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (512, 512)
    forged = client.get(url[:-4] + "0000")
    assert forged.status_code == 404 and forged.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 4001}, "prompt"),
        ({"prompt": None}, "prompt"),
        ({"prompt": 5}, "prompt"),
        ({"n": 0}, "n"),
        ({"n": 5}, "n"),
        ({"n": "2"}, "n"),
        ({"n": 1.5}, "n"),
        ({"size": "500x500"}, "size"),
        ({"size": "1024X1024 "}, "size"),
        ({"quality": "ultra"}, "quality"),
        ({"style": "anime"}, "style"),
        ({"response_format": "png"}, "response_format"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**32}, "seed"),
        ({"seed": True}, "seed"),
        ({"steps": 0}, "steps"),
        ({"steps": 151}, "steps"),
        ({"guidance_scale": -0.5}, "guidance_scale"),
        ({"scheduler": "magic"}, "scheduler"),
        ({"model": "dall-e-3"}, "model"),
        ({"provider": "openai"}, "provider"),
        ({"negative_prompt": "x" * 4001}, "negative_prompt"),
    ],
)
def test_bad_input_is_400_naming_the_field(
    client: TestClient, triton: FakeTriton, body: dict, param: str
) -> None:
    response = post(client, **body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and error["param"] == param
    assert param in error["message"]
    assert triton.requests == []  # nothing reached Triton


def test_missing_prompt_and_bad_json(client: TestClient) -> None:
    missing = client.post("/v1/images/generations", json={"n": 1})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "prompt"
    broken = client.post(
        "/v1/images/generations", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_parameter"


def test_unknown_route_uses_the_error_envelope(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_backend_down_is_503_with_retry_after(client: TestClient, triton: FakeTriton) -> None:
    triton.error = BackendUnavailable("down")
    response = post(client)
    assert response.status_code == 503 and response.headers["retry-after"]
    assert response.json()["error"]["code"] == "backend_unavailable"
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_unexpected_error_hides_its_text(tmp_path: Path, triton: FakeTriton) -> None:
    triton.error = RuntimeError("secret internals /etc/passwd")
    app = create_app(Settings(data_dir=tmp_path), triton=triton)  # type: ignore[arg-type]
    # Starlette re-raises after answering 500 (for the server's log); look at the answer only.
    with TestClient(app, raise_server_exceptions=False) as client:
        response = post(client)
    assert response.status_code == 500
    assert "secret" not in response.text and response.json()["error"]["code"] == "internal_error"


def test_models_lists_the_served_model(client: TestClient) -> None:
    assert client.get("/v1/models").json()["data"][0]["id"] == "tiny"


def test_triton_errors_map_to_api_errors() -> None:
    # The pipeline's structured message, with the request-id prefix Triton may put in front.
    message = "[request id: 7] " + invalid_request_message(InvalidRequest("width", "width must be 64"))
    invalid = map_triton_error(InferenceServerException(message, status="StatusCode.INVALID_ARGUMENT"))
    assert isinstance(invalid, InvalidParameter) and invalid.param == "width"
    assert invalid.message == "width must be 64"
    # Prose that merely looks like a field name is not read as one.
    prose = map_triton_error(
        InferenceServerException("invalid width: bad", status="StatusCode.INVALID_ARGUMENT")
    )
    assert isinstance(prose, InvalidParameter) and prose.param is None
    # A failure nobody classified is a 500, not a 503 that tells clients to retry.
    for status in ("StatusCode.UNKNOWN", "StatusCode.INTERNAL"):
        failed = map_triton_error(InferenceServerException("boom", status=status))
        assert type(failed) is APIError and failed.status == 500
    down = map_triton_error(InferenceServerException("connect failed", status="StatusCode.UNAVAILABLE"))
    assert isinstance(down, BackendUnavailable)
    late = map_triton_error(
        InferenceServerException("Deadline Exceeded", status="StatusCode.DEADLINE_EXCEEDED")
    )
    assert isinstance(late, GenerationTimeout)


def test_504_tells_the_sdk_not_to_retry(client: TestClient, triton: FakeTriton) -> None:
    triton.error = GenerationTimeout("late")
    response = post(client)
    assert response.status_code == 504 and response.json()["error"]["code"] == "timeout"
    assert response.headers["x-should-retry"] == "false"
