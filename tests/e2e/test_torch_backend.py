"""The torch backend end to end: a tiny SD folder and a LoRA for it, both built here with diffusers' and
peft's classes, exported with `--backend torch` and `--lora`, served by the real tritonserver behind the
real frontend and asked through the official OpenAI SDK. With `loras` at 0.8 the pixels are diffusers'
`load_lora_weights` + `set_adapters`; requests without it, sent at the same time, get the plain pipeline's."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from openai import BadRequestError, OpenAI
from PIL import Image

from export.cli import main
from export.components import load_checkpoint
from t2i.triton_server import TritonServer
from tests.e2e.conftest import free_port, running_frontend
from tests.loras import make_lora, tiny_sd_folder

pytestmark = pytest.mark.e2e
PROMPT = "a red circle on a blue background"
SIZE, STEPS, GUIDANCE, SCALE = 256, 4, 6.0, 0.8
LORA = [{"name": "style", "scale": SCALE}]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_sd_folder(tmp_path_factory.mktemp("torch_e2e") / "tiny-sd")


@pytest.fixture(scope="module")
def lora(folder: Path) -> Path:
    return make_lora(folder, folder.parent / "style-lora", text_encoder=False)


@pytest.fixture(scope="module")
def frontend_url(folder: Path, lora: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    repository = tmp_path_factory.mktemp("torch_repository")
    assert (
        main(["--model", str(folder), "--backend", "torch", "--name", "sd", "--output", str(repository)]) == 0
    )
    assert main(["--lora", str(lora), "--name", "style", "--output", str(repository)]) == 0
    work_dir = tmp_path_factory.mktemp("torch_triton")
    with (
        TritonServer(repository, free_port(), work_dir=work_dir, log_file=work_dir / "triton.log") as triton,
        running_frontend(triton.url, tmp_path_factory.mktemp("torch_frontend"), {}) as frontend,
    ):
        yield frontend.url


@pytest.fixture(scope="module")
def sdk(frontend_url: str) -> OpenAI:
    return OpenAI(base_url=f"{frontend_url}/v1", api_key="unused-in-open-mode", max_retries=0, timeout=120)


def decode(b64: str | None) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64 or ""))).convert("RGB"))


def generate(sdk: OpenAI, seed: int, loras: list[dict] | None) -> np.ndarray:
    extra: dict[str, Any] = {"seed": seed, "steps": STEPS, "guidance_scale": GUIDANCE}
    if loras is not None:
        extra["loras"] = loras
    response = sdk.images.generate(
        model="sd",
        prompt=PROMPT,
        size=f"{SIZE}x{SIZE}",  # type: ignore[arg-type]
        response_format="b64_json",
        extra_body=extra,
    )
    assert response.data is not None
    return decode(response.data[0].b64_json)


def reference(folder: Path, lora: Path, seed: int, adapted: bool) -> np.ndarray:
    pipe = load_checkpoint(folder).diffusers_pipeline()
    if adapted:
        pipe.load_lora_weights(lora, adapter_name="style")
        pipe.set_adapters(["style"], [SCALE])
    return pipe(
        PROMPT,
        height=SIZE,
        width=SIZE,
        num_inference_steps=STEPS,
        guidance_scale=GUIDANCE,
        generator=[torch.Generator().manual_seed(seed)],
        output_type="np",
    ).images[0]


def test_the_model_lists_its_adapter(frontend_url: str) -> None:
    models = httpx.get(f"{frontend_url}/v1/models", timeout=30).json()["data"]
    card = next(m for m in models if m["id"] == "sd")
    assert card["loras"] == ["style"]


def test_adapted_and_plain_requests_at_once_get_their_own_diffusers_pixels(
    sdk: OpenAI, folder: Path, lora: Path
) -> None:
    jobs = [(seed, LORA if seed % 2 else None) for seed in (1, 2, 3, 4)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        images = list(pool.map(lambda job: generate(sdk, *job), jobs))
    for (seed, loras), image in zip(jobs, images, strict=True):
        expected = reference(folder, lora, seed, adapted=loras is not None)
        assert np.abs(image / 255.0 - expected).max() < 2 / 255, (seed, loras)
    # The adapter shows: the same seed with and without it differ.
    assert np.abs(generate(sdk, 1, None).astype(int) - images[0].astype(int)).mean() > 5


@pytest.mark.parametrize(
    ("loras", "message"),
    [([{"name": "nope"}], "unknown LoRA 'nope'"), ([{"name": "style", "scale": 9}], "between -4 and 4")],
)
def test_a_bad_adapter_is_a_400_naming_loras(sdk: OpenAI, loras: list[dict], message: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        generate(sdk, 1, loras)
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == "loras" and message in error["message"]
