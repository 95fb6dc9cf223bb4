"""The `shapes` model: Stable Diffusion's three networks, scaled down to train on two CPU cores in an hour.

Same classes and wiring as SD 1.x (CLIP text encoder with the full CLIP vocabulary, UNet2DConditionModel with
cross-attention, AutoencoderKL with 4 latent channels and 8x downsampling), so it exports and serves through
exactly the path a real checkpoint takes. Native size 128x128 (16x16 latents).
"""

from __future__ import annotations

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


def build_unet() -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=NATIVE_SIZE // 8,
        block_out_channels=(64, 96, 96),
        layers_per_block=1,
        # Attention at 8x8 and 4x4 only: at 16x16 it cost a fifth of the step time and added little.
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_HIDDEN_SIZE,
        attention_head_dim=4,  # diffusers reads this as the number of heads
        norm_num_groups=32,
    )


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
