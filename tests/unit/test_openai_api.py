"""The OpenAI images route in front of a fake Triton client: translation, validation, error bodies.
(The end-to-end tier runs the same routes against the real tritonserver.)"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import typing
from pathlib import Path

import numpy as np
import openai
import pytest
from fastapi.testclient import TestClient
from openai import OpenAI
from openai.types import ImageModel, image_generate_params
from PIL import Image
from tritonclient.utils import InferenceServerException

from frontend.api.openai import translation
from frontend.api.openai.schemas import SEED_001_EXAMPLE, ImageGenerationRequest, Quality
from frontend.app import create_app
from frontend.generation.service import encode_image
from frontend.generation.sizing import parse_size
from frontend.http.errors import APIError, BackendUnavailable, GenerationTimeout, InvalidParameter
from frontend.settings import OPENAI_IMAGE_MODELS, Settings
from frontend.triton.client import map_triton_error
from t2i import contract
from t2i.pipeline_io import invalid_request_message
from t2i.request import GenerationRequest, InvalidRequest
from tests.openai_spec import assert_conforms
from tests.unit.conftest import TINY, FakeTriton, make_client


def post(client: TestClient, **body):
    return client.post("/v1/images/generations", json={"prompt": "a red circle"} | body)


# The SDK's request fields and their types (typing.get_type_hints resolves its string annotations).
SDK_PARAMS = typing.get_type_hints(image_generate_params.ImageGenerateParamsNonStreaming)


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


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
    assert_conforms("ImagesResponse", body)  # OpenAI's own schema, token usage included
    assert body["usage"] | {"latency_ms": 0} == {
        "input_tokens": 0,
        "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
        "output_tokens": 0,
        "total_tokens": 0,
        "cost": 0.0,
        "latency_ms": 0,
        "image_size": "1024x1024",
        "model_used": "tiny",
    }
    # The gpt-image fields of the SDK's ImagesResponse: what ran, in the spec's vocabulary.
    assert {k: body[k] for k in ("output_format", "size", "quality", "background")} == {
        "output_format": "png",
        "size": "1024x1024",
        "quality": "medium",
        "background": "opaque",
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
        ({"n": 11}, "n"),
        ({"n": "2"}, "n"),
        ({"n": 1.5}, "n"),
        ({"size": "0x256"}, "size"),
        ({"size": "15x256"}, "size"),  # under the model's smallest side (16 for tiny)
        ({"size": "2049x1024"}, "size"),  # over its largest (2048)
        ({"size": "1024X1024 "}, "size"),
        ({"size": "big"}, "size"),
        ({"quality": "ultra"}, "quality"),
        ({"style": "anime"}, "style"),
        ({"response_format": "png"}, "response_format"),
        ({"output_format": "bmp"}, "output_format"),
        ({"output_format": "gif"}, "output_format"),  # a spec value these models do not produce
        ({"output_format": "svg"}, "output_format"),
        ({"output_compression": 101}, "output_compression"),
        ({"output_compression": -1}, "output_compression"),
        ({"background": "transparent"}, "background"),
        ({"background": "clear"}, "background"),
        ({"moderation": "high"}, "moderation"),
        ({"partial_images": 4}, "partial_images"),
        ({"user": None}, "user"),  # the one optional field the spec does not make nullable
        ({"complexity": "extreme"}, "complexity"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**32}, "seed"),
        ({"seed": True}, "seed"),
        ({"steps": 0}, "steps"),
        ({"steps": 151}, "steps"),
        ({"guidance_scale": -0.5}, "guidance_scale"),
        ({"scheduler": "magic"}, "scheduler"),
        ({"model": "dall-e-4"}, "model"),
        ({"provider": "azure"}, "provider"),
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


def test_models_lists_the_served_model_then_its_aliases(client: TestClient) -> None:
    cards = client.get("/v1/models").json()["data"]
    assert {k: cards[0][k] for k in ("id", "object", "created", "owned_by", "root", "family")} == {
        "id": "tiny",
        "object": "model",
        "created": 0,
        "owned_by": "t2i-triton",
        "root": "tiny",
        "family": "sd",
    }
    assert cards[0]["size"] == {"native": "256x256", "min_side": 16, "max_side": 2048, "multiple": 16}
    assert (cards[0]["default_steps"], cards[0]["hd_steps"]) == (TINY.default_steps, TINY.hd_steps)
    assert [c["id"] for c in cards[1:]] == list(OPENAI_IMAGE_MODELS)
    assert {c["root"] for c in cards} == {"tiny"}
    assert all(set(c) == {"id", "object", "created", "owned_by", "root"} for c in cards[1:])


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


@pytest.mark.parametrize(
    ("quality", "steps"),
    [
        ("low", 10),
        ("medium", 20),
        ("standard", 20),
        ("auto", 20),
        ("high", 40),
        ("hd", 40),
        ("xhigh", 40),
        ("max", 40),
    ],
)
def test_quality_runs_steps_from_the_model_metadata(
    client: TestClient, triton: FakeTriton, quality: str, steps: int
) -> None:
    body = post(client, quality=quality).json()
    assert triton.requests[0].steps == steps  # TINY: default_steps 20, hd_steps 40
    assert body["quality"] == translation.QUALITY_TIERS[quality]


def test_quality_tiers_follow_each_model() -> None:
    turbo = dataclasses.replace(TINY, default_steps=1, hd_steps=4)
    lcm = dataclasses.replace(TINY, default_steps=4, hd_steps=8)
    assert [translation.tier_steps(t, turbo) for t in ("low", "medium", "high")] == [1, 1, 4]
    assert [translation.tier_steps(t, lcm) for t in ("low", "medium", "high")] == [2, 4, 8]
    # Every quality of the SDK (Optional[Literal[...]]) runs a tier.
    sdk_quality = typing.get_args(SDK_PARAMS["quality"])[0]
    assert (
        set(typing.get_args(sdk_quality)) == set(typing.get_args(Quality)) == set(translation.QUALITY_TIERS)
    )


def test_every_field_the_sdk_sends_is_a_field_here() -> None:
    # Those left out only apply to gif/svg output, which `output_format` refuses (they are ignored).
    only_for_gif_or_svg = {"frame_count", "frame_duration_ms", "svg"}
    fields = set(ImageGenerationRequest.model_fields)
    assert set(SDK_PARAMS) - fields == only_for_gif_or_svg
    sdk_nullable = {name for name, hint in SDK_PARAMS.items() if type(None) in typing.get_args(hint)}
    assert sdk_nullable - only_for_gif_or_svg <= set(NULLABLE_FIELDS)
    assert "user" not in sdk_nullable and "prompt" not in sdk_nullable


def test_explicit_steps_override_quality(client: TestClient, triton: FakeTriton) -> None:
    post(client, quality="high", steps=3)
    assert triton.requests[0].steps == 3


def test_seed_001_example_verbatim(client: TestClient, triton: FakeTriton) -> None:
    response = client.post(
        "/v1/images/generations", json=SEED_001_EXAMPLE, headers={"Accept": "application/json"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["provider"] == "openai" and len(body["data"]) == 1 and body["data"][0]["url"]
    # dall-e-3 is an alias: the served model ran, and usage says so.
    assert body["usage"]["model_used"] == "tiny" and body["usage"]["image_size"] == "1024x1024"
    assert triton.requests[0].steps == TINY.default_steps  # standard
    assert triton.requests[0].prompt == SEED_001_EXAMPLE["prompt"]  # natural: as written


def test_default_aliases_are_every_sdk_image_model(client: TestClient, triton: FakeTriton) -> None:
    assert set(OPENAI_IMAGE_MODELS) == set(typing.get_args(ImageModel))
    for model in OPENAI_IMAGE_MODELS:
        assert post(client, model=model, steps=1).status_code == 200, model
    assert post(client, model="tiny", steps=1).status_code == 200  # the served name itself


def test_models_retrieve_answers_every_served_name_and_alias(client: TestClient) -> None:
    sdk = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="open", http_client=client, max_retries=0)
    for name in ("tiny", *OPENAI_IMAGE_MODELS):
        model = sdk.models.retrieve(name)  # the SDK's own model type
        assert (model.id, model.object, model.owned_by) == (name, "model", "t2i-triton")
        assert_conforms("Model", client.get(f"/v1/models/{name}").json())
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.models.retrieve("stable-diffusion-9")
    assert missing.value.status_code == 404
    assert_conforms("ErrorResponse", missing.value.response.json())
    assert missing.value.code == "model_not_found" and missing.value.param == "model"


def test_unknown_model_names_the_served_and_aliased_models(client: TestClient) -> None:
    error = post(client, model="flux-pro").json()["error"]
    assert error["param"] == "model"
    assert "tiny" in error["message"] and "dall-e-3" in error["message"]
    assert "gpt-image-1" in error["message"]


def test_alias_table_from_the_environment(
    tmp_path: Path, triton: FakeTriton, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One alias of the served model, one of a model this server does not serve.
    monkeypatch.setenv("T2I_MODEL_ALIASES", json.dumps({"house-style": "tiny", "dall-e-3": "sd15"}))
    with make_client(tmp_path, triton) as client:
        assert post(client, model="house-style", steps=1).status_code == 200
        refused = post(client, model="dall-e-3").json()["error"]
        assert refused["param"] == "model" and "house-style" in refused["message"]
        assert post(client, model="gpt-image-1").status_code == 400  # the table replaces the default
        cards = client.get("/v1/models").json()["data"]
        assert [(c["id"], c["root"]) for c in cards] == [("tiny", "tiny"), ("house-style", "tiny")]


def test_provider_openai_is_accepted_and_echoed(client: TestClient) -> None:
    for provider in ("openai", "auto", "triton", "tiny"):
        assert post(client, provider=provider, steps=1).json()["provider"] == provider


NULLABLE_FIELDS = (
    "model",
    "provider",
    "n",
    "quality",
    "response_format",
    "output_format",
    "output_compression",
    "stream",
    "partial_images",
    "size",
    "moderation",
    "background",
    "style",
    "safety_identifier",
    "complexity",
    "negative_prompt",
    "seed",
    "steps",
    "guidance_scale",
    "scheduler",
)


def test_explicit_null_means_the_default(client: TestClient, triton: FakeTriton) -> None:
    nulls = post(client, **dict.fromkeys(NULLABLE_FIELDS))
    assert nulls.status_code == 200, nulls.text
    omitted = post(client)
    assert omitted.status_code == 200
    with_nulls, without = triton.requests
    with_nulls.seed = without.seed  # null seed: random, as when omitted
    assert with_nulls == without
    ignore = {"created", "data", "usage"}
    assert {k: v for k, v in nulls.json().items() if k not in ignore} == {
        k: v for k, v in omitted.json().items() if k not in ignore
    }


def test_schema_documents_the_nullable_fields(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["ImageGenerationRequest"]
    properties = schema["properties"]
    for name in NULLABLE_FIELDS:
        assert {"type": "null"} in properties[name]["anyOf"], name
    assert properties["n"]["default"] == 1 and properties["n"]["anyOf"][0]["maximum"] == 10
    assert "anyOf" not in properties["user"] and schema["required"] == ["prompt"]


def test_n_over_one_triton_request_continues_the_seeds(client: TestClient, triton: FakeTriton) -> None:
    body = post(client, n=10, seed=100, response_format="b64_json").json()
    first, second = triton.requests
    assert (first.seed, first.num_images) == (100, contract.MAX_IMAGES)
    assert (second.seed, second.num_images) == (100 + contract.MAX_IMAGES, 10 - contract.MAX_IMAGES)
    assert [d["seed"] for d in body["data"]] == list(range(100, 110))
    # FakeTriton fills image i of a Triton request with (its seed + i) % 256: image i holds s + i.
    fills = [int(np.asarray(decode(d["b64_json"]))[0, 0, 0]) for d in body["data"]]
    assert fills == list(range(100, 110))


def test_a_failing_part_of_a_split_request_fails_it(client: TestClient, triton: FakeTriton) -> None:
    calls = 0
    generate = triton.generate

    async def second_fails(
        request: GenerationRequest, timeout_s: float, on_preview: object = None
    ) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise GenerationTimeout("late")
        return await generate(request, timeout_s)

    triton.generate = second_fails  # type: ignore[method-assign]
    response = post(client, n=9)
    assert response.status_code == 504 and response.headers["x-should-retry"] == "false"


@pytest.mark.parametrize(
    ("size", "pixels"),
    [("640x480", (640, 480)), ("16x2048", (16, 2048)), ("2048x2048", (2048, 2048)), ("auto", (256, 256))],
)
def test_any_size_within_the_model_limits(client: TestClient, size: str, pixels: tuple[int, int]) -> None:
    body = post(client, size=size, response_format="b64_json", steps=1).json()
    assert decode(body["data"][0]["b64_json"]).size == pixels
    assert body["size"] == body["usage"]["image_size"] == f"{pixels[0]}x{pixels[1]}"


def test_named_sizes_are_served_even_past_a_narrower_model_range() -> None:
    # A TensorRT export may publish max_side 1024: the spec's 1792x1024 is still generated within it and
    # resized, while a custom size past the range is refused.
    narrow = dataclasses.replace(TINY, min_side=64, max_side=1024)
    assert parse_size("1792x1024", narrow) == (1792, 1024)
    assert parse_size("1024x1024", narrow) == (1024, 1024)
    for size in ("1100x1024", "32x512"):
        with pytest.raises(InvalidParameter) as error:
            parse_size(size, narrow)
        assert error.value.param == "size" and "between 64 and 1024" in error.value.message


@pytest.mark.parametrize(("output_format", "pillow_format"), [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_lossy_formats_compression_and_their_urls(
    client: TestClient, output_format: str, pillow_format: str
) -> None:
    body = {"size": "512x512", "response_format": "b64_json", "output_format": output_format}
    best = post(client, **body).json()
    assert best["output_format"] == output_format
    image = decode(best["data"][0]["b64_json"])
    assert image.format == pillow_format and image.size == (512, 512)
    url = post(client, size="512x512", output_format=output_format).json()["data"][0]["url"]
    assert f".{output_format}?expires=" in url
    served = client.get(url)
    assert served.status_code == 200 and served.headers["content-type"] == f"image/{output_format}"
    image_id = url.split("/files/")[1].split(".")[0]
    stored = client.get(f"/images/{image_id}", params={"width": 128})
    assert stored.headers["content-type"] == f"image/{output_format}"
    assert Image.open(io.BytesIO(stored.content)).format == pillow_format


@pytest.mark.parametrize("output_format", ["jpeg", "webp"])
def test_compression_is_pillow_quality(output_format: str) -> None:
    # A picture with detail (the fake Triton's images are flat, and flat images barely compress).
    rng = np.random.default_rng(0)
    image = np.linspace(0, 255, 256 * 256 * 3).reshape(256, 256, 3) + rng.normal(0, 20, (256, 256, 3))
    image = image.clip(0, 255).astype(np.uint8)
    sizes = [len(encode_image(image, 256, 256, output_format, quality)) for quality in (10, 50, 100)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[2] / 2


def test_png_ignores_compression(client: TestClient) -> None:
    body = post(client, size="256x256", response_format="b64_json", output_compression=0, seed=1).json()
    again = post(client, size="256x256", response_format="b64_json", seed=1).json()
    assert body["data"][0]["b64_json"] == again["data"][0]["b64_json"]


def test_moderation_low_is_more_permissive(client: TestClient) -> None:
    # "gory" is a level-3 gore term: refused at the default level 2, allowed at low's level 4; nudity
    # (level 5) stays refused at low.
    refused = post(client, prompt="a gory red circle")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "content_policy_violation"
    assert post(client, prompt="a gory red circle", moderation="low", steps=1).status_code == 200
    assert post(client, prompt="a nude figure", moderation="low").status_code == 400
    assert post(client, prompt="a gory red circle", moderation="auto").status_code == 400


def test_user_and_newer_sdk_fields_are_accepted(client: TestClient, triton: FakeTriton) -> None:
    response = post(
        client,
        user="user-1234",
        safety_identifier="hashed-id",
        complexity="high",
        partial_images=2,
        stream=False,
        background="opaque",
        frame_count=None,
        svg=None,
        steps=1,
    )
    assert response.status_code == 200, response.text


def parse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_stream_is_server_sent_events_in_the_spec_shapes(client: TestClient, triton: FakeTriton) -> None:
    response = post(client, stream=True, partial_images=2, n=2, size="256x256", seed=5)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = parse_events(response.text)
    assert [name for name, _ in events] == ["image_generation.partial_image"] * 2 + [
        "image_generation.completed"
    ] * 2
    assert [data["partial_image_index"] for _, data in events[:2]] == [0, 1]
    for name, data in events:
        assert data["type"] == name and data["size"] == "256x256" and data["output_format"] == "png"
        assert Image.open(io.BytesIO(base64.b64decode(data["b64_json"]))).size == (256, 256)
    usage = events[-1][1]["usage"]
    assert usage["total_tokens"] == 0 and usage["model_used"] == "tiny"
    assert triton.requests[-1].partial_images == 2


def test_without_stream_no_previews_are_asked_for(client: TestClient, triton: FakeTriton) -> None:
    assert post(client, partial_images=3).status_code == 200
    assert triton.requests[-1].partial_images == 0
