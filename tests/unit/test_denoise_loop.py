"""The denoising loop over plain onnxruntime sessions of the exported tiny model, checked against the
diffusers PyTorch pipeline on the same weights."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from export.presets import build_preset
from t2i import contract
from t2i.denoise import DenoisingPipeline, GenerationCancelled, StepEvent
from t2i.onnx_networks import OnnxNetworks, local_pipeline
from t2i.request import GenerationRequest, InvalidRequest


@pytest.fixture(scope="module")
def pipeline(tiny_repository: Path) -> DenoisingPipeline:
    return local_pipeline(tiny_repository)


def generate(pipeline: DenoisingPipeline, **fields) -> np.ndarray:
    fields = {"prompt": "a red circle on a blue background", "steps": 4, "width": 64, "height": 64} | fields
    return pipeline(GenerationRequest(**fields))


def test_matches_diffusers_pytorch_pipeline(pipeline: DenoisingPipeline) -> None:
    reference = build_preset("tiny").diffusers_pipeline()
    seed, prompt, negative = 7, "a red circle on a blue background", "blurry"
    expected = reference(
        prompt,
        negative_prompt=negative,
        height=64,
        width=96,
        num_inference_steps=5,
        guidance_scale=7.5,
        num_images_per_prompt=2,
        generator=[torch.Generator().manual_seed(seed + i) for i in range(2)],
        output_type="np",
    ).images
    ours = generate(
        pipeline, negative_prompt=negative, width=96, steps=5, guidance_scale=7.5, seed=seed, num_images=2
    )
    assert ours.shape == (2, 64, 96, 3) and ours.dtype == np.uint8
    assert np.abs(ours / 255.0 - expected).max() < 2 / 255


def test_same_seed_same_pixels_other_seed_other_pixels(pipeline: DenoisingPipeline) -> None:
    first, again, other = (generate(pipeline, seed=s) for s in (1, 1, 2))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_image_i_of_a_batch_is_seed_plus_i(pipeline: DenoisingPipeline) -> None:
    batch = generate(pipeline, seed=10, num_images=2)
    alone = generate(pipeline, seed=11)
    assert not np.array_equal(batch[0], batch[1])
    # Same seed alone; only onnxruntime's batch-size-dependent rounding may differ.
    assert np.abs(batch[1].astype(int) - alone[0].astype(int)).max() <= 2


def test_guidance_and_negative_prompt_change_the_image(pipeline: DenoisingPipeline) -> None:
    base = generate(pipeline, seed=3, guidance_scale=7.5)
    assert not np.array_equal(base, generate(pipeline, seed=3, guidance_scale=1.0))
    assert not np.array_equal(base, generate(pipeline, seed=3, guidance_scale=7.5, negative_prompt="green"))


@pytest.mark.parametrize("scheduler", contract.DIFFUSION_SCHEDULERS)
def test_every_scheduler_runs(pipeline: DenoisingPipeline, scheduler: str) -> None:
    images = generate(pipeline, scheduler=scheduler, steps=3, seed=5)
    assert images.shape == (1, 64, 64, 3)
    assert images.std() > 0


def test_a_flow_scheduler_on_a_unet_names_the_accepted_ones(pipeline: DenoisingPipeline) -> None:
    with pytest.raises(InvalidRequest) as raised:
        generate(pipeline, scheduler="flow_euler", steps=3)
    assert raised.value.param == "scheduler"
    assert raised.value.message.startswith(
        f"scheduler must be one of {', '.join(contract.DIFFUSION_SCHEDULERS)}"
    )


def test_image_to_image_follows_strength(pipeline: DenoisingPipeline) -> None:
    init = np.zeros((80, 48, 3), dtype=np.uint8)
    init[:, :24] = (255, 0, 0)
    weak = generate(pipeline, seed=4, init_image=init, strength=0.25, steps=8)
    strong = generate(pipeline, seed=4, init_image=init, strength=1.0, steps=8)
    plain = generate(pipeline, seed=4, steps=8)
    assert weak.shape == (1, 64, 64, 3)
    assert not np.array_equal(weak, plain)
    assert not np.array_equal(weak, strong)


def test_defaults_come_from_metadata(pipeline: DenoisingPipeline) -> None:
    request = GenerationRequest(prompt="x").with_defaults(pipeline.metadata)
    assert (request.width, request.height) == (256, 256)
    assert request.steps == pipeline.metadata.default_steps
    assert request.guidance_scale == pipeline.metadata.default_guidance_scale
    assert request.scheduler == "euler"


def test_bad_request_names_the_field(pipeline: DenoisingPipeline) -> None:
    with pytest.raises(InvalidRequest) as error:
        generate(pipeline, width=100)
    assert error.value.param == "width"
    assert "multiple of 16" in error.value.message


def test_a_batch_of_requests_gives_each_its_own_pixels(pipeline: DenoisingPipeline) -> None:
    common = {"width": 64, "height": 64, "steps": 4, "scheduler": "euler_a"}
    requests = [
        GenerationRequest(prompt="a red circle", seed=1, num_images=2, guidance_scale=7.5, **common),
        GenerationRequest(
            prompt="a blue square", negative_prompt="green", seed=9, guidance_scale=3.0, **common
        ),
        GenerationRequest(prompt="a star", seed=4, guidance_scale=1.0, **common),  # no guidance half
    ]
    batched = pipeline.generate_batch(requests)
    assert [b.shape[0] for b in batched] == [2, 1, 1]
    for request, images in zip(requests, batched, strict=True):
        assert np.array_equal(images, pipeline(request))


def test_requests_of_different_shapes_do_not_batch(pipeline: DenoisingPipeline) -> None:
    requests = [
        GenerationRequest(prompt="x", width=64, height=64),
        GenerationRequest(prompt="x", width=96, height=64),
    ]
    with pytest.raises(ValueError, match="share size"):
        pipeline.generate_batch(requests)


def test_cancellation_stops_the_loop(pipeline: DenoisingPipeline) -> None:
    seen: list[int] = []

    def on_step(event: StepEvent) -> None:
        seen.append(event.index)
        if event.index == 2:
            raise GenerationCancelled()

    with pytest.raises(GenerationCancelled):
        pipeline.generate_batch([GenerationRequest(prompt="x", width=64, height=64, steps=20)], on_step)
    assert seen == [0, 1, 2]  # stopped after the third step, not after twenty


def test_step_hook_sees_every_step_and_may_replace_latents(pipeline: DenoisingPipeline) -> None:
    """The seam previews and inpainting use: per-request latents after each step, replaceable."""
    requests = [
        GenerationRequest(prompt="a", width=64, height=64, steps=4, seed=1, num_images=2),
        GenerationRequest(prompt="b", width=64, height=64, steps=4, seed=2),
    ]
    events: list[tuple[int, int, list[tuple[int, ...]]]] = []

    def record(event: StepEvent) -> None:
        events.append((event.index, event.total, [tuple(t.shape) for t in event.latents]))
        assert [r.prompt for r in event.requests] == ["a", "b"]

    plain = pipeline.generate_batch(requests, record)
    assert [e[0] for e in events] == [0, 1, 2, 3] and {e[1] for e in events} == {4}
    assert events[0][2] == [(2, 4, 8, 8), (1, 4, 8, 8)]

    def zero_second_request(event: StepEvent) -> None:
        event.latents[1] = torch.zeros_like(event.latents[1])

    steered = pipeline.generate_batch(requests, zero_second_request)
    assert np.array_equal(steered[0], plain[0])  # the other request is untouched
    assert not np.array_equal(steered[1], plain[1])
    # Replaced after the last step too: what is decoded is exactly the hook's latents.
    assert np.array_equal(steered[1], pipeline.decode_latents(torch.zeros(1, 4, 8, 8)))


def test_network_calls_are_split_at_the_published_batch_limit(tiny_repository: Path) -> None:
    """A backend that takes at most N rows per call (a TensorRT profile) gets several calls, same pixels."""
    networks = OnnxNetworks(tiny_repository)
    calls: list[tuple[str, int]] = []
    run = networks.run

    def counting_run(spec, inputs, loras=()):  # type: ignore[no-untyped-def]
        calls.append((spec.name, len(next(iter(inputs.values())))))
        return run(spec, inputs, loras)

    networks.run = counting_run  # type: ignore[method-assign]
    unlimited = local_pipeline(tiny_repository, networks=networks)
    limited = DenoisingPipeline(
        networks,
        unlimited.family.tokenizers,
        unlimited.scheduler_config,
        dataclasses.replace(unlimited.metadata, network_max_batch={"unet": 2, "vae_decoder": 1}),
    )
    request = GenerationRequest(prompt="x", width=64, height=64, steps=2, seed=3, num_images=3)
    expected = unlimited(request)
    calls.clear()
    images = limited(request)
    assert [c for c in calls if c[0] == "unet"] == [("unet", 2)] * 6  # 6 rows (3 guided images) per step
    assert [c for c in calls if c[0] == "vae_decoder"] == [("vae_decoder", 1)] * 3
    assert np.abs(images.astype(int) - expected.astype(int)).max() <= 2  # batch-size rounding only


def test_inpainting_repaints_only_the_masked_region(pipeline: DenoisingPipeline) -> None:
    """A standard UNet inpaints by blending the kept region back after every step (the step hook): the
    final latents of kept cells are the init image's, whatever the prompt; masked cells follow it."""
    init = np.zeros((64, 64, 3), dtype=np.uint8)
    init[:, :32] = (255, 0, 0)
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[:, 32:] = 255  # repaint the right half
    finals: list[torch.Tensor] = []

    def keep_final(event: StepEvent) -> None:
        if event.index == event.total - 1:
            finals.append(event.latents[0].clone())

    for prompt in ("a red circle", "a green star"):
        request = GenerationRequest(
            prompt=prompt, width=64, height=64, steps=6, seed=8, init_image=init, mask=mask, strength=1.0
        )
        pipeline.generate_batch([request], keep_final)
    kept, repainted = (slice(0, 4), slice(4, 8))  # latent columns: 8 cells of 8 pixels
    assert torch.equal(finals[0][..., kept], finals[1][..., kept])
    assert not torch.allclose(finals[0][..., repainted], finals[1][..., repainted])


def test_a_mask_needs_an_image_of_its_size(pipeline: DenoisingPipeline) -> None:
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    for fields in (
        {"mask": np.zeros((64, 64), np.uint8)},
        {"init_image": image, "mask": np.zeros((32, 64), np.uint8)},
    ):
        with pytest.raises(InvalidRequest) as error:
            generate(pipeline, **fields)
        assert error.value.param == "mask"
