"""Built-in presets: real architectures with seeded random weights and the real CLIP tokenizer (no model hub
is reachable, so presets build, never download). `tiny`, `tiny-sdxl`, `tiny-flux`, `tiny-flux-dev` and
`tiny-sd3` are for tests; `sd15`, `sd21`, `sdxl`, `flux-schnell` and `sd35-medium` have the full-size shapes
of the releases, for performance work."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from export.clip_vocab import VOCAB_SIZE, build_clip_tokenizer
from export.components import Components, family_defaults
from export.flow_presets import (
    flux_schnell_pipeline,
    sd35_medium_pipeline,
    tiny_flux_pipeline,
    tiny_sd3_pipeline,
)

# The scheduler config of the SD 1.x / 2.x releases; the pipeline swaps the class, keeping the betas.
SD_SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "PNDMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "clip_sample": False,
    "prediction_type": "epsilon",
}
# A zero-terminal-SNR v-prediction checkpoint's scheduler (Lin et al. 2024): the last training step is pure
# noise, so the picture's layout comes from the prompt rather than from what the noise leaks; trailing
# timesteps make sampling start there. `python -m training --schedule zero-snr` trains on it.
SD_ZERO_SNR_SCHEDULER_CONFIG: dict[str, Any] = SD_SCHEDULER_CONFIG | {
    "_class_name": "EulerDiscreteScheduler",
    "prediction_type": "v_prediction",
    "rescale_betas_zero_snr": True,
    "timestep_spacing": "trailing",
}
# SDXL base 1.0's scheduler config.
SDXL_SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "EulerDiscreteScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "interpolation_type": "linear",
    "use_karras_sigmas": False,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "clip_sample": False,
}


def _clip_config(hidden: int, layers: int, heads: int, intermediate: int, **extra: Any) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=VOCAB_SIZE,  # the full CLIP vocabulary, so real prompts tokenize as they would
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=77,
        bos_token_id=49406,
        eos_token_id=49407,
        **extra,
    )


def _vae(channels: tuple[int, ...], layers: int, sample_size: int, scaling: float = 0.18215) -> AutoencoderKL:
    # Four blocks, also in the tiny presets: latents stay 1/8 of the image as in the releases, so the
    # sizing rules are the same as for real checkpoints.
    return AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=channels,
        layers_per_block=layers,
        latent_channels=4,
        sample_size=sample_size,
        scaling_factor=scaling,
    )


def _tiny() -> tuple[list[Any], UNet2DConditionModel, AutoencoderKL]:
    unet = UNet2DConditionModel(
        sample_size=32,
        block_out_channels=(32, 64),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
    )
    text = CLIPTextModel(_clip_config(32, 5, 4, 37))
    return [text], unet, _vae((32, 32, 64, 64), 1, 256)


def _sd15() -> tuple[list[Any], UNet2DConditionModel, AutoencoderKL]:
    text = CLIPTextModel(_clip_config(768, 12, 12, 3072, hidden_act="quick_gelu", projection_dim=768))
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
    return [text], unet, _vae((128, 256, 512, 512), 2, 512)


def _sd21() -> tuple[list[Any], UNet2DConditionModel, AutoencoderKL]:
    # OpenCLIP ViT-H/14 with its last layer dropped, as SD 2.x uses the penultimate layer.
    text = CLIPTextModel(_clip_config(1024, 23, 16, 4096, hidden_act="gelu", projection_dim=1024))
    # diffusers' `attention_head_dim` here is really the head count per block: 64-wide heads.
    unet = UNet2DConditionModel(
        sample_size=96,
        cross_attention_dim=1024,
        attention_head_dim=(5, 10, 20, 20),
        use_linear_projection=True,
    )
    return [text], unet, _vae((128, 256, 512, 512), 2, 768)


def _sdxl_unet(
    channels: tuple[int, ...], heads: tuple[int, ...], layers: tuple[int, ...], **extra: Any
) -> Any:
    down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (len(channels) - 1)
    up = ("CrossAttnUpBlock2D",) * (len(channels) - 1) + ("UpBlock2D",)
    return UNet2DConditionModel(
        block_out_channels=channels,
        down_block_types=down,
        up_block_types=up,
        attention_head_dim=heads,
        transformer_layers_per_block=layers,
        use_linear_projection=True,
        addition_embed_type="text_time",
        layers_per_block=2,
        **extra,
    )


def _tiny_sdxl() -> tuple[list[Any], UNet2DConditionModel, AutoencoderKL]:
    # diffusers' own SDXL test shapes, at 1/8 latents: 32-wide encoders, pooled 32, six 8-wide time ids.
    text = CLIPTextModel(_clip_config(32, 5, 4, 37, hidden_act="gelu", projection_dim=32))
    text_2 = CLIPTextModelWithProjection(_clip_config(32, 5, 4, 37, hidden_act="gelu", projection_dim=32))
    unet = _sdxl_unet(
        (32, 64),
        (2, 4),
        (1, 2),
        sample_size=32,
        cross_attention_dim=64,
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=80,  # 6 x 8 time ids + 32 pooled
    )
    return [text, text_2], unet, _vae((32, 32, 64, 64), 1, 256, scaling=0.13025)


def _sdxl() -> tuple[list[Any], UNet2DConditionModel, AutoencoderKL]:
    # SDXL base 1.0: CLIP ViT-L and OpenCLIP ViT-bigG (penultimate layers), 2.6B-parameter UNet.
    text = CLIPTextModel(_clip_config(768, 12, 12, 3072, hidden_act="quick_gelu", projection_dim=768))
    text_2 = CLIPTextModelWithProjection(
        _clip_config(1280, 32, 20, 5120, hidden_act="gelu", projection_dim=1280)
    )
    unet = _sdxl_unet(
        (320, 640, 1280),
        (5, 10, 20),
        (1, 2, 10),
        sample_size=128,
        cross_attention_dim=2048,
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,  # 6 x 256 time ids + 1280 pooled
    )
    return [text, text_2], unet, _vae((128, 256, 512, 512), 2, 1024, scaling=0.13025)


PRESET_BUILDERS: dict[
    str, tuple[str, Callable[[], tuple[list[Any], UNet2DConditionModel, AutoencoderKL]]]
] = {
    "tiny": ("sd", _tiny),
    "sd15": ("sd", _sd15),
    "sd21": ("sd", _sd21),
    "tiny-sdxl": ("sdxl", _tiny_sdxl),
    "sdxl": ("sdxl", _sdxl),
}


@dataclass(frozen=True)
class FlowPreset:
    """A flow-matching preset: diffusers' own pipeline on random weights (export.flow_presets)."""

    family: str
    build: Callable[[int, torch.dtype], Any]  # (seed, dtype) -> pipeline
    native_size: int
    stored: str = "fp32"  # the release's dtype: what --precision auto keeps on a GPU backend


