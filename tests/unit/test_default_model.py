"""The committed default model (models/shapes), exported to ONNX and run by the same loop that the Triton
pipeline model runs: it draws what it is asked for. The full measurement is `make eval`."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.image_reading import read_image
from t2i import contract
from t2i.denoise import DenoisingPipeline
from t2i.onnx_networks import OnnxNetworks
from t2i.request import GenerationRequest
from tests.conftest import SHAPES_MODEL


@pytest.fixture(scope="module")
def pipeline(shapes_repository: Path) -> DenoisingPipeline:
    return DenoisingPipeline.from_version_dir(
        contract.version_dir(shapes_repository, "pipeline"), OnnxNetworks(shapes_repository)
    )


def test_weights_are_small_enough_to_commit() -> None:
    total = sum(p.stat().st_size for p in SHAPES_MODEL.rglob("*.safetensors"))
    assert 1_000_000 < total < 20 * 1024 * 1024


def test_served_defaults_come_from_the_checkpoint(pipeline: DenoisingPipeline) -> None:
    metadata = pipeline.metadata
    assert (metadata.name, metadata.native_width, metadata.native_height) == ("shapes", 128, 128)
    assert (metadata.default_steps, metadata.default_guidance_scale) == (20, 5.0)
    assert not metadata.random_weights


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a red circle on a blue background", ("red", "circle", "blue")),
        ("a yellow star on a black background", ("yellow", "star", "black")),
        ("a white square on a green background", ("white", "square", "green")),
        ("a large purple triangle on a orange background", ("purple", "triangle", "orange")),
    ],
)
def test_draws_what_the_prompt_asks(pipeline: DenoisingPipeline, prompt: str, expected: tuple) -> None:
    images = pipeline(GenerationRequest(prompt, seed=0, num_images=2))
    for image in images:
        reading = read_image(image)
        assert (reading.colour, reading.shape, reading.background) == expected, prompt
