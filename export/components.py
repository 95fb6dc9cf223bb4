"""The PyTorch components of a checkpoint: a local diffusers folder, or a built-in preset of seeded random
weights in a Stable Diffusion architecture (no model hub is reachable, so presets build, never download)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from export.clip_vocab import VOCAB_SIZE, build_clip_tokenizer
from t2i.contract import ModelMetadata

PRESETS = ("tiny", "sd15", "sd21")

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


@dataclass
class Components:
    name: str
    text_encoder: CLIPTextModel
    unet: UNet2DConditionModel
    vae: AutoencoderKL
    tokenizer: CLIPTokenizer
    scheduler_config: dict[str, Any]
    random_weights: bool
    default_steps: int = 30
    hd_steps: int = 50
    default_guidance_scale: float = 7.5
    native_size: int | None = None  # overrides the UNet's training resolution

    def diffusers_pipeline(self) -> Any:
        """diffusers' own StableDiffusionPipeline on these weights (Euler): the reference that tests and
        benchmarks compare the exported pipeline with."""
        from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

        pipeline = StableDiffusionPipeline(
            vae=self.vae,
            text_encoder=self.text_encoder,
            tokenizer=self.tokenizer,
            unet=self.unet,
            scheduler=EulerDiscreteScheduler.from_config(self.scheduler_config),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipeline.set_progress_bar_config(disable=True)
        return pipeline

    def metadata(self) -> ModelMetadata:
        vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        unet_downsampling = 2 ** (len(self.unet.config.block_out_channels) - 1)
        native = self.native_size or int(self.unet.config.sample_size) * vae_scale_factor
        return ModelMetadata(
            name=self.name,
            native_width=native,
            native_height=native,
            size_multiple=vae_scale_factor * unet_downsampling,
            latent_channels=int(self.unet.config.in_channels),
            vae_scale_factor=vae_scale_factor,
            vae_scaling_factor=float(self.vae.config.scaling_factor),
            text_hidden_size=int(self.text_encoder.config.hidden_size),
            tokenizer_max_length=int(self.tokenizer.model_max_length),
            default_steps=self.default_steps,
            hd_steps=self.hd_steps,
            default_guidance_scale=self.default_guidance_scale,
            random_weights=self.random_weights,
        )


def _sd_vae(sample_size: int) -> AutoencoderKL:
    return AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        sample_size=sample_size,
        scaling_factor=0.18215,
    )


def _build_preset_modules(name: str) -> tuple[CLIPTextModel, UNet2DConditionModel, AutoencoderKL]:
    if name == "tiny":
        text_config = CLIPTextConfig(
            vocab_size=VOCAB_SIZE,  # the full CLIP vocabulary, so real prompts tokenize as they would in SD
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=5,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=49406,
            eos_token_id=49407,
        )
        unet = UNet2DConditionModel(
            sample_size=32,
            block_out_channels=(32, 64),
            layers_per_block=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=4,
        )
        # Four small blocks rather than two: latents stay 1/8 of the image as in SD, so the UNet works on
        # 32x32 latents at 256x256 and the sizing rules are the same as for real checkpoints.
        vae = AutoencoderKL(
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(32, 32, 64, 64),
            layers_per_block=1,
            latent_channels=4,
            sample_size=256,
        )
    elif name == "sd15":
        text_config = CLIPTextConfig(
            vocab_size=VOCAB_SIZE,
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            max_position_embeddings=77,
            hidden_act="quick_gelu",
            projection_dim=768,
            bos_token_id=49406,
            eos_token_id=49407,
        )
        unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
        vae = _sd_vae(512)
    elif name == "sd21":
        # OpenCLIP ViT-H/14 with its last layer dropped, as SD 2.x uses the penultimate layer.
        text_config = CLIPTextConfig(
            vocab_size=VOCAB_SIZE,
            hidden_size=1024,
            intermediate_size=4096,
            num_hidden_layers=23,
            num_attention_heads=16,
            max_position_embeddings=77,
            hidden_act="gelu",
            projection_dim=1024,
            bos_token_id=49406,
            eos_token_id=49407,
        )
        # diffusers' `attention_head_dim` here is really the head count per block: 64-wide heads.
        unet = UNet2DConditionModel(
            sample_size=96,
            cross_attention_dim=1024,
            attention_head_dim=(5, 10, 20, 20),
            use_linear_projection=True,
        )
        vae = _sd_vae(768)
    else:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return CLIPTextModel(text_config), unet, vae


def build_preset(name: str, seed: int = 0) -> Components:
    """SD-architecture components with seeded random weights, plus the real CLIP tokenizer."""
    torch.manual_seed(seed)
    text_encoder, unet, vae = _build_preset_modules(name)
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = build_clip_tokenizer(Path(folder))
    scheduler_config = dict(SD_SCHEDULER_CONFIG)
    if name == "sd21":
        scheduler_config["prediction_type"] = "v_prediction"  # the 768-v release
    steps = (20, 40) if name == "tiny" else (30, 50)
    return Components(
        name=name,
        text_encoder=text_encoder.eval(),
        unet=unet.eval(),
        vae=vae.eval(),
        tokenizer=tokenizer,
        scheduler_config=scheduler_config,
        random_weights=True,
        default_steps=steps[0],
        hd_steps=steps[1],
    )


# Optional file in a checkpoint folder: the serving defaults its authors tuned (steps, guidance).
SERVING_DEFAULTS_FILENAME = "serving_defaults.json"
SERVING_DEFAULT_KEYS = ("default_steps", "hd_steps", "default_guidance_scale")


def load_checkpoint(folder: Path, name: str | None = None) -> Components:
    """A local diffusers-format SD 1.x / 2.x folder (model_index.json, text_encoder/, tokenizer/, ...).
    Weights stored in FP16 are loaded as FP32: export traces and verifies in FP32 on the CPU."""
    missing = [
        part
        for part in ("model_index.json", "text_encoder", "tokenizer", "unet", "vae", "scheduler")
        if not (folder / part).exists()
    ]
    if missing:
        raise FileNotFoundError(f"{folder} is not a diffusers Stable Diffusion folder: missing {missing}")
    scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    defaults_file = folder / SERVING_DEFAULTS_FILENAME
    defaults = json.loads(defaults_file.read_text()) if defaults_file.is_file() else {}
    unknown = set(defaults) - set(SERVING_DEFAULT_KEYS)
    if unknown:
        raise ValueError(f"{defaults_file}: unknown keys {sorted(unknown)}; allowed: {SERVING_DEFAULT_KEYS}")
    return Components(
        name=name or folder.resolve().name,
        text_encoder=CLIPTextModel.from_pretrained(folder / "text_encoder").float().eval(),
        unet=UNet2DConditionModel.from_pretrained(folder / "unet").float().eval(),
        vae=AutoencoderKL.from_pretrained(folder / "vae").float().eval(),
        tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer"),
        scheduler_config=scheduler_config,
        random_weights=False,
        **defaults,
    )
