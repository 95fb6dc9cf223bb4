"""The `shapes` model: Stable Diffusion's three networks, scaled down to train on two CPU cores in an hour.

Same classes and wiring as SD 1.x (CLIP text encoder with the full CLIP vocabulary, UNet2DConditionModel with
cross-attention, AutoencoderKL with 4 latent channels and 8x downsampling), so it exports and serves through
exactly the path a real checkpoint takes. Native size 128x128 (16x16 latents).
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from export.clip_vocab import VOCAB_SIZE
from export.presets import SD_SCHEDULER_CONFIG, SD_ZERO_SNR_SCHEDULER_CONFIG

NATIVE_SIZE = 128
TEXT_HIDDEN_SIZE = 64
# Noise schedules to train on (`--schedule`), saved as the checkpoint's scheduler. "sd": epsilon prediction on
# SD's own schedule, whose last step keeps a trace of a picture, so the noise decides where shapes go (v1).
# "zero-snr": v-prediction with the last step pure noise, so that the prompt decides the layout. The default
# model learns its shapes on "sd" first, then trains on into "zero-snr" (Makefile `train`): from scratch on
# "zero-snr" it hardly tells a square from a circle.
SCHEDULES = {"sd": SD_SCHEDULER_CONFIG, "zero-snr": SD_ZERO_SNR_SCHEDULER_CONFIG}


def build_text_encoder() -> CLIPTextModel:
    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=VOCAB_SIZE,  # the real CLIP vocabulary: any prompt tokenizes as it would in SD
            hidden_size=TEXT_HIDDEN_SIZE,
            intermediate_size=4 * TEXT_HIDDEN_SIZE,
            num_hidden_layers=3,
            num_attention_heads=4,
            max_position_embeddings=77,
            hidden_act="quick_gelu",
            projection_dim=TEXT_HIDDEN_SIZE,
            bos_token_id=49406,
            eos_token_id=49407,
        )
    )


def block_types(attention_at_16: bool) -> dict[str, tuple[str, ...]]:
    """Cross-attention at 8x8 and 4x4; at the 16x16 latents too if asked, where a shape's outline is drawn.
    The default model goes without: there it made a training step 1.7x and generation 2x as slow on 2 CPU
    cores, and trained on into the default model it did not help (README, "The default model")."""
    first = "CrossAttnDownBlock2D" if attention_at_16 else "DownBlock2D"
    last = "CrossAttnUpBlock2D" if attention_at_16 else "UpBlock2D"
    return {
        "down_block_types": (first, "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", last),
    }


def build_unet(attention_at_16: bool = False) -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=NATIVE_SIZE // 8,
        block_out_channels=(64, 96, 96),
        layers_per_block=1,
        **block_types(attention_at_16),
        cross_attention_dim=TEXT_HIDDEN_SIZE,
        attention_head_dim=4,  # diffusers reads this as the number of heads
        norm_num_groups=32,
    )


def with_attention_at_16(unet: UNet2DConditionModel) -> UNet2DConditionModel:
    """`unet` with cross-attention added at 16x16, computing exactly what `unet` computes: the new
    transformers' output projections start at zero (as ControlNet's do), so they add nothing until trained.
    A UNet that already has it comes back as it is."""
    if unet.config.down_block_types[0] == "CrossAttnDownBlock2D":
        return unet
    grown = UNet2DConditionModel.from_config({**unet.config, **block_types(True)})
    missing, unexpected = grown.load_state_dict(unet.state_dict(), strict=False)
    new = ("down_blocks.0.attentions.", "up_blocks.2.attentions.")
    assert not unexpected and all(k.startswith(new) for k in missing), (missing, unexpected)
    for block in (grown.down_blocks[0], grown.up_blocks[-1]):
        for transformer in block.attentions:
            torch.nn.init.zeros_(transformer.proj_out.weight)
            torch.nn.init.zeros_(transformer.proj_out.bias)
    return grown


def build_vae() -> AutoencoderKL:
    # Flat colours need few channels, but four blocks keep SD's 8x downsampling.
    return AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(16, 32, 64, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=NATIVE_SIZE,
    )
