"""nn.Module wrappers that give each network the inputs and outputs of its `t2i.contract` spec, per
family, so that tracing writes ONNX graphs with exactly the contract's tensor names and order."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from t2i import contract


class TextEncoder(nn.Module):
    """SD: the last hidden state."""

    def __init__(self, text_encoder: Any):
        super().__init__()
        self.text_encoder = text_encoder

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(input_ids, return_dict=False)[0]


class SdxlTextEncoder(nn.Module):
    """SDXL: the penultimate hidden state, and for the second encoder its pooled projection too."""

    def __init__(self, text_encoder: Any, pooled: bool):
        super().__init__()
        self.text_encoder = text_encoder
        self.pooled = pooled

    def forward(self, input_ids: torch.Tensor) -> Any:
        output = self.text_encoder(input_ids, output_hidden_states=True)
        if self.pooled:
            return output.hidden_states[-2], output.text_embeds
        return output.hidden_states[-2]


class UNet(nn.Module):
    def __init__(self, unet: Any):
        super().__init__()
        self.unet = unet

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor):
        return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]


class SdxlUNet(nn.Module):
    def __init__(self, unet: Any):
        super().__init__()
        self.unet = unet

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        text_embeds: torch.Tensor,
        time_ids: torch.Tensor,
    ):
        added = {"text_embeds": text_embeds, "time_ids": time_ids}
        return self.unet(sample, timestep, encoder_hidden_states, added_cond_kwargs=added, return_dict=False)[
            0
        ]


class VaeDecoder(nn.Module):
    def __init__(self, vae: Any):
        super().__init__()
        self.vae = vae

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latent, return_dict=False)[0]


class VaeEncoder(nn.Module):
    def __init__(self, vae: Any):
        super().__init__()
        self.vae = vae

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        distribution = self.vae.encode(image, return_dict=False)[0]
        return distribution.mean, distribution.logvar


def network_modules(components: Any) -> dict[str, nn.Module]:
    """Spec name -> the module to trace, for the components' family."""
    vae = {
        contract.VAE_DECODER.name: VaeDecoder(components.vae),
        contract.VAE_ENCODER.name: VaeEncoder(components.vae),
    }
    if components.family == "sdxl":
        first, second = components.text_encoders
        return {
            contract.SDXL_TEXT_ENCODER.name: SdxlTextEncoder(first, pooled=False),
            contract.SDXL_TEXT_ENCODER_2.name: SdxlTextEncoder(second, pooled=True),
            contract.SDXL_UNET.name: SdxlUNet(components.unet),
            **vae,
        }
    return {
        contract.TEXT_ENCODER.name: TextEncoder(components.text_encoder),
        contract.UNET.name: UNet(components.unet),
        **vae,
    }
