"""Tiny random Flux and SD3 pipelines, built from diffusers' and transformers' own classes (diffusers' test
shapes), with the real CLIP tokenizer and an offline T5 one: the folders tests export and compare with
diffusers, and the `tiny-flux` / `tiny-sd3` presets. The VAEs downsample by 8 as the releases' do, and the
schedulers carry the releases' flow-matching configs, so sizing and shifting follow the real checkpoints."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    FlowMatchEulerDiscreteScheduler,
    FluxPipeline,
    FluxTransformer2DModel,
    SD3Transformer2DModel,
    StableDiffusion3Pipeline,
)
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer, T5Config, T5EncoderModel

from export.clip_vocab import build_clip_tokenizer
from export.t5_vocab import build_t5_tokenizer

# The releases' scheduler_config.json: schnell (no shift), dev (shifted by the image's token count), SD3.
FLUX_SCHNELL_SCHEDULER: dict[str, Any] = {"shift": 1.0, "use_dynamic_shifting": False}
FLUX_DEV_SCHEDULER: dict[str, Any] = {
    "shift": 3.0,
    "use_dynamic_shifting": True,
    "base_shift": 0.5,
    "max_shift": 1.15,
    "base_image_seq_len": 256,
    "max_image_seq_len": 4096,
}
SD3_SCHEDULER: dict[str, Any] = {"shift": 3.0}


def _clip(projection: bool) -> Any:
    from export.presets import _clip_config

    config = _clip_config(32, 2, 4, 37, hidden_act="gelu", projection_dim=32)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def _t5() -> T5EncoderModel:
    return T5EncoderModel(
        T5Config(d_model=32, d_ff=37, num_layers=2, num_heads=4, d_kv=8, relative_attention_num_buckets=8)
    )


def _vae(scaling: float, shift: float) -> AutoencoderKL:
    # Flux's and SD3's VAEs have no quant convs; four blocks downsample by 8.
    return AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(32, 32, 64, 64),
        layers_per_block=1,
        latent_channels=4,
        sample_size=32,
        scaling_factor=scaling,
        shift_factor=shift,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )


def _tokenizers(second_clip: bool) -> tuple[CLIPTokenizer, CLIPTokenizer | None, Any]:
    with tempfile.TemporaryDirectory() as folder:
        clip = build_clip_tokenizer(Path(folder) / "clip")
        # SD3's second CLIP tokenizer (OpenCLIP's) pads with "!".
        clip_2 = (
            CLIPTokenizer.from_pretrained(Path(folder) / "clip", pad_token="!", model_max_length=77)
            if second_clip
            else None
        )
        t5 = build_t5_tokenizer(Path(folder) / "t5")
    return clip, clip_2, t5


def tiny_flux_pipeline(guidance_embeds: bool, seed: int = 0) -> FluxPipeline:
    """Schnell-like without the guidance embedding, dev-like with it (and its shifted schedule)."""
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=16,  # 4 latent channels x the 2x2 packing
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
        guidance_embeds=guidance_embeds,
    )
    clip, _, t5_tokenizer = _tokenizers(second_clip=False)
    pipeline = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            **(FLUX_DEV_SCHEDULER if guidance_embeds else FLUX_SCHNELL_SCHEDULER)
        ),
        vae=_vae(scaling=0.3611, shift=0.1159),
        text_encoder=_clip(projection=False),
        tokenizer=clip,
        text_encoder_2=_t5(),
        tokenizer_2=t5_tokenizer,
        transformer=transformer,
    )
    return _ready(pipeline)


def tiny_sd3_pipeline(with_t5: bool = True, seed: int = 0) -> StableDiffusion3Pipeline:
    """SD3 with two CLIPs (pooled 32 + 32) and, unless `with_t5` is False, T5."""
    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=32,
        patch_size=1,
        in_channels=4,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=32,
        pooled_projection_dim=64,
        out_channels=4,
    )
    clip, clip_2, t5_tokenizer = _tokenizers(second_clip=True)
    pipeline = StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(**SD3_SCHEDULER),
        vae=_vae(scaling=1.5305, shift=0.0609),
        text_encoder=_clip(projection=True),
        tokenizer=clip,
        text_encoder_2=_clip(projection=True),
        tokenizer_2=clip_2,
        text_encoder_3=_t5() if with_t5 else None,
        tokenizer_3=t5_tokenizer if with_t5 else None,
    )
    return _ready(pipeline)


def _ready(pipeline: Any) -> Any:
    for part in pipeline.components.values():
        if isinstance(part, torch.nn.Module):
            part.float().eval()
    pipeline.set_progress_bar_config(disable=True)
    return pipeline
