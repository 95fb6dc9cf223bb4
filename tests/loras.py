"""LoRA adapters for the tests, built with peft's own classes and saved as diffusers' training scripts
save theirs."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline
from peft import LoraConfig, inject_adapter_in_model
from peft.utils import get_peft_model_state_dict

from export.presets import build_preset


def make_lora(folder: Path, path: Path, text_encoder: bool) -> Path:
    """A random LoRA (init_lora_weights=False, so it changes the images) of the UNet's attention, and of
    the text encoder's if asked, saved the way diffusers' training scripts save theirs."""
    torch.manual_seed(11)
    pipe = StableDiffusionPipeline.from_pretrained(folder)
    targets = {"unet": ["to_q", "to_k", "to_v", "to_out.0"], "text_encoder": ["q_proj", "k_proj", "v_proj"]}
    layers = {}
    for part in ("unet", "text_encoder") if text_encoder else ("unet",):
        config = LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=targets[part])
        module = getattr(pipe, part)
        # peft itself (transformers' add_adapter wants a newer peft than the index here has).
        inject_adapter_in_model(config, module)
        with torch.no_grad():  # a stronger adapter than peft's random init, so its effect is plain to see
            for name, weight in module.named_parameters():
                if "lora_B" in name:
                    weight.mul_(4)
        layers[f"{part}_lora_layers"] = get_peft_model_state_dict(module)
    StableDiffusionPipeline.save_lora_weights(path, **layers)
    return path


def tiny_sd_folder(path: Path) -> Path:
    """A tiny SD diffusers folder (the `tiny` preset's architecture, seed 5) at `path`."""
    build_preset("tiny", seed=5).diffusers_pipeline().save_pretrained(path)
    return path
