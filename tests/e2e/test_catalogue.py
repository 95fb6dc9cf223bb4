"""A model catalogue: one repository holding the committed `shapes` model, the `tiny` preset and a tiny
random SDXL folder (diffusers' classes), each added by `python -m export`, served by one
`python -m frontend --model-repository <it>` (embedded Triton); the official SDK asks each by name. Then a
pool of two real Tritons holding different models, each request routed to the one that serves its model."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from openai import BadRequestError, OpenAI
from PIL import Image

from benchmarks.image_reading import read_image
from export.cli import main as export
from t2i import contract
from t2i.triton_server import TritonServer
from testbed.frontend import frontend_process, poll_until_ok, served_models
from tests.conftest import SHAPES_MODEL
from tests.e2e.conftest import diffusers_sdxl_images, free_port, running_frontend, wait_for

pytestmark = pytest.mark.e2e
SDXL = "tiny-sdxl"
PROMPT = "a red circle on a blue background"


@pytest.fixture(scope="module")
def catalogue_repository(tmp_path_factory: pytest.TempPathFactory, tiny_sdxl_folder: Path) -> Path:
    repository = tmp_path_factory.mktemp("catalogue")
    assert export(["--model", str(SHAPES_MODEL), "--output", str(repository)]) == 0
    assert export(["--preset", "tiny", "--output", str(repository)]) == 0
    assert export(["--model", str(tiny_sdxl_folder), "--name", SDXL, "--output", str(repository)]) == 0
    assert contract.served_models(repository) == ["shapes", "tiny", SDXL]  # each export kept the others
    return repository


@pytest.fixture(scope="module")
def sdk(catalogue_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAI]:
    port = free_port()
    args = ("--model-repository", str(catalogue_repository))
    settings = {"T2I_TRITON_GRPC_PORT": str(free_port())}
    with frontend_process(None, port, tmp_path_factory.mktemp("catalogue_frontend"), settings, args):
        url = f"http://127.0.0.1:{port}"
        assert poll_until_ok(f"{url}/readyz", 180), "the embedded Triton did not get ready"
        yield OpenAI(base_url=f"{url}/v1", api_key="unused-in-open-mode", max_retries=0, timeout=300)


def pixels(b64: str | None) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64 or ""))).convert("RGB"))


def generate(sdk: OpenAI, model: str, **extra: object) -> np.ndarray:
    response = sdk.images.generate(
        model=model,
        prompt=PROMPT,
        size="256x256",
        response_format="b64_json",
        extra_body={"seed": 21, "steps": 4, "guidance_scale": 6.0, "scheduler": "euler", **extra},
    )
    return pixels((response.data or [])[0].b64_json)


def test_models_lists_the_three_with_their_facts(sdk: OpenAI) -> None:
    cards = {card.id: card.to_dict() for card in sdk.models.list()}
    assert [name for name in cards if cards[name]["root"] == name] == ["shapes", "tiny", SDXL]
    assert {name: cards[name]["family"] for name in ("shapes", "tiny", SDXL)} == {
        "shapes": "sd",
        "tiny": "sd",
        SDXL: "sdxl",
    }
    assert cards["tiny"]["size"]["native"] == "256x256" and cards["dall-e-3"]["root"] == "shapes"  # default
    assert sdk.models.retrieve(SDXL).id == SDXL


def test_each_model_by_name_gives_its_own_pixels(sdk: OpenAI, tiny_sdxl_folder: Path) -> None:
    shapes = sdk.images.generate(model="shapes", prompt=PROMPT, size="256x256", response_format="b64_json")
    reading = read_image(pixels((shapes.data or [])[0].b64_json))
    assert (reading.colour, reading.shape, reading.background) == ("red", "circle", "blue")
    served = generate(sdk, SDXL)
    (expected,) = diffusers_sdxl_images(tiny_sdxl_folder, PROMPT, [21], steps=4, guidance=6.0)
    assert np.abs(served / 255.0 - expected).max() < 2 / 255
    assert not np.array_equal(generate(sdk, "tiny"), served)


def test_requests_for_different_models_at_once_each_get_their_own(sdk: OpenAI) -> None:
    models = ["shapes", "tiny", SDXL] * 2
    alone = {model: generate(sdk, model) for model in models[:3]}
    with ThreadPoolExecutor(len(models)) as pool:
        together = list(pool.map(lambda model: generate(sdk, model), models))
    for model, image in zip(models, together, strict=True):
        assert np.array_equal(image, alone[model]), model


def test_an_unknown_model_is_a_400_naming_the_served_ones(sdk: OpenAI) -> None:
    with pytest.raises(BadRequestError) as error:
        sdk.images.generate(model="flux-schnell", prompt=PROMPT)
    assert error.value.param == "model"
    assert f"served models: shapes, tiny, {SDXL}" in error.value.message


def test_a_model_unloaded_and_loaded_in_triton_goes_and_comes_back_without_a_restart(
    catalogue_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Triton's explicit model control: unloading one network takes its model out of the catalogue,
    loading it again brings the model back; the frontend keeps running throughout."""
    work_dir = tmp_path_factory.mktemp("explicit_triton")
    control = ("--model-control-mode=explicit", "--load-model=*")
    with (
        TritonServer(catalogue_repository, free_port(), work_dir=work_dir, extra_args=control) as triton,
        running_frontend(triton.url, tmp_path_factory.mktemp("explicit_frontend"), {}) as frontend,
        grpcclient.InferenceServerClient(triton.url) as client,
    ):
        assert wait_for(lambda: served_models(frontend.url) == ["shapes", "tiny", SDXL])
        client.unload_model(contract.network_model_name("tiny", "unet"))
        assert wait_for(lambda: served_models(frontend.url) == ["shapes", SDXL])
        sdk = OpenAI(base_url=f"{frontend.url}/v1", api_key="unused", max_retries=0, timeout=300)
        with pytest.raises(BadRequestError) as error:
            generate(sdk, "tiny", steps=2)
        assert error.value.param == "model"
        client.load_model(contract.network_model_name("tiny", "unet"))
        assert wait_for(lambda: served_models(frontend.url) == ["shapes", "tiny", SDXL])
        assert generate(sdk, "tiny", steps=2).shape == (256, 256, 3)


