"""The SDXL family over plain onnxruntime sessions of an exported SDXL folder, checked against diffusers'
own StableDiffusionXLPipeline loaded from that same folder (same seed convention: image i uses seed s + i
from its own CPU generator)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import (
    EulerAncestralDiscreteScheduler,
    LCMScheduler,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)

from export.components import family_defaults, load_checkpoint
from export.presets import build_preset
from export.repository import ExportOptions, fingerprint, write_model_repository
from t2i.denoise import DenoisingPipeline
from t2i.onnx_networks import local_pipeline
from t2i.request import GenerationRequest

PROMPT = "a red circle on a blue background"
# SDXL-Turbo's scheduler: Euler ancestral over trailing timesteps.
TURBO_SCHEDULER = {"_class_name": "EulerAncestralDiscreteScheduler", "timestep_spacing": "trailing"}


@pytest.fixture(scope="module")
def pipeline(tiny_sdxl_repository: Path) -> DenoisingPipeline:
    return local_pipeline(tiny_sdxl_repository)


@pytest.fixture(scope="module")
def reference(tiny_sdxl_folder: Path) -> Any:
    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_sdxl_folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def diffusers_images(pipe: Any, negative: str | None, **kwargs: Any) -> np.ndarray:
    seed, count = kwargs.pop("seed"), kwargs.pop("num_images")
    return pipe(
        PROMPT,
        negative_prompt=negative,
        num_images_per_prompt=count,
        generator=[torch.Generator().manual_seed(seed + i) for i in range(count)],
        output_type="np",
        **kwargs,
    ).images


def ours(
    pipeline: DenoisingPipeline, negative: str | None, scheduler: str = "euler", **kwargs: Any
) -> np.ndarray:
    return pipeline(
        GenerationRequest(
            prompt=PROMPT,
            negative_prompt=negative or "",
            width=kwargs["width"],
            height=kwargs["height"],
            steps=kwargs["num_inference_steps"],
            guidance_scale=kwargs["guidance_scale"],
            seed=kwargs["seed"],
            num_images=kwargs["num_images"],
            scheduler=scheduler,
        )
    )


@pytest.mark.parametrize(
    ("negative", "guidance"),
    [("blurry, green", 6.0), (None, 6.0), (None, 1.0)],
    ids=["negative-prompt", "no-negative-prompt-zeros", "no-guidance"],
)
def test_matches_diffusers_sdxl_pipeline(
    pipeline: DenoisingPipeline, reference: Any, negative: str | None, guidance: float
) -> None:
    settings = {"width": 96, "height": 64, "num_inference_steps": 5, "guidance_scale": guidance}
    settings |= {"seed": 7, "num_images": 2}
    expected = diffusers_images(reference, negative, **settings)
    images = ours(pipeline, negative, **settings)
    assert images.shape == (2, 64, 96, 3) and images.dtype == np.uint8
    assert expected.std() > 0.05  # a real picture to compare, not a flat one
    assert np.abs(images / 255.0 - expected).max() < 2 / 255


def test_an_empty_negative_prompt_follows_the_checkpoints_force_zeros(
    pipeline: DenoisingPipeline, reference: Any
) -> None:
    """force_zeros_for_empty_prompt=False (model_index.json) encodes "" instead: both sides follow it."""
    settings = {"width": 64, "height": 64, "num_inference_steps": 4, "guidance_scale": 6.0}
    settings |= {"seed": 3, "num_images": 1}
    encoded_empty = DenoisingPipeline(
        pipeline.networks,
        pipeline.family.tokenizers,
        pipeline.scheduler_config,
        dataclasses.replace(pipeline.metadata, zero_empty_negative_prompt=False),
    )
    reference.register_to_config(force_zeros_for_empty_prompt=False)
    try:
        expected = diffusers_images(reference, None, **settings)
    finally:
        reference.register_to_config(force_zeros_for_empty_prompt=True)
    images = ours(encoded_empty, None, **settings)
    assert np.abs(images / 255.0 - expected).max() < 2 / 255
    assert not np.array_equal(images, ours(pipeline, None, **settings))


def test_turbo_scheduler_one_step_without_guidance(pipeline: DenoisingPipeline, reference: Any) -> None:
    """SDXL-Turbo is this family with Euler ancestral over trailing timesteps, one step, guidance 0."""
    turbo_config = {**pipeline.scheduler_config, **TURBO_SCHEDULER}
    turbo = DenoisingPipeline(pipeline.networks, pipeline.family.tokenizers, turbo_config, pipeline.metadata)
    reference_scheduler = reference.scheduler
    reference.scheduler = EulerAncestralDiscreteScheduler.from_config(turbo_config)
    try:
        settings = {"width": 64, "height": 64, "num_inference_steps": 1, "guidance_scale": 0.0}
        expected = diffusers_images(reference, None, seed=11, num_images=2, **settings)
    finally:
        reference.scheduler = reference_scheduler
    images = ours(turbo, None, scheduler="euler_a", seed=11, num_images=2, **settings)
    assert np.abs(images / 255.0 - expected).max() < 2 / 255


def test_distilled_checkpoints_get_few_step_defaults() -> None:
    assert family_defaults("sdxl", TURBO_SCHEDULER) == {
        "default_steps": 1,
        "hd_steps": 4,
        "default_guidance_scale": 0.0,
        "default_scheduler": "euler_a",
    }
    lcm = family_defaults("sdxl", {"_class_name": "LCMScheduler"})
    assert (lcm["default_steps"], lcm["default_guidance_scale"], lcm["default_scheduler"]) == (4, 1.0, "lcm")
    base = family_defaults("sdxl", {"_class_name": "DPMSolverMultistepScheduler"})
    assert base == {"default_guidance_scale": 5.0, "default_scheduler": "dpmpp_2m"}


def test_a_batch_of_sdxl_requests_gives_each_its_own_pixels(pipeline: DenoisingPipeline) -> None:
    """Different sizes of conditioning per request (time ids, zeroed negatives) stay with their request."""
    common = {"width": 64, "height": 64, "steps": 3, "scheduler": "euler_a"}
    requests = [
        GenerationRequest(prompt="a red circle", seed=1, num_images=2, guidance_scale=6.0, **common),
        GenerationRequest(
            prompt="a blue square", negative_prompt="green", seed=9, guidance_scale=3.0, **common
        ),
        GenerationRequest(prompt="a star", seed=4, guidance_scale=0.0, **common),
    ]
    batched = pipeline.generate_batch(requests)
    for request, images in zip(requests, batched, strict=True):
        assert np.array_equal(images, pipeline(request))


def test_sdxl_image_to_image_follows_strength(pipeline: DenoisingPipeline) -> None:
    init = np.zeros((64, 64, 3), dtype=np.uint8)
    init[:, :32] = (255, 0, 0)
    base = {"prompt": PROMPT, "width": 64, "height": 64, "steps": 6, "seed": 2}
    weak = pipeline(GenerationRequest(**base, init_image=init, strength=0.3))
    strong = pipeline(GenerationRequest(**base, init_image=init, strength=1.0))
    plain = pipeline(GenerationRequest(**base))
    assert weak.shape == (1, 64, 64, 3)
    assert not np.array_equal(weak, plain) and not np.array_equal(weak, strong)


@pytest.fixture(scope="module")
def lcm_sdxl_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LCM-distilled SDXL as published: a UNet with a guidance embedding (time_cond_proj_dim) and the
    LCM scheduler, in a folder written by diffusers."""
    components = build_preset("tiny-sdxl", seed=4)
    components.unet = UNet2DConditionModel.from_config(components.unet.config, time_cond_proj_dim=32).eval()
    pipe = components.diffusers_pipeline()
    pipe.scheduler = LCMScheduler.from_config(components.scheduler_config)
    folder = tmp_path_factory.mktemp("checkpoints") / "tiny-lcm-sdxl"
    pipe.save_pretrained(folder)
    return folder


