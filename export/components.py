"""The PyTorch components of a checkpoint, read from a local diffusers folder: its family, networks,
tokenizers, scheduler config and serving defaults. Presets (seeded random weights) are in `export.presets`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from t2i import contract
from t2i.contract import ModelMetadata
from t2i.schedulers import scheduler_name

# model_index.json `_class_name` -> family. Image-to-image variants hold the same networks.
PIPELINE_FAMILIES = {
    "StableDiffusionPipeline": "sd",
    "StableDiffusionImg2ImgPipeline": "sd",
    # A 9-channel inpainting UNet: the mask and the masked image's latents beside the latents.
    "StableDiffusionInpaintPipeline": "sd",
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusionXLImg2ImgPipeline": "sdxl",
}


class UnsupportedModel(ValueError):
    """A checkpoint this exporter cannot serve (another family, or parts missing); the message is one
    line for the user."""


def supported_families() -> str:
    return "; ".join(
        f"{family} ({contract.FAMILY_DESCRIPTIONS[family]}: "
        + ", ".join(c for c, f in PIPELINE_FAMILIES.items() if f == family)
        + ")"
        for family in contract.FAMILIES
    )


@dataclass
class Components:
    name: str
    family: str
    text_encoders: list[Any]  # CLIPTextModel (SD); CLIPTextModel + CLIPTextModelWithProjection (SDXL)
    tokenizers: list[CLIPTokenizer]
    unet: UNet2DConditionModel
    vae: AutoencoderKL
    scheduler_config: dict[str, Any]
    random_weights: bool
    default_steps: int = 30
    hd_steps: int = 50
    default_guidance_scale: float = 7.5
    default_scheduler: str = "euler"
    native_size: int | None = None  # overrides the UNet's training resolution
    # The checkpoint's pipeline options (model_index.json), e.g. SDXL's force_zeros_for_empty_prompt.
    pipeline_config: dict[str, Any] = field(default_factory=dict)

    @property
    def text_encoder(self) -> Any:
        return self.text_encoders[0]

    @property
    def tokenizer(self) -> CLIPTokenizer:
        return self.tokenizers[0]

    def diffusers_pipeline(self, scheduler: str = "euler") -> Any:
        """diffusers' own pipeline of this family on these weights: the reference that tests and
        benchmarks compare the exported pipeline with."""
        from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

        from t2i.schedulers import make_scheduler

        parts = {
            "vae": self.vae,
            "unet": self.unet,
            "scheduler": make_scheduler(scheduler, self.scheduler_config),
        }
        if self.family == "sdxl":
            pipeline = StableDiffusionXLPipeline(
                text_encoder=self.text_encoders[0],
                text_encoder_2=self.text_encoders[1],
                tokenizer=self.tokenizers[0],
                tokenizer_2=self.tokenizers[1],
                force_zeros_for_empty_prompt=self.pipeline_config.get("force_zeros_for_empty_prompt", True),
                **parts,
            )
        else:
            pipeline = StableDiffusionPipeline(
                text_encoder=self.text_encoder,
                tokenizer=self.tokenizer,
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
                **parts,
            )
        pipeline.set_progress_bar_config(disable=True)
        return pipeline

    def metadata(self) -> ModelMetadata:
        vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        unet_downsampling = 2 ** (len(self.unet.config.block_out_channels) - 1)
        native = self.native_size or int(self.unet.config.sample_size) * vae_scale_factor
        hidden_sizes = [int(encoder.config.hidden_size) for encoder in self.text_encoders]
        family_fields: dict[str, Any] = {}
        if self.family == "sdxl":
            family_fields = {
                "text_encoder_hidden_size": hidden_sizes[0],
                "text_encoder_2_hidden_size": hidden_sizes[1],
                "pooled_text_size": int(self.text_encoders[1].config.projection_dim),
                "zero_empty_negative_prompt": bool(
                    self.pipeline_config.get("force_zeros_for_empty_prompt", True)
                ),
            }
        latents_mean = getattr(self.vae.config, "latents_mean", None)
        latents_std = getattr(self.vae.config, "latents_std", None)
        size_multiple = vae_scale_factor * unet_downsampling
        unet_in_channels = int(self.unet.config.in_channels)
        return ModelMetadata(
            name=self.name,
            native_width=native,
            native_height=native,
            size_multiple=size_multiple,
            latent_channels=int(self.unet.config.out_channels),
            vae_scale_factor=vae_scale_factor,
            vae_scaling_factor=float(self.vae.config.scaling_factor),
            # What the UNet's cross-attention takes: the encoders' hidden states, concatenated.
            text_hidden_size=sum(hidden_sizes),
            tokenizer_max_length=int(self.tokenizer.model_max_length),
            default_steps=self.default_steps,
            hd_steps=self.hd_steps,
            default_guidance_scale=self.default_guidance_scale,
            default_scheduler=self.default_scheduler,
            random_weights=self.random_weights,
            family=self.family,
            vae_latents_mean=tuple(latents_mean) if latents_mean is not None else None,
            vae_latents_std=tuple(latents_std) if latents_std is not None else None,
            min_side=size_multiple,
            max_side=contract.MAX_SIDE,
            time_cond_proj_dim=int(self.unet.config.time_cond_proj_dim or 0),
            unet_in_channels=unet_in_channels if unet_in_channels != self.unet.config.out_channels else 0,
            **family_fields,
        )


def family_defaults(
    family: str, scheduler_config: dict[str, Any], guidance_embedded: bool = False
) -> dict[str, Any]:
    """Serving defaults from what the checkpoint is: distilled few-step checkpoints (LCM, SDXL-Turbo)
    run 1-4 steps without classifier-free guidance; others 30 steps with their family's guidance."""
    scheduler_class = scheduler_config.get("_class_name", "")
    if scheduler_class == "LCMScheduler" or guidance_embedded:
        # An LCM-distilled UNet embeds the guidance scale (8, its authors' value) at no extra cost;
        # LCM-LoRA-fused UNets run without guidance.
        guidance = 8.0 if guidance_embedded else 1.0
        return {
            "default_steps": 4,
            "hd_steps": 8,
            "default_guidance_scale": guidance,
            "default_scheduler": "lcm",
        }
    if family == "sdxl" and scheduler_config.get("timestep_spacing") == "trailing":
        # SDXL-Turbo ships Euler ancestral with trailing timesteps; one step, guidance off (its card).
        return {
            "default_steps": 1,
            "hd_steps": 4,
            "default_guidance_scale": 0.0,
            "default_scheduler": "euler_a",
        }
    if family == "sdxl":
        # diffusers' SDXL default guidance; the checkpoint's own scheduler.
        return {
            "default_guidance_scale": 5.0,
            "default_scheduler": scheduler_name(scheduler_class) or "euler",
        }
    return {}


