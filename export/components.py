"""The PyTorch components of a checkpoint, read from a local diffusers folder: its family, networks,
tokenizers, scheduler config and serving defaults. Presets (seeded random weights) are in `export.presets`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    FluxTransformer2DModel,
    SD3Transformer2DModel,
    UNet2DConditionModel,
)
from transformers import (
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    T5EncoderModel,
    T5TokenizerFast,
)

from export.precision import stored_precision
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
    "FluxPipeline": "flux",
    "FluxImg2ImgPipeline": "flux",
    "FluxInpaintPipeline": "flux",
    "StableDiffusion3Pipeline": "sd3",
    "StableDiffusion3Img2ImgPipeline": "sd3",
    "StableDiffusion3InpaintPipeline": "sd3",
}
# Each family's text encoders and tokenizers: (folder, class) in the order the family encodes with.
TEXT_ENCODER_CLASSES: dict[str, tuple[tuple[str, Any], ...]] = {
    "sd": (("text_encoder", CLIPTextModel),),
    "sdxl": (("text_encoder", CLIPTextModel), ("text_encoder_2", CLIPTextModelWithProjection)),
    "flux": (("text_encoder", CLIPTextModel), ("text_encoder_2", T5EncoderModel)),
    "sd3": (
        ("text_encoder", CLIPTextModelWithProjection),
        ("text_encoder_2", CLIPTextModelWithProjection),
        ("text_encoder_3", T5EncoderModel),
    ),
}
DENOISER_CLASSES: dict[str, tuple[str, Any]] = {
    "sd": ("unet", UNet2DConditionModel),
    "sdxl": ("unet", UNet2DConditionModel),
    "flux": ("transformer", FluxTransformer2DModel),
    "sd3": ("transformer", SD3Transformer2DModel),
}
# T5's sequence as diffusers pads prompts to it: FluxPipeline's max_sequence_length (512 for dev as its
# card sets; schnell was distilled at 256) and StableDiffusion3Pipeline's default.
T5_MAX_LENGTH = {"flux-dev": 512, "flux-schnell": 256, "sd3": 256}
# Flux and SD3 checkpoints name no size; both are trained at 1024 x 1024.
FLOW_NATIVE_SIZE = 1024


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
    text_encoders: list[Any]  # per TEXT_ENCODER_CLASSES; an SD3 folder may lack its T5
    tokenizers: list[Any]  # CLIPTokenizer, or T5TokenizerFast for a T5 encoder
    unet: UNet2DConditionModel | None  # the denoiser of UNet families; None for flow families
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
    transformer: Any = None  # the denoiser of flow families (FluxTransformer2DModel, SD3Transformer2DModel)

    @property
    def denoiser(self) -> Any:
        return self.transformer if self.unet is None else self.unet

    def component(self, directory: str) -> Any:
        """The network stored under `directory` in a diffusers folder (text_encoder_2, unet, vae...)."""
        if directory.startswith("text_encoder"):
            index = int(directory.removeprefix("text_encoder").removeprefix("_") or 1) - 1
            return self.text_encoders[index]
        return {"unet": self.unet, "transformer": self.transformer, "vae": self.vae}[directory]

    @property
    def text_encoder(self) -> Any:
        return self.text_encoders[0]

    @property
    def tokenizer(self) -> CLIPTokenizer:
        return self.tokenizers[0]

    def diffusers_pipeline(self, scheduler: str | None = None) -> Any:
        """diffusers' own pipeline of this family on these weights: the reference that tests and
        benchmarks compare the exported pipeline with."""
        from diffusers import (
            FluxPipeline,
            StableDiffusion3Pipeline,
            StableDiffusionPipeline,
            StableDiffusionXLPipeline,
        )

        from t2i.schedulers import make_scheduler

        made = make_scheduler(scheduler or self.default_scheduler, self.scheduler_config)
        if self.family == "flux":
            pipeline = FluxPipeline(
                scheduler=made,
                vae=self.vae,
                text_encoder=self.text_encoders[0],
                tokenizer=self.tokenizers[0],
                text_encoder_2=self.text_encoders[1],
                tokenizer_2=self.tokenizers[1],
                transformer=self.transformer,
            )
        elif self.family == "sd3":
            has_t5 = len(self.text_encoders) == 3
            pipeline = StableDiffusion3Pipeline(
                transformer=self.transformer,
                scheduler=made,
                vae=self.vae,
                text_encoder=self.text_encoders[0],
                tokenizer=self.tokenizers[0],
                text_encoder_2=self.text_encoders[1],
                tokenizer_2=self.tokenizers[1],
                text_encoder_3=self.text_encoders[2] if has_t5 else None,
                tokenizer_3=self.tokenizers[2] if has_t5 else None,
            )
        elif self.family == "sdxl":
            pipeline = StableDiffusionXLPipeline(
                text_encoder=self.text_encoders[0],
                text_encoder_2=self.text_encoders[1],
                tokenizer=self.tokenizers[0],
                tokenizer_2=self.tokenizers[1],
                force_zeros_for_empty_prompt=self.pipeline_config.get("force_zeros_for_empty_prompt", True),
                vae=self.vae,
                unet=self.unet,
                scheduler=made,
            )
        else:
            pipeline = StableDiffusionPipeline(
                text_encoder=self.text_encoder,
                tokenizer=self.tokenizer,
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
                vae=self.vae,
                unet=self.unet,
                scheduler=made,
            )
        pipeline.set_progress_bar_config(disable=True)
        return pipeline

    def metadata(self) -> ModelMetadata:
        if self.unet is None:
            return self.flow_metadata()
        assert self.unet is not None
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

    def flow_metadata(self) -> ModelMetadata:
        """A flow-matching transformer's metadata (Flux, SD3), from its config and its VAE's."""
        config = self.transformer.config
        vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        flux = self.family == "flux"
        # Flux packs 2x2 latent cells into a token; SD3 patches them (patch_size) inside the transformer.
        patch = 2 if flux else int(config.patch_size)
        encoders = self.text_encoders
        t5 = encoders[-1] if isinstance(encoders[-1], T5EncoderModel) else None
        clips = [e for e in encoders if e is not t5]
        if flux:
            t5_length = T5_MAX_LENGTH["flux-dev" if config.guidance_embeds else "flux-schnell"]
            native = FLOW_NATIVE_SIZE
            latent_channels = int(config.in_channels) // 4
            clip_fields: dict[str, Any] = {}
        else:
            t5_length = T5_MAX_LENGTH["sd3"]
            native = int(config.sample_size) * vae_scale_factor
            latent_channels = int(config.out_channels)
            clip_fields = {
                "text_encoder_hidden_size": int(clips[0].config.hidden_size),
                "text_encoder_2_hidden_size": int(clips[1].config.hidden_size),
                "text_encoder_pooled_size": int(clips[0].config.projection_dim),
            }
        return ModelMetadata(
            name=self.name,
            native_width=self.native_size or native,
            native_height=self.native_size or native,
            size_multiple=vae_scale_factor * patch,
            latent_channels=latent_channels,
            vae_scale_factor=vae_scale_factor,
            vae_scaling_factor=float(self.vae.config.scaling_factor),
            vae_shift_factor=float(self.vae.config.shift_factor or 0.0),
            # What the transformer's joint attention takes (T5's width, CLIP's padded to it in SD3).
            text_hidden_size=int(config.joint_attention_dim),
            tokenizer_max_length=int(self.tokenizer.model_max_length),
            default_steps=self.default_steps,
            hd_steps=self.hd_steps,
            default_guidance_scale=self.default_guidance_scale,
            default_scheduler=self.default_scheduler,
            random_weights=self.random_weights,
            family=self.family,
            pooled_text_size=int(config.pooled_projection_dim),
            t5_hidden_size=int(t5.config.d_model) if t5 is not None else 0,
            t5_max_length=t5_length,
            guidance_embeds=bool(getattr(config, "guidance_embeds", False)),
            min_side=vae_scale_factor * patch,
            max_side=contract.MAX_SIDE,
            **clip_fields,
        )


def family_defaults(
    family: str, scheduler_config: dict[str, Any], guidance_embedded: bool = False
) -> dict[str, Any]:
    """Serving defaults from what the checkpoint is: distilled few-step checkpoints (LCM, SDXL-Turbo,
    Flux schnell) run 1-4 steps without classifier-free guidance; others 28-30 steps with their
    family's guidance. `guidance_embedded`: the denoiser takes the guidance scale as an input (an LCM
    UNet's time_cond_proj_dim, Flux dev's guidance embedding)."""
    if family == "flux":
        if guidance_embedded:  # dev: 3.5 embedded, its card's 28 steps
            return {
                "default_steps": 28,
                "hd_steps": 50,
                "default_guidance_scale": 3.5,
                "default_scheduler": "flow_euler",
            }
        # schnell: timestep-distilled, 4 steps, no guidance at all.
        return {
            "default_steps": 4,
            "hd_steps": 8,
            "default_guidance_scale": 0.0,
            "default_scheduler": "flow_euler",
        }
    if family == "sd3":  # SD 3.5's card: 28 steps, guidance 7
        return {
            "default_steps": 28,
            "hd_steps": 40,
            "default_guidance_scale": 7.0,
            "default_scheduler": "flow_euler",
        }
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


def checkpoint_precision(folder: Path) -> str:
    """The dtype the folder's denoiser is stored in (fp32, fp16, bf16): what `--precision auto` keeps."""
    family, _ = read_family(folder)
    return stored_precision(folder / DENOISER_CLASSES[family][0])


