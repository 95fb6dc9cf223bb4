"""Random Flux and SD3 pipelines, built from diffusers' and transformers' own classes with the real CLIP
tokenizer and an offline T5 one. Tiny ones (diffusers' test shapes) are the folders tests export and compare
with diffusers, and the `tiny-flux` / `tiny-sd3` presets: their VAEs downsample by 8 as the releases' do,
and the schedulers carry the releases' flow-matching configs, so sizing and shifting follow the real
checkpoints. Full-size ones (`flux-schnell`, `sd35-medium`) have the releases' shapes, for performance
work; they are built in the dtype asked for, so a 12B transformer is never held in FP32 on the way."""

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
from export.precision import default_dtype
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

# The releases' config.json of the networks (black-forest-labs/FLUX.1-schnell, stabilityai/
# stable-diffusion-3.5-medium): Flux's 11.9B-parameter transformer, SD 3.5 medium's 2.5B MMDiT-X, T5-XXL.
FLUX_TRANSFORMER_CONFIG: dict[str, Any] = {
    "patch_size": 1,
    "in_channels": 64,
    "num_layers": 19,
    "num_single_layers": 38,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 4096,
    "pooled_projection_dim": 768,
    "axes_dims_rope": [16, 56, 56],
    "guidance_embeds": False,
}
SD35_MEDIUM_TRANSFORMER_CONFIG: dict[str, Any] = {
    "sample_size": 128,
    "patch_size": 2,
    "in_channels": 16,
    "out_channels": 16,
    "num_layers": 24,
    "attention_head_dim": 64,
    "num_attention_heads": 24,
    "joint_attention_dim": 4096,
    "caption_projection_dim": 1536,
    "pooled_projection_dim": 2048,
    "pos_embed_max_size": 384,
    "dual_attention_layers": tuple(range(13)),
    "qk_norm": "rms_norm",
}
T5_XXL_CONFIG: dict[str, Any] = {
    "d_model": 4096,
    "d_ff": 10240,
    "d_kv": 64,
    "num_heads": 64,
    "num_layers": 24,
    "feed_forward_proj": "gated-gelu",
    "relative_attention_num_buckets": 32,
}
FLUX_VAE_SCALING = (0.3611, 0.1159)
SD3_VAE_SCALING = (1.5305, 0.0609)


def _clip(projection: bool, size: str = "tiny") -> Any:
    from export.presets import _clip_config

    shapes = {
        "tiny": (32, 2, 4, 37, "gelu", 32),
        "L": (768, 12, 12, 3072, "quick_gelu", 768),  # OpenAI CLIP ViT-L/14
        "G": (1280, 32, 20, 5120, "gelu", 1280),  # OpenCLIP ViT-bigG/14
    }
    hidden, layers, heads, intermediate, act, projection_dim = shapes[size]
    config = _clip_config(hidden, layers, heads, intermediate, hidden_act=act, projection_dim=projection_dim)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def _t5(full_size: bool = False) -> T5EncoderModel:
    tiny = {"d_model": 32, "d_ff": 37, "num_layers": 2, "num_heads": 4, "d_kv": 8}
    config = T5_XXL_CONFIG if full_size else tiny | {"relative_attention_num_buckets": 8}
    return T5EncoderModel(T5Config(**config))


def _vae(scaling: float, shift: float, full_size: bool = False) -> AutoencoderKL:
    # Flux's and SD3's VAEs have no quant convs; four blocks downsample by 8.
    return AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512) if full_size else (32, 32, 64, 64),
        layers_per_block=2 if full_size else 1,
        latent_channels=16 if full_size else 4,
        sample_size=1024 if full_size else 32,
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
    return _flux(transformer, _vae(*FLUX_VAE_SCALING), _clip(projection=False), _t5())


def flux_schnell_pipeline(seed: int = 0, dtype: torch.dtype = torch.bfloat16) -> FluxPipeline:
    """FLUX.1 [schnell]'s architecture with random weights: CLIP-L, T5-XXL, the 11.9B transformer."""
    torch.manual_seed(seed)
    with default_dtype(dtype):
        return _flux(
            FluxTransformer2DModel(**FLUX_TRANSFORMER_CONFIG),
            _vae(*FLUX_VAE_SCALING, full_size=True),
            _clip(projection=False, size="L"),
            _t5(full_size=True),
        )


def _flux(transformer: Any, vae: AutoencoderKL, clip_model: Any, t5: T5EncoderModel) -> FluxPipeline:
    clip, _, t5_tokenizer = _tokenizers(second_clip=False)
    guided = bool(transformer.config.guidance_embeds)
    pipeline = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(
            **(FLUX_DEV_SCHEDULER if guided else FLUX_SCHNELL_SCHEDULER)
        ),
        vae=vae,
        text_encoder=clip_model,
        tokenizer=clip,
        text_encoder_2=t5,
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
    encoders = (_clip(projection=True), _clip(projection=True), _t5() if with_t5 else None)
    return _sd3(transformer, _vae(*SD3_VAE_SCALING), *encoders)


def sd35_medium_pipeline(seed: int = 0, dtype: torch.dtype = torch.bfloat16) -> StableDiffusion3Pipeline:
    """Stable Diffusion 3.5 medium's architecture with random weights: CLIP-L, CLIP-G, T5-XXL, the 2.5B
    MMDiT-X transformer."""
    torch.manual_seed(seed)
    with default_dtype(dtype):
        return _sd3(
            SD3Transformer2DModel(**SD35_MEDIUM_TRANSFORMER_CONFIG),
            _vae(*SD3_VAE_SCALING, full_size=True),
            _clip(projection=True, size="L"),
            _clip(projection=True, size="G"),
            _t5(full_size=True),
        )


def _sd3(
    transformer: Any, vae: AutoencoderKL, clip_l: Any, clip_g: Any, t5: T5EncoderModel | None
) -> StableDiffusion3Pipeline:
    clip, clip_2, t5_tokenizer = _tokenizers(second_clip=True)
    pipeline = StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(**SD3_SCHEDULER),
        vae=vae,
        text_encoder=clip_l,
        tokenizer=clip,
        text_encoder_2=clip_g,
        tokenizer_2=clip_2,
        text_encoder_3=t5,
        tokenizer_3=t5_tokenizer if t5 is not None else None,
    )
    return _ready(pipeline)


def _ready(pipeline: Any) -> Any:
    for part in pipeline.components.values():
        if isinstance(part, torch.nn.Module):
            part.eval()
    pipeline.set_progress_bar_config(disable=True)
    return pipeline
