from __future__ import annotations

import pytest

from export.tensorrt_profiles import profile_shapes
from t2i import contract
from t2i.contract import ModelMetadata

SD15 = ModelMetadata("sd15", 512, 512, 64, 4, 8, 0.18215, 768, 77, 30, 50, 7.5)


def test_unet_profile_covers_guidance_batches_and_sides() -> None:
    shapes = profile_shapes(contract.UNET, SD15)
    assert shapes["sample"].min == (2, 4, 32, 32)
    assert shapes["sample"].opt == (2, 4, 64, 64)
    assert shapes["sample"].max == (16, 4, 128, 128)
    assert shapes["timestep"].max == (16,)
    assert shapes["encoder_hidden_states"].opt == (2, 77, 768)


def test_vae_profiles_are_per_image() -> None:
    decoder = profile_shapes(contract.VAE_DECODER, SD15)["latent"]
    assert decoder.min == (1, 4, 32, 32) and decoder.max == (8, 4, 128, 128)
    encoder = profile_shapes(contract.VAE_ENCODER, SD15)["image"]
    assert (
        encoder.min == (1, 3, 256, 256)
        and encoder.opt == (1, 3, 512, 512)
        and encoder.max == (8, 3, 1024, 1024)
    )


def test_text_encoder_profile() -> None:
    ids = profile_shapes(contract.TEXT_ENCODER, SD15)["input_ids"]
    assert ids.min == (2, 77) and ids.max == (16, 77)


def test_every_range_is_ordered() -> None:
    for spec in contract.NETWORKS:
        for tensor_range in profile_shapes(spec, SD15).values():
            assert all(
                a <= b <= c
                for a, b, c in zip(tensor_range.min, tensor_range.opt, tensor_range.max, strict=True)
            )


def test_pipeline_has_no_engine() -> None:
    with pytest.raises(ValueError):
        profile_shapes(contract.PIPELINE, SD15)