# The tiny ones serve at 256 x 256 (the releases' 1024 would only slow the tests).
FLOW_PRESETS: dict[str, FlowPreset] = {
    "tiny-flux": FlowPreset(
        "flux", lambda seed, _: tiny_flux_pipeline(guidance_embeds=False, seed=seed), 256
    ),
    "tiny-flux-dev": FlowPreset(
        "flux", lambda seed, _: tiny_flux_pipeline(guidance_embeds=True, seed=seed), 256
    ),
    "tiny-sd3": FlowPreset("sd3", lambda seed, _: tiny_sd3_pipeline(with_t5=True, seed=seed), 256),
    "flux-schnell": FlowPreset("flux", flux_schnell_pipeline, 1024, stored="bf16"),
    "sd35-medium": FlowPreset("sd3", sd35_medium_pipeline, 1024, stored="bf16"),
}
PRESETS = (*PRESET_BUILDERS, *FLOW_PRESETS)


def _in_dtype(module: torch.nn.Module, dtype: torch.dtype) -> Any:
    """The module in `dtype`, by torch's own cast: diffusers' `to` warns of modules to keep in FP32 on any
    dtype cast, also for classes that have none."""
    return torch.nn.Module.to(module, dtype)


def preset_precision(name: str) -> str:
    """The dtype a preset's release is stored in (what `--precision auto` keeps on a GPU backend)."""
    return FLOW_PRESETS[name].stored if name in FLOW_PRESETS else "fp32"


def _tokenizers(count: int) -> list[CLIPTokenizer]:
    with tempfile.TemporaryDirectory() as folder:
        first = build_clip_tokenizer(Path(folder))
        if count == 1:
            return [first]
        # SDXL's second tokenizer (OpenCLIP's) pads with "!" rather than the end-of-text token.
        second = CLIPTokenizer.from_pretrained(folder, model_max_length=77, pad_token="!")
    return [first, second]


def build_preset(
    name: str, seed: int = 0, dtype: torch.dtype = torch.float32, vae_dtype: torch.dtype = torch.float32
) -> Components:
    """A family's architecture with seeded random weights, plus the real CLIP tokenizer(s); the text
    encoders and the denoiser in `dtype`, the VAE in `vae_dtype`."""
    if name in FLOW_PRESETS:
        return _flow_preset(name, seed, dtype, vae_dtype)
    if name not in PRESET_BUILDERS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    family, build = PRESET_BUILDERS[name]
    torch.manual_seed(seed)
    text_encoders, unet, vae = build()
    scheduler_config = dict(SDXL_SCHEDULER_CONFIG if family == "sdxl" else SD_SCHEDULER_CONFIG)
    if name == "sd21":
        scheduler_config["prediction_type"] = "v_prediction"  # the 768-v release
    steps = {"default_steps": 20, "hd_steps": 40} if name.startswith("tiny") else {}
    return Components(
        name=name,
        family=family,
        text_encoders=[_in_dtype(encoder, dtype).eval() for encoder in text_encoders],
        tokenizers=_tokenizers(len(text_encoders)),
        unet=_in_dtype(unet, dtype).eval(),
        vae=_in_dtype(vae, vae_dtype).eval(),
        scheduler_config=scheduler_config,
        random_weights=True,
        pipeline_config={"force_zeros_for_empty_prompt": True} if family == "sdxl" else {},
        **(family_defaults(family, scheduler_config) | steps),
    )


def _flow_preset(name: str, seed: int, dtype: torch.dtype, vae_dtype: torch.dtype) -> Components:
    preset = FLOW_PRESETS[name]
    family = preset.family
    pipeline = preset.build(seed, dtype)
    parts = pipeline.components
    encoders = [
        _in_dtype(parts[k], dtype)
        for k in ("text_encoder", "text_encoder_2", "text_encoder_3")
        if parts.get(k) is not None
    ]
    tokenizers = [parts[k] for k in ("tokenizer", "tokenizer_2", "tokenizer_3") if parts.get(k) is not None]
    transformer = parts["transformer"]
    guidance_embedded = bool(getattr(transformer.config, "guidance_embeds", False))
    return Components(
        name=name,
        family=family,
        text_encoders=encoders,
        tokenizers=tokenizers,
        unet=None,
        transformer=_in_dtype(transformer, dtype),
        vae=_in_dtype(parts["vae"], vae_dtype),
        scheduler_config=dict(pipeline.scheduler.config),
        random_weights=True,
        native_size=preset.native_size,
        **family_defaults(family, dict(pipeline.scheduler.config), guidance_embedded),
    )