# Optional file in a checkpoint folder: the serving defaults its authors tuned (steps, guidance).
SERVING_DEFAULTS_FILENAME = "serving_defaults.json"
SERVING_DEFAULT_KEYS = ("default_steps", "hd_steps", "default_guidance_scale", "default_scheduler")


def read_family(folder: Path) -> tuple[str, dict[str, Any]]:
    """The family named by the folder's model_index.json, and that file's content; UnsupportedModel for
    any other pipeline class."""
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        raise UnsupportedModel(f"{folder} is not a diffusers folder: no model_index.json")
    index = json.loads(index_file.read_text())
    class_name = index.get("_class_name", "?")
    family = PIPELINE_FAMILIES.get(class_name)
    if family is None:
        raise UnsupportedModel(
            f"unsupported model family: {folder.name} is a {class_name}; supported: {supported_families()}"
        )
    return family, index


def load_checkpoint(folder: Path, name: str | None = None) -> Components:
    """A local diffusers-format folder of a supported family. Weights stored in FP16 are loaded as FP32:
    export traces and verifies in FP32 on the CPU."""
    family, index = read_family(folder)
    encoder_dirs = ["text_encoder", "text_encoder_2"][: 2 if family == "sdxl" else 1]
    tokenizer_dirs = list(contract.TOKENIZER_DIRNAMES[: len(encoder_dirs)])
    missing = [
        p for p in (*encoder_dirs, *tokenizer_dirs, "unet", "vae", "scheduler") if not (folder / p).exists()
    ]
    if missing:
        raise UnsupportedModel(f"{folder} is not a complete {family} folder: missing {', '.join(missing)}")
    scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    encoder_classes = [CLIPTextModel, CLIPTextModelWithProjection]
    unet = UNet2DConditionModel.from_pretrained(folder / "unet").float().eval()
    guidance_embedded = unet.config.time_cond_proj_dim is not None
    defaults = family_defaults(family, scheduler_config, guidance_embedded) | read_serving_defaults(folder)
    return Components(
        name=name or folder.resolve().name,
        family=family,
        text_encoders=[
            cls.from_pretrained(folder / d).float().eval()
            for cls, d in zip(encoder_classes[: len(encoder_dirs)], encoder_dirs, strict=True)
        ],
        tokenizers=[CLIPTokenizer.from_pretrained(folder / d) for d in tokenizer_dirs],
        unet=unet,
        vae=AutoencoderKL.from_pretrained(folder / "vae").float().eval(),
        scheduler_config=scheduler_config,
        random_weights=False,
        pipeline_config={k: v for k, v in index.items() if not isinstance(v, list) and not k.startswith("_")},
        **defaults,
    )


def read_serving_defaults(folder: Path) -> dict[str, Any]:
    defaults_file = folder / SERVING_DEFAULTS_FILENAME
    defaults = json.loads(defaults_file.read_text()) if defaults_file.is_file() else {}
    unknown = set(defaults) - set(SERVING_DEFAULT_KEYS)
    if unknown:
        raise ValueError(f"{defaults_file}: unknown keys {sorted(unknown)}; allowed: {SERVING_DEFAULT_KEYS}")
    if "default_scheduler" in defaults and defaults["default_scheduler"] not in contract.SCHEDULERS:
        raise ValueError(
            f"{defaults_file}: default_scheduler must be one of {', '.join(contract.SCHEDULERS)}"
        )
    return defaults
