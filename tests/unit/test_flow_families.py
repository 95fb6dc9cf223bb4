"""The flow-matching families (Flux schnell and dev, SD3) over plain onnxruntime sessions of exported tiny
random folders, checked against diffusers' own FluxPipeline / StableDiffusion3Pipeline loaded from those
same folders (image i uses seed s + i from its own CPU generator, as everywhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import FluxPipeline, StableDiffusion3Pipeline

from export.components import load_checkpoint
from export.flow_presets import tiny_sd3_pipeline
from export.repository import ExportOptions, fingerprint, write_model_repository
from t2i import contract
from t2i.denoise import DenoisingPipeline, StepEvent
from t2i.onnx_networks import local_pipeline
from t2i.request import GenerationRequest, InvalidRequest

PROMPT = "a red circle on a blue background"
PATCH_SIZE_SD3 = 1  # export.flow_presets.tiny_sd3_pipeline's transformer
# fixture of the folder, of its exported repository, diffusers' pipeline class
FOLDERS = {
    "flux-schnell": ("tiny_flux_folder", "tiny_flux_repository", FluxPipeline),
    "flux-dev": ("tiny_flux_dev_folder", "tiny_flux_dev_repository", FluxPipeline),
    "sd3": ("tiny_sd3_folder", "tiny_sd3_repository", StableDiffusion3Pipeline),
}


def served(request: pytest.FixtureRequest, kind: str) -> tuple[DenoisingPipeline, Any]:
    folder_fixture, repository_fixture, pipeline_class = FOLDERS[kind]
    reference = pipeline_class.from_pretrained(request.getfixturevalue(folder_fixture))
    reference.set_progress_bar_config(disable=True)
    return local_pipeline(request.getfixturevalue(repository_fixture)), reference


def diffusers_images(reference: Any, metadata: contract.ModelMetadata, **settings: Any) -> np.ndarray:
    seed, count = settings.pop("seed"), settings.pop("num_images")
    return reference(
        PROMPT,
        num_images_per_prompt=count,
        generator=[torch.Generator().manual_seed(seed + i) for i in range(count)],
        output_type="np",
        max_sequence_length=metadata.t5_max_length,
        **settings,
    ).images


def ours(pipeline: DenoisingPipeline, **settings: Any) -> np.ndarray:
    return pipeline(
        GenerationRequest(
            prompt=PROMPT,
            negative_prompt=settings.get("negative_prompt") or "",
            width=settings["width"],
            height=settings["height"],
            steps=settings["num_inference_steps"],
            guidance_scale=settings["guidance_scale"],
            seed=settings["seed"],
            num_images=settings["num_images"],
        )
    )


@pytest.mark.parametrize(
    ("kind", "guidance", "negative"),
    [
        ("flux-schnell", 0.0, None),
        ("flux-dev", 3.5, None),
        ("flux-dev", 6.0, None),
        ("sd3", 6.0, "blurry, green"),
        ("sd3", 6.0, None),
        ("sd3", 1.0, None),
    ],
    ids=["schnell", "dev-3.5", "dev-6", "sd3-negative", "sd3-empty-negative", "sd3-no-guidance"],
)
def test_matches_diffusers(
    request: pytest.FixtureRequest, kind: str, guidance: float, negative: str | None
) -> None:
    pipeline, reference = served(request, kind)
    settings: dict[str, Any] = {
        "width": 96,
        "height": 64,
        "num_inference_steps": 3,
        "guidance_scale": guidance,
    }
    settings |= {"seed": 7, "num_images": 2}
    if kind == "sd3":
        settings["negative_prompt"] = negative
    expected = diffusers_images(reference, pipeline.metadata, **dict(settings))
    images = ours(pipeline, **settings)
    assert images.shape == (2, 64, 96, 3) and images.dtype == np.uint8
    assert expected.std() > 0.05  # a real picture to compare, not a flat one
    assert np.abs(images / 255.0 - expected).max() < 2 / 255


def test_an_sd3_folder_without_t5_gets_zeros_as_diffusers_does(tmp_path: Path) -> None:
    folder = tmp_path / "tiny-sd3-no-t5"
    tiny_sd3_pipeline(with_t5=False, seed=4).save_pretrained(folder)
    options = ExportOptions()
    repository = tmp_path / "repository"
    write_model_repository(
        load_checkpoint(folder), repository, options, fingerprint({"model": "no-t5"}, options)
    )
    pipeline = local_pipeline(repository)
    assert pipeline.metadata.t5_hidden_size == 0
    assert contract.SD3_T5_ENCODER.name not in {spec.name for spec in pipeline.metadata.networks}
    reference = StableDiffusion3Pipeline.from_pretrained(folder, text_encoder_3=None, tokenizer_3=None)
    reference.set_progress_bar_config(disable=True)
    settings: dict[str, Any] = {"width": 64, "height": 64, "num_inference_steps": 3, "guidance_scale": 5.0}
    settings |= {"seed": 2, "num_images": 1}
    expected = diffusers_images(reference, pipeline.metadata, **dict(settings))
    assert np.abs(ours(pipeline, **settings) / 255.0 - expected).max() < 2 / 255


@pytest.mark.parametrize(
    ("kind", "defaults"),
    [
        ("flux-schnell", (4, 0.0, 256, False)),
        ("flux-dev", (28, 3.5, 512, True)),
        ("sd3", (28, 7.0, 256, False)),
    ],
)
def test_defaults_and_schedulers_per_checkpoint_kind(
    request: pytest.FixtureRequest, kind: str, defaults: tuple[int, float, int, bool]
) -> None:
    metadata = local_pipeline(request.getfixturevalue(FOLDERS[kind][1])).metadata
    assert metadata.family == kind.split("-")[0]
    assert (metadata.default_steps, metadata.default_guidance_scale) == defaults[:2]
    assert (metadata.t5_max_length, metadata.guidance_embeds) == defaults[2:]
    assert metadata.schedulers == contract.FLOW_SCHEDULERS == (metadata.default_scheduler,)
    # Flux: the VAE's 8 times the 2x2 packing.
    assert metadata.size_multiple == (16 if metadata.family == "flux" else 8 * PATCH_SIZE_SD3)


def test_an_epsilon_scheduler_on_a_flow_model_names_the_accepted_ones(request: pytest.FixtureRequest) -> None:
    pipeline, _ = served(request, "flux-schnell")
    with pytest.raises(InvalidRequest) as raised:
        pipeline(GenerationRequest(prompt=PROMPT, width=64, height=64, steps=2, scheduler="euler_a"))
    assert raised.value.param == "scheduler"
    assert "flow_euler" in raised.value.message and "euler_a" in raised.value.message


def test_a_batch_gives_each_request_its_own_pixels(request: pytest.FixtureRequest) -> None:
    """Flux dev's guidance is a per-row input: requests with different guidance share one call."""
    pipeline, _ = served(request, "flux-dev")
    common = {"width": 64, "height": 64, "steps": 2}
    requests = [
        GenerationRequest(prompt="a red circle", seed=1, num_images=2, guidance_scale=3.5, **common),
        GenerationRequest(prompt="a blue square", seed=9, guidance_scale=5.0, **common),
    ]
    batched = pipeline.generate_batch(requests)
    for request_, images in zip(requests, batched, strict=True):
        assert np.array_equal(images, pipeline(request_))


