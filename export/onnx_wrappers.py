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
    """Any family's UNet with its spec's inputs in the spec's order: SDXL's added conditions
    (text_embeds, time_ids) and an LCM UNet's guidance embedding (timestep_cond) by name."""

    def __init__(self, unet: Any, spec: contract.ModelSpec):
        super().__init__()
        self.unet = unet
        self.input_names = [t.name for t in spec.inputs]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.input_names, inputs, strict=True))
        added = {name: named[name] for name in ("text_embeds", "time_ids") if name in named}
        return self.unet(
            named["sample"],
            named["timestep"],
            named["encoder_hidden_states"],
            timestep_cond=named.get("timestep_cond"),
            added_cond_kwargs=added or None,
            return_dict=False,
        )[0]


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
    unet_spec = components.metadata().network(contract.UNET.name)
    modules: dict[str, nn.Module] = {
        contract.UNET.name: UNet(components.unet, unet_spec),
        contract.VAE_DECODER.name: VaeDecoder(components.vae),
        contract.VAE_ENCODER.name: VaeEncoder(components.vae),
    }
    if components.family == "sdxl":
        first, second = components.text_encoders
        modules[contract.SDXL_TEXT_ENCODER.name] = SdxlTextEncoder(first, pooled=False)
        modules[contract.SDXL_TEXT_ENCODER_2.name] = SdxlTextEncoder(second, pooled=True)
    else:
        modules[contract.TEXT_ENCODER.name] = TextEncoder(components.text_encoder)
    return modules