def load_checkpoint(
    folder: Path,
    name: str | None = None,
    dtype: torch.dtype = torch.float32,
    vae_dtype: torch.dtype = torch.float32,
) -> Components:
    """A local diffusers-format folder of a supported family, its text encoders and denoiser loaded in
    `dtype` (straight from the files: a bf16 checkpoint loaded in bf16 never holds an FP32 copy), its VAE
    in `vae_dtype`."""
    family, index = read_family(folder)
    encoders = list(TEXT_ENCODER_CLASSES[family])
    if family == "sd3" and not (folder / "text_encoder_3").exists():
        encoders = encoders[:2]  # SD3 without T5: zeros in its place, as diffusers runs such a folder
    tokenizer_dirs = list(contract.TOKENIZER_DIRNAMES[: len(encoders)])
    denoiser_dir, denoiser_class = DENOISER_CLASSES[family]
    required = (*(d for d, _ in encoders), *tokenizer_dirs, denoiser_dir, "vae", "scheduler")
    missing = [p for p in required if not (folder / p).exists()]
    if missing:
        raise UnsupportedModel(f"{folder} is not a complete {family} folder: missing {', '.join(missing)}")
    scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    denoiser = denoiser_class.from_pretrained(folder / denoiser_dir, torch_dtype=dtype).eval()
    if family == "flux":
        guidance_embedded = bool(denoiser.config.guidance_embeds)
    else:
        guidance_embedded = getattr(denoiser.config, "time_cond_proj_dim", None) is not None
    defaults = family_defaults(family, scheduler_config, guidance_embedded) | read_serving_defaults(folder)
    is_unet = denoiser_dir == "unet"
    return Components(
        name=name or folder.resolve().name,
        family=family,
        text_encoders=[cls.from_pretrained(folder / d, torch_dtype=dtype).eval() for d, cls in encoders],
        tokenizers=[
            (T5TokenizerFast if cls is T5EncoderModel else CLIPTokenizer).from_pretrained(folder / t)
            for (_, cls), t in zip(encoders, tokenizer_dirs, strict=True)
        ],
        unet=denoiser if is_unet else None,
        transformer=None if is_unet else denoiser,
        vae=AutoencoderKL.from_pretrained(folder / "vae", torch_dtype=vae_dtype).eval(),
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