def test_image_to_image_inpainting_and_previews(request: pytest.FixtureRequest) -> None:
    """Image-to-image starts part-way down the flow; inpainting blends the kept region back each step;
    previews see the flow's clean estimate (x_t - sigma v), a latent of the latents' shape."""
    pipeline, _ = served(request, "flux-schnell")
    init = np.zeros((64, 64, 3), dtype=np.uint8)
    init[:, :32] = (220, 30, 30)
    base = {"prompt": PROMPT, "width": 64, "height": 64, "steps": 4, "seed": 3}
    plain = pipeline(GenerationRequest(**base))
    weak = pipeline(GenerationRequest(**base, init_image=init, strength=0.25))
    strong = pipeline(GenerationRequest(**base, init_image=init, strength=1.0))
    assert not np.array_equal(weak, plain) and not np.array_equal(weak, strong)
    # Closer to the init image the weaker the strength.
    assert np.abs(weak / 255.0 - init / 255.0).mean() < np.abs(strong / 255.0 - init / 255.0).mean()

    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[:, 32:] = 255  # repaint the right half, keep the red left half
    edit = GenerationRequest(**base, init_image=init, mask=mask, strength=1.0)
    events: list[StepEvent] = []
    pipeline.generate_batch([edit], on_step=events.append)
    assert len(events) == 4
    # After the last step the kept latent columns are the init image's own latents (the frontend then
    # composites the kept pixels at full resolution); the repainted ones are not.
    generator = torch.Generator().manual_seed(3)
    torch.randn((1, 4, 8, 8), generator=generator)  # the loop draws the image's noise first
    image_latents = pipeline.sample_latents(
        pipeline.image_pixels(edit.with_defaults(pipeline.metadata)), [generator]
    )
    final = events[-1].latents[0]
    assert torch.allclose(final[..., :4], image_latents[..., :4], atol=1e-5)
    assert not torch.allclose(final[..., 4:], image_latents[..., 4:], atol=1e-2)
    assert events[-1].denoised[0].shape == final.shape == (1, 4, 8, 8)
    assert not torch.equal(events[0].denoised[0], events[0].latents[0])
