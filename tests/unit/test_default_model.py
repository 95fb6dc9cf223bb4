"""The committed default model (models/shapes), exported to ONNX and run by the same loop that the Triton
pipeline model runs: it draws what it is asked for. The full measurement is `make eval`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.image_reading import read_image, read_shapes
from t2i.denoise import DenoisingPipeline
from t2i.onnx_networks import local_pipeline
from t2i.request import GenerationRequest
from tests.conftest import SHAPES_MODEL
from training.train import TRAINING_LOG

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pipeline(shapes_repository: Path) -> DenoisingPipeline:
    return local_pipeline(shapes_repository)


def test_weights_are_small_enough_to_commit() -> None:
    total = sum(p.stat().st_size for p in SHAPES_MODEL.rglob("*.safetensors"))
    assert 1_000_000 < total < 20 * 1024 * 1024


def test_served_defaults_come_from_the_checkpoint(pipeline: DenoisingPipeline) -> None:
    metadata = pipeline.metadata
    assert (metadata.name, metadata.native_width, metadata.native_height) == ("shapes", 128, 128)
    assert (metadata.default_steps, metadata.default_guidance_scale) == (20, 5.0)
    assert not metadata.random_weights


def test_make_train_runs_the_commands_that_made_the_weights() -> None:
    log, made = json.loads((SHAPES_MODEL / TRAINING_LOG).read_text()), []
    while log:  # each stage's log nests the one it trained on from
        made.insert(0, log["command"].removeprefix("python "))
        log = log.get("init_log")
    target = (ROOT / "Makefile").read_text().split("\ntrain:")[1].split("\n\n")[0]
    recipe = [line.strip().removeprefix("$(PY) ") for line in target.splitlines() if "-m training" in line]
    assert recipe == made


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


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a red circle in the top left corner on a blue background", ("red", "in the top left corner")),
        ("a large yellow star at the bottom on a black background", ("yellow", "at the bottom")),
        ("a white triangle on the right on a green background", ("white", "on the right")),
    ],
)
def test_puts_the_shape_where_the_prompt_says(
    pipeline: DenoisingPipeline, prompt: str, expected: tuple
) -> None:
    for image in pipeline(GenerationRequest(prompt, seed=0, num_images=2)):
        reading = read_image(image)
        assert (reading.colour, reading.position) == expected, prompt


def test_draws_two_shapes_each_of_its_kind_in_its_place(pipeline: DenoisingPipeline) -> None:
    # Colours are not asserted: in pairs they still leak into each other (red next to blue comes out purple
    # for this seed); make eval measures how often both are right.
    prompt = "a red circle on the left and a blue square on the right on a white background"
    for image in pipeline(GenerationRequest(prompt, seed=0, num_images=2)):
        found = {r.position: r.shape for r in read_shapes(image, 2)}
        assert found == {"on the left": "circle", "on the right": "square"}, prompt