def test_lcm_distilled_sdxl_matches_diffusers(lcm_sdxl_folder: Path, tmp_path: Path) -> None:
    """The guidance scale goes in as the UNet's embedding, no unconditional half; LCM defaults."""
    components = load_checkpoint(lcm_sdxl_folder)
    options = ExportOptions()
    write_model_repository(components, tmp_path, options, fingerprint({"lcm": 1}, options))
    lcm = local_pipeline(tmp_path)
    assert lcm.metadata.time_cond_proj_dim == 32
    assert (lcm.metadata.default_steps, lcm.metadata.default_guidance_scale) == (4, 8.0)
    assert lcm.metadata.default_scheduler == "lcm"
    assert "timestep_cond" in [t.name for t in lcm.metadata.network("unet").inputs]

    reference = StableDiffusionXLPipeline.from_pretrained(lcm_sdxl_folder)
    reference.set_progress_bar_config(disable=True)
    settings = {"width": 64, "height": 64, "num_inference_steps": 4, "guidance_scale": 8.0}
    expected = diffusers_images(reference, None, seed=5, num_images=2, **settings)
    images = ours(lcm, None, scheduler="lcm", seed=5, num_images=2, **settings)
    assert np.abs(images / 255.0 - expected).max() < 2 / 255
    other_guidance = ours(
        lcm, None, scheduler="lcm", seed=5, num_images=2, **(settings | {"guidance_scale": 2.0})
    )
    assert not np.array_equal(images, other_guidance)
