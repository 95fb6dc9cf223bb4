"""A 9-channel inpainting UNet (StableDiffusionInpaintPipeline) exported from the folder a user brings and
run by the loop natively: the mask and the masked image's latents go in beside the latents. Checked
against diffusers' own inpainting pipeline on the same folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionInpaintPipeline, UNet2DConditionModel
from PIL import Image

from export.components import load_checkpoint
from export.presets import build_preset
from export.repository import ExportOptions, fingerprint, write_model_repository
from t2i.denoise import DenoisingPipeline
from t2i.onnx_networks import local_pipeline
from t2i.request import GenerationRequest

SIZE = 64


@pytest.fixture(scope="module")
def inpainting_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    components = build_preset("tiny", seed=6)
    unet = UNet2DConditionModel.from_config(components.unet.config, in_channels=9).eval()
    pipe = StableDiffusionInpaintPipeline(
        vae=components.vae,
        text_encoder=components.text_encoder,
        tokenizer=components.tokenizer,
        unet=unet,
        scheduler=components.diffusers_pipeline().scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    folder = tmp_path_factory.mktemp("checkpoints") / "tiny-inpainting"
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pipeline(inpainting_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> DenoisingPipeline:
    repository = tmp_path_factory.mktemp("inpainting_repository")
    options = ExportOptions()
    write_model_repository(
        load_checkpoint(inpainting_folder), repository, options, fingerprint({"i": 9}, options)
    )
    return local_pipeline(repository)


def picture_and_mask() -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    picture = np.stack([x * 4, y * 4, (x // 8 % 2) * 255], axis=-1).astype(np.uint8)
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    mask[16:48, 24:56] = 255  # repaint here
    return picture, mask


def test_the_unet_takes_nine_channels(pipeline: DenoisingPipeline) -> None:
    assert pipeline.metadata.inpainting_unet and pipeline.metadata.unet_in_channels == 9
    assert pipeline.metadata.latent_channels == 4
    sample = pipeline.metadata.network("unet").inputs[0]
    assert sample.resolved_dims(pipeline.metadata) == (-1, 9, -1, -1)


def test_matches_diffusers_inpainting_pipeline(pipeline: DenoisingPipeline, inpainting_folder: Path) -> None:
    picture, mask = picture_and_mask()
    reference = StableDiffusionInpaintPipeline.from_pretrained(inpainting_folder, safety_checker=None)
    reference.set_progress_bar_config(disable=True)
    expected = reference(
        "a red circle",
        image=Image.fromarray(picture),
        mask_image=Image.fromarray(mask),
        height=SIZE,
        width=SIZE,
        num_inference_steps=5,
        guidance_scale=6.0,
        strength=1.0,
        num_images_per_prompt=2,
        generator=[torch.Generator().manual_seed(9 + i) for i in range(2)],
        output_type="np",
    ).images
    images = pipeline(
        GenerationRequest(
            prompt="a red circle",
            width=SIZE,
            height=SIZE,
            steps=5,
            guidance_scale=6.0,
            seed=9,
            num_images=2,
            scheduler="euler",
            init_image=picture,
            mask=mask,
            strength=1.0,
        )
    )
    assert expected.std() > 0.05
    assert np.abs(images / 255.0 - expected).max() < 2 / 255


def test_text_to_image_on_an_inpainting_unet_paints_everything(pipeline: DenoisingPipeline) -> None:
    images = pipeline(GenerationRequest(prompt="a star", width=SIZE, height=SIZE, steps=3, seed=2))
    again = pipeline(GenerationRequest(prompt="a star", width=SIZE, height=SIZE, steps=3, seed=2))
    assert images.shape == (1, SIZE, SIZE, 3) and images.std() > 0
    assert np.array_equal(images, again)
