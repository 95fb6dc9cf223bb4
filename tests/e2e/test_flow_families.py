"""Flux (schnell-like, dev-like) and SD3 folders, built with diffusers' classes, exported into one repository
and served end to end by the real tritonserver behind the real frontend, asked through the official
OpenAI SDK: each model's pixels are diffusers' own FluxPipeline / StableDiffusion3Pipeline's, a masked
edit on Flux keeps every pixel outside the mask, previews stream, and an epsilon scheduler is a 400."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import FluxPipeline, StableDiffusion3Pipeline
from openai import BadRequestError, OpenAI
from PIL import Image

from export.components import load_checkpoint
from export.repository import ExportOptions, fingerprint, write_model_repository
from t2i.triton_server import TritonServer
from tests.e2e.conftest import free_port, running_frontend

pytestmark = pytest.mark.e2e
PROMPT = "a red circle on a blue background"
# The size the models are exported to call native (python -m export --native-size 256): generated as asked,
# with no resize between the pipeline and the response.
SIZE = 256
FOLDERS = {"flux-schnell": "tiny_flux_folder", "flux-dev": "tiny_flux_dev_folder", "sd3": "tiny_sd3_folder"}


@pytest.fixture(scope="module")
def folders(request: pytest.FixtureRequest) -> dict[str, Path]:
    return {name: request.getfixturevalue(fixture) for name, fixture in FOLDERS.items()}


@pytest.fixture(scope="module")
def sdk(folders: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAI]:
    repository = tmp_path_factory.mktemp("flow_repository")
    options = ExportOptions()
    for name, folder in folders.items():
        components = load_checkpoint(folder, name=name)
        components.native_size = SIZE
        write_model_repository(components, repository, options, fingerprint({"model": name}, options))
    work_dir = tmp_path_factory.mktemp("flow_triton")
    with (
        TritonServer(repository, free_port(), work_dir=work_dir, log_file=work_dir / "triton.log") as triton,
        running_frontend(triton.url, tmp_path_factory.mktemp("flow_frontend"), {}) as frontend,
    ):
        yield OpenAI(base_url=f"{frontend.url}/v1", api_key="unused-in-open-mode", max_retries=0, timeout=120)


def decode(b64: str | None) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64 or ""))).convert("RGB"))


def png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, "PNG")
    return buffer.getvalue()


def reference_images(name: str, folder: Path, seeds: list[int], steps: int, guidance: float) -> Any:
    pipeline_class = StableDiffusion3Pipeline if name == "sd3" else FluxPipeline
    reference = pipeline_class.from_pretrained(folder)
    reference.set_progress_bar_config(disable=True)
    return reference(
        PROMPT,
        height=SIZE,
        width=SIZE,
        num_inference_steps=steps,
        guidance_scale=guidance,
        num_images_per_prompt=len(seeds),
        generator=[torch.Generator().manual_seed(seed) for seed in seeds],
        max_sequence_length=512 if name == "flux-dev" else 256,
        output_type="np",
    ).images


@pytest.mark.parametrize(("name", "guidance"), [("flux-schnell", 0.0), ("flux-dev", 3.5), ("sd3", 6.0)])
def test_each_model_by_name_gets_diffusers_pixels(
    sdk: OpenAI, folders: dict[str, Path], name: str, guidance: float
) -> None:
    response = sdk.images.generate(
        model=name,
        prompt=PROMPT,
        n=2,
        size=f"{SIZE}x{SIZE}",  # type: ignore[arg-type]
        response_format="b64_json",
        extra_body={"seed": 21, "steps": 3, "guidance_scale": guidance},
    )
    served = np.stack([decode(d.b64_json) for d in response.data or []])
    expected = reference_images(name, folders[name], [21, 22], steps=3, guidance=guidance)
    assert served.shape == (2, SIZE, SIZE, 3)
    assert expected.std() > 0.05
    assert np.abs(served / 255.0 - expected).max() < 2 / 255


def test_the_catalogue_lists_the_flow_models_with_their_facts(sdk: OpenAI) -> None:
    cards = {m.id: m.model_dump() for m in sdk.models.list().data}
    assert (cards["flux-schnell"]["family"], cards["sd3"]["family"]) == ("flux", "sd3")
    for name in FOLDERS:
        assert cards[name]["schedulers"] == ["flow_euler"] == [cards[name]["default_scheduler"]]
    assert (cards["flux-schnell"]["default_steps"], cards["flux-schnell"]["default_guidance_scale"]) == (
        4,
        0.0,
    )
    assert (cards["flux-dev"]["default_steps"], cards["flux-dev"]["default_guidance_scale"]) == (28, 3.5)
    assert (cards["sd3"]["default_steps"], cards["sd3"]["default_guidance_scale"]) == (28, 7.0)
    assert cards["flux-dev"]["size"]["multiple"] == 16


def test_an_epsilon_scheduler_on_flux_is_a_400_naming_the_accepted_ones(sdk: OpenAI) -> None:
    with pytest.raises(BadRequestError) as error:
        sdk.images.generate(
            model="flux-schnell",
            prompt=PROMPT,
            size=f"{SIZE}x{SIZE}",
            extra_body={"scheduler": "euler_a"},  # type: ignore[arg-type]
        )
    assert error.value.status_code == 400 and error.value.param == "scheduler"
    assert "flow_euler" in str(error.value)


def test_a_masked_flux_edit_keeps_every_pixel_outside_the_mask(sdk: OpenAI) -> None:
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    picture = np.stack([x, y, (x // 8 % 2) * 255], axis=-1).astype(np.uint8)
    alpha = np.full((SIZE, SIZE), 255, dtype=np.uint8)
    alpha[64:192, 80:176] = 0  # repaint here
    response = sdk.images.edit(
        model="flux-schnell",
        image=("picture.png", png(picture), "image/png"),
        mask=("mask.png", png(np.dstack([picture, alpha]), "RGBA"), "image/png"),
        prompt=PROMPT,
        response_format="b64_json",
        extra_body={"seed": 5, "steps": 3},
    )
    (item,) = response.data or []
    result = decode(item.b64_json).astype(int)
    kept, repainted = alpha == 255, alpha == 0
    assert np.array_equal(result[kept], picture[kept])
    assert np.abs(result - picture.astype(int))[repainted].mean() > 10


def test_flux_streams_previews_then_the_image(sdk: OpenAI) -> None:
    from openai.types import ImageGenCompletedEvent, ImageGenPartialImageEvent

    stream = sdk.images.generate(
        model="flux-dev",
        prompt=PROMPT,
        size=f"{SIZE}x{SIZE}",  # type: ignore[arg-type]
        stream=True,
        partial_images=2,
        extra_body={"seed": 8, "steps": 3},
    )
    events = list(stream)
    assert [type(e) for e in events] == [ImageGenPartialImageEvent] * 2 + [ImageGenCompletedEvent]
    completed = events[-1]
    assert isinstance(completed, ImageGenCompletedEvent)
    assert decode(completed.b64_json).shape == (SIZE, SIZE, 3)
