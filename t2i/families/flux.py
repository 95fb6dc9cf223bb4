"""Flux.1 (schnell, dev), as diffusers' FluxPipeline: CLIP-L's pooled output and T5's sequence condition a
flow-matching transformer on 2x2-packed latents. No unconditional half: dev embeds the guidance scale,
schnell takes none. The loop keeps latents unpacked [N, C, h, w] (inpainting and previews work on them
as on a UNet's); only the transformer call packs them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from t2i import contract
from t2i.families.base import Conditioning, Family, RunNetwork, split_per_request, tokenize
from t2i.request import GenerationRequest


def calculate_shift(image_tokens: int, config: Mapping[str, Any]) -> float:
    """The schedule's shift `mu` for this many image tokens, linear between the checkpoint's base and
    max (diffusers' calculate_shift, with its defaults)."""
    base_len, max_len = config.get("base_image_seq_len", 256), config.get("max_image_seq_len", 4096)
    base_shift, max_shift = config.get("base_shift", 0.5), config.get("max_shift", 1.15)
    slope = (max_shift - base_shift) / (max_len - base_len)
    return float(image_tokens * slope + base_shift - slope * base_len)


def pack(latents: torch.Tensor) -> torch.Tensor:
    """[N, C, h, w] -> [N, (h/2)(w/2), 4C]: each 2x2 cell one token (diffusers' _pack_latents)."""
    n, c, h, w = latents.shape
    packed = latents.view(n, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return packed.reshape(n, (h // 2) * (w // 2), c * 4)


def unpack(tokens: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    n, c, h, w = shape
    cells = tokens.view(n, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return cells.reshape(n, c, h, w)


def image_ids(height: int, width: int, device: torch.device) -> torch.Tensor:
    """Each token's (0, row, column), the transformer's rotary positions."""
    ids = torch.zeros(height, width, 3)
    ids[..., 1] += torch.arange(height)[:, None]
    ids[..., 2] += torch.arange(width)[None, :]
    return ids.reshape(height * width, 3).to(device)


class FluxFamily(Family):
    text_encoders = 2

    def encode(
        self, run: RunNetwork, requests: list[GenerationRequest], device: torch.device
    ) -> list[Conditioning]:
        texts = [request.prompt for request in requests]
        clip_ids = tokenize(self.tokenizers[0], texts, device)
        t5_ids = tokenize(self.tokenizers[1], texts, device, self.metadata.t5_max_length)
        pooled = run(contract.FLUX_TEXT_ENCODER, {"input_ids": clip_ids})["text_embeds"]
        sequence = run(contract.FLUX_T5_ENCODER, {"input_ids": t5_ids})["hidden_states"]
        conditionings = split_per_request(
            requests,
            self.metadata,
            {"encoder_hidden_states": sequence.float(), "pooled_projections": pooled.float()},
        )
        if self.metadata.guidance_embeds:
            for request, conditioning in zip(requests, conditionings, strict=True):
                conditioning["guidance"] = torch.full(
                    (request.num_images,), request.guidance_scale, dtype=torch.float32, device=device
                )
        return conditionings

    def set_timesteps(
        self, scheduler: Any, steps: int, latent_shape: tuple[int, ...], device: torch.device
    ) -> None:
        # FluxPipeline's schedule: sigmas 1 .. 1/steps, shifted for the image's token count where the
        # checkpoint shifts dynamically (dev); schnell's scheduler ignores mu.
        sigmas = np.linspace(1.0, 1 / steps, steps)
        tokens = (latent_shape[-2] // 2) * (latent_shape[-1] // 2)
        scheduler.set_timesteps(sigmas=sigmas, mu=calculate_shift(tokens, scheduler.config), device=device)

    def denoiser_inputs(
        self, sample: torch.Tensor, timestep: torch.Tensor, conditioning: Conditioning
    ) -> dict[str, torch.Tensor]:
        height, width = sample.shape[-2] // 2, sample.shape[-1] // 2
        return {
            "hidden_states": pack(sample),
            # The transformer takes t in [0, 1] and scales it back itself.
            "timestep": timestep / 1000,
            "img_ids": image_ids(height, width, sample.device),
            **conditioning,
        }

    def prediction(self, outputs: Mapping[str, torch.Tensor], sample: torch.Tensor) -> torch.Tensor:
        return unpack(outputs["velocity"], sample.shape)