@pytest.fixture(scope="module")
def sdxl_triton(
    tiny_sdxl_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TritonServer]:
    work_dir = tmp_path_factory.mktemp("pool_sdxl_triton")
    with TritonServer(tiny_sdxl_repository, free_port(), work_dir=work_dir) as server:
        yield server


def unet_executions(url: str, served: str) -> int:
    with grpcclient.InferenceServerClient(url) as client:
        stats = client.get_inference_statistics(contract.network_model_name(served, "unet"))
        return int(stats.model_stats[0].execution_count)


def test_a_pool_of_tritons_with_different_models_routes_each_request(
    triton_server: TritonServer,
    sdxl_triton: TritonServer,
    tiny_sdxl_folder: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    sdxl = tiny_sdxl_folder.name
    pool = f"{triton_server.url},{sdxl_triton.url}"
    with running_frontend(pool, tmp_path_factory.mktemp("pool_frontend"), {}) as frontend:
        ready = httpx.get(f"{frontend.url}/readyz").json()
        assert ready["models"] == {"tiny": [triton_server.url], sdxl: [sdxl_triton.url]}
        sdk = OpenAI(base_url=f"{frontend.url}/v1", api_key="unused", max_retries=0, timeout=300)
        before = unet_executions(triton_server.url, "tiny"), unet_executions(sdxl_triton.url, sdxl)
        for _ in range(2):  # round-robin alone would send one of each pair to the wrong server
            generate(sdk, "tiny", steps=2)
            generate(sdk, sdxl, steps=2)
        after = unet_executions(triton_server.url, "tiny"), unet_executions(sdxl_triton.url, sdxl)
        assert after[0] > before[0] and after[1] > before[1]
