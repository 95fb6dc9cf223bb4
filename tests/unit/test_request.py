from __future__ import annotations

import numpy as np
import pytest

from t2i import contract
from t2i.contract import ModelMetadata
from t2i.pipeline_io import preview_steps, request_from_inputs, request_to_inputs
from t2i.request import GenerationRequest, InvalidRequest, check_request

METADATA = ModelMetadata("tiny", 256, 256, 16, 4, 8, 0.18215, 32, 77, 20, 40, 7.5)


def checked(**fields) -> None:
    check_request(GenerationRequest(**({"prompt": "a cat"} | fields)).with_defaults(METADATA), METADATA)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "  \n"}, "prompt"),
        ({"prompt": "x" * (contract.MAX_PROMPT_CHARS + 1)}, "prompt"),
        ({"negative_prompt": "x" * (contract.MAX_PROMPT_CHARS + 1)}, "negative_prompt"),
        ({"width": 100}, "width"),
        ({"height": 8}, "height"),
        ({"width": contract.MAX_SIDE + 16}, "width"),
        ({"steps": contract.MAX_STEPS + 1}, "steps"),
        ({"steps": -3}, "steps"),
        ({"guidance_scale": contract.MAX_GUIDANCE_SCALE + 1}, "guidance_scale"),
        ({"seed": -1}, "seed"),
        ({"num_images": contract.MAX_IMAGES + 1}, "num_images"),
        ({"num_images": 0}, "num_images"),
        ({"scheduler": "warp_drive"}, "scheduler"),
        ({"loras": (("style", 1.0),)}, "loras"),  # this model's backend applies none
        ({"init_image": np.zeros((4, 4), dtype=np.uint8)}, "init_image"),
        ({"init_image": np.zeros((4, 4, 3), dtype=np.float32)}, "init_image"),
        ({"init_image": np.zeros((4, 4, 3), dtype=np.uint8), "strength": 0.0}, "strength"),
        ({"init_image": np.zeros((4, 4, 3), dtype=np.uint8), "strength": 1.5}, "strength"),
    ],
)
def test_bad_field_is_named(fields: dict, param: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        checked(**fields)
    assert error.value.param == param
    assert param in error.value.message


def test_good_request_passes() -> None:
    checked(width=512, height=768, steps=30, guidance_scale=0.0, seed=2**32, num_images=8, scheduler="lcm")


def test_tensors_round_trip() -> None:
    request = GenerationRequest(
        prompt="ein Hund, 犬 🐕",
        negative_prompt="blur",
        width=512,
        height=320,
        steps=12,
        guidance_scale=5.5,
        seed=2**40,
        num_images=3,
        scheduler="ddim",
        init_image=np.full((5, 7, 3), 9, dtype=np.uint8),
        strength=0.25,  # exact in float32, the tensor type
        mask=np.tri(5, 7, dtype=np.uint8) * 255,
        loras=(("watercolor", 0.75), ("ink", -1.5)),
    )
    inputs = request_to_inputs(request)
    for spec in contract.PIPELINE.inputs:
        assert inputs[spec.name].dtype == contract.NUMPY_DTYPES[spec.dtype], spec.name
        # A leading batch dim of 1: the pipeline batches whole requests.
        assert inputs[spec.name].shape == (
            1,
            *(d if d != -1 else inputs[spec.name].shape[i + 1] for i, d in enumerate(spec.dims)),
        ), spec.name
    decoded = request_from_inputs(inputs.get)
    assert decoded.init_image is not None and np.array_equal(decoded.init_image, request.init_image)
    assert decoded.mask is not None and np.array_equal(decoded.mask, request.mask)
    decoded.init_image, decoded.mask = request.init_image, request.mask
    assert decoded == request


def test_text_to_image_sends_no_strength_or_image() -> None:
    inputs = request_to_inputs(GenerationRequest(prompt="x"))
    assert "init_image" not in inputs and "strength" not in inputs
    assert request_from_inputs(inputs.get).init_image is None


def test_decoding_rejects_missing_prompt_and_bad_values() -> None:
    with pytest.raises(InvalidRequest, match="prompt"):
        request_from_inputs({}.get)
    with pytest.raises(InvalidRequest) as error:
        request_from_inputs({"prompt": np.array([b"a", b"b"], dtype=object)}.get)
    assert error.value.param == "prompt"
    with pytest.raises(InvalidRequest) as error:
        request_from_inputs({"prompt": np.array([b"\xff\xfe"], dtype=object)}.get)
    assert "UTF-8" in error.value.message
    with pytest.raises(InvalidRequest) as error:
        request_from_inputs(
            {"prompt": np.array([[b"x"]], dtype=object), "init_image": np.zeros((2, 4, 4, 3), np.uint8)}.get
        )
    assert error.value.param == "init_image"


@pytest.mark.parametrize(
    ("total", "partials", "expected"),
    [(20, 0, []), (20, 1, [9]), (20, 3, [4, 9, 14]), (1, 3, [0, 0, 0]), (2, 2, [0, 0])],
)
def test_previews_are_spread_over_the_run(total: int, partials: int, expected: list[int]) -> None:
    """Exactly `partials` previews, never after the last step (that one is the final image)."""
    steps = preview_steps(total, partials)
    assert steps == expected and len(steps) == partials
    assert all(0 <= s < max(total - 1, 1) for s in steps)


def test_partial_images_are_bounded() -> None:
    with pytest.raises(InvalidRequest) as error:
        check_request(GenerationRequest("x", partial_images=4).with_defaults(METADATA), METADATA)
    assert error.value.param == "partial_images"
