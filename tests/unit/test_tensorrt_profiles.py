"""TensorRT profiles come from the contract and the metadata the export publishes, never from constants of
their own: what an engine takes is exactly what the pipeline and the frontend let through."""

from __future__ import annotations

import dataclasses

import pytest

from export.tensorrt_profiles import TENSORRT_MAX_SIDE, profile_shapes, tensorrt_metadata
from t2i import contract
from t2i.contract import ModelMetadata
from t2i.request import GenerationRequest, InvalidRequest, check_request

SD15 = tensorrt_metadata(ModelMetadata("sd15", 512, 512, 64, 4, 8, 0.18215, 768, 77, 30, 50, 7.5))
# The default model: 128-pixel native, sizes in multiples of 32 (16x16 latents at native size).
SHAPES = tensorrt_metadata(ModelMetadata("shapes", 128, 128, 32, 4, 8, 0.18215, 64, 77, 20, 40, 5.0))
SDXL = tensorrt_metadata(
    ModelMetadata(
        "sdxl", 1024, 1024, 32, 4, 8, 0.13025, 2048, 77, 30, 50, 5.0, family="sdxl",
        text_encoder_hidden_size=768, text_encoder_2_hidden_size=1280, pooled_text_size=1280,
    )
)  # fmt: skip


def test_unet_profile_covers_unguided_to_full_batches_and_the_published_sides() -> None:
    shapes = profile_shapes(contract.UNET, SD15)
    assert shapes["sample"].min == (1, 4, 8, 8)  # one image without guidance, the smallest side (64)
    assert shapes["sample"].opt == (2, 4, 64, 64)  # one guided image at native size
    assert shapes["sample"].max == (16, 4, 128, 128)
    assert shapes["timestep"].max == (16,)
    assert shapes["encoder_hidden_states"].opt == (2, 77, 768)


def test_the_smallest_side_is_the_models_not_a_constant() -> None:
    """`shapes` is native at 16x16 latents: its profile must reach below that, down to 4x4 (32 px)."""
    sample = profile_shapes(contract.UNET, SHAPES)["sample"]
    assert sample.min[2:] == (4, 4) and sample.opt[2:] == (16, 16)


def test_published_limits_match_the_profiles_and_the_checks() -> None:
    assert SD15.max_side == TENSORRT_MAX_SIDE < contract.MAX_SIDE
    assert profile_shapes(contract.VAE_ENCODER, SD15)["image"].max[2:] == (SD15.max_side, SD15.max_side)
    with pytest.raises(InvalidRequest) as error:
        check_request(GenerationRequest("x", width=1088, height=512).with_defaults(SD15), SD15)
    assert error.value.param == "width" and "1024" in error.value.message
    check_request(GenerationRequest("x", width=1024, height=512).with_defaults(SD15), SD15)


def test_vae_profiles_are_per_image() -> None:
    decoder = profile_shapes(contract.VAE_DECODER, SD15)["latent"]
    assert decoder.min == (1, 4, 8, 8) and decoder.max == (8, 4, 128, 128)
    assert SD15.network_max_batch["vae_decoder"] == contract.MAX_IMAGES


def test_sdxl_unet_profile_has_its_added_conditions() -> None:
    shapes = profile_shapes(contract.SDXL_UNET, SDXL)
    assert shapes["text_embeds"].opt == (2, 1280)
    assert shapes["time_ids"].max == (16, contract.SDXL_TIME_IDS)
    assert shapes["encoder_hidden_states"].opt == (2, 77, 2048)
    assert profile_shapes(contract.SDXL_TEXT_ENCODER_2, SDXL)["input_ids"].opt == (2, 77)


def test_every_range_is_ordered() -> None:
    for metadata in (SD15, SHAPES, SDXL):
        for spec in metadata.networks:
            for tensor_range in profile_shapes(spec, metadata).values():
                assert all(
                    a <= b <= c
                    for a, b, c in zip(tensor_range.min, tensor_range.opt, tensor_range.max, strict=True)
                )


def test_only_the_models_networks_have_profiles() -> None:
    with pytest.raises(ValueError):
        profile_shapes(contract.PIPELINE, SD15)
    with pytest.raises(ValueError):
        profile_shapes(contract.SDXL_TEXT_ENCODER_2, SD15)
    with pytest.raises(ValueError, match="no batch limit"):
        profile_shapes(contract.UNET, dataclasses.replace(SD15, network_max_batch={}))


@pytest.mark.parametrize("preset", ["tiny-flux-dev", "tiny-sd3"])
def test_flow_transformer_profiles_follow_the_published_limits(preset: str) -> None:
    """Image tokens (Flux: one per 2x2 latent cell) and the fixed T5 sequence come from the metadata."""
    from export.presets import build_preset

    meta = tensorrt_metadata(build_preset(preset).metadata())
    ranges = profile_shapes(meta.denoiser, meta)
    largest_latent = TENSORRT_MAX_SIDE // meta.vae_scale_factor
    if meta.family == "flux":
        tokens = (largest_latent // 2) ** 2
        assert ranges["hidden_states"].max == (meta.network_max_batch["transformer"], tokens, 16)
        assert ranges["img_ids"].max == (tokens, 3)
        assert ranges["encoder_hidden_states"].min[1] == ranges["encoder_hidden_states"].max[1] == 512
        assert ranges["guidance"].max == (meta.network_max_batch["transformer"],)
    else:
        assert ranges["hidden_states"].max[2:] == (largest_latent, largest_latent)
        assert ranges["encoder_hidden_states"].max[1] == 77 + meta.t5_max_length
