"""nn.Module wrappers that give each network the inputs and outputs of its `t2i.contract` spec, per
family: export traces them into ONNX graphs with exactly the contract's tensor names and order, and the
torch backend runs them as they are."""

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
    """SDXL and SD3: the penultimate hidden state, and where pooled its projection too (SDXL's second
    encoder, both of SD3's)."""

    def __init__(self, text_encoder: Any, pooled: bool):
        super().__init__()
        self.text_encoder = text_encoder
        self.pooled = pooled

    def forward(self, input_ids: torch.Tensor) -> Any:
        output = self.text_encoder(input_ids, output_hidden_states=True)
        if self.pooled:
            return output.hidden_states[-2], output.text_embeds
        return output.hidden_states[-2]


class PooledTextEncoder(nn.Module):
    """Flux's CLIP: its pooled output only."""

    def __init__(self, text_encoder: Any):
        super().__init__()
        self.text_encoder = text_encoder

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(input_ids, output_hidden_states=False).pooler_output


class T5Encoder(nn.Module):
    """T5's last hidden state (Flux, SD3)."""

    def __init__(self, text_encoder: Any):
        super().__init__()
        self.text_encoder = text_encoder

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(input_ids, output_hidden_states=False)[0]


class FluxTransformer(nn.Module):
    """Flux's transformer; the text tokens' positions are all zeros (FluxPipeline's text_ids), so they
    are made here from the sequence's length rather than sent with every step."""

    def __init__(self, transformer: Any, spec: contract.ModelSpec):
        super().__init__()
        self.transformer = transformer
        self.input_names = [t.name for t in spec.inputs]

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.input_names, inputs, strict=True))
        text = named["encoder_hidden_states"]
        txt_ids = torch.zeros(text.shape[1], 3, dtype=text.dtype, device=text.device)
        return self.transformer(
            hidden_states=named["hidden_states"],
            timestep=named["timestep"],
            guidance=named.get("guidance"),
            pooled_projections=named["pooled_projections"],
            encoder_hidden_states=text,
            txt_ids=txt_ids,
            img_ids=named["img_ids"],
            return_dict=False,
        )[0]


class SD3Transformer(nn.Module):
    def __init__(self, transformer: Any):
        super().__init__()
        self.transformer = transformer

    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        pooled_projections: torch.Tensor,
    ) -> torch.Tensor:
        return self.transformer(
            hidden_states=hidden_states,
            timestep=timestep,
            encoder_hidden_states=encoder_hidden_states,
            pooled_projections=pooled_projections,
            return_dict=False,
        )[0]


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


class Fp32Boundary(nn.Module):
    """A network held in half precision with FP32 inputs and outputs, as the contract's tensors are:
    floating inputs are cast to the network's dtype (as diffusers' pipelines cast theirs), outputs back."""

    def __init__(self, network: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.network = network
        self.dtype = dtype

    def forward(self, *inputs: torch.Tensor) -> Any:
        cast = [x.to(self.dtype) if x.is_floating_point() else x for x in inputs]
        outputs = self.network(*cast)
        if isinstance(outputs, tuple):
            return tuple(o.float() for o in outputs)
        return outputs.float()


def module_dtype(module: nn.Module) -> torch.dtype:
    return next(module.parameters()).dtype


def component_dir(network: str) -> str:
    """The diffusers-folder component a network runs: its own name (text_encoder_2, unet, transformer...),
    both VAE networks the `vae`."""
    return "vae" if network in (contract.VAE_DECODER.name, contract.VAE_ENCODER.name) else network


def wrap_network(family: str, spec: contract.ModelSpec, component: nn.Module) -> nn.Module:
    """The contract's module for network `spec` of `family` over its diffusers/transformers component,
    in eval mode (the exporter puts a wrapper back in the mode it found it, recursively, and a wrapper
    left in training mode would turn the networks' dropout on: T5's is 0.1). A component in half
    precision keeps FP32 edges."""
    wrapped = _wrap(family, spec, component)
    dtype = module_dtype(component)
    return (wrapped if dtype == torch.float32 else Fp32Boundary(wrapped, dtype)).eval()


def _wrap(family: str, spec: contract.ModelSpec, component: Any) -> nn.Module:
    name = spec.name
    if name == contract.VAE_DECODER.name:
        return VaeDecoder(component)
    if name == contract.VAE_ENCODER.name:
        return VaeEncoder(component)
    if name == contract.UNET.name:
        return UNet(component, spec)
    if name == contract.FLUX_TRANSFORMER.name:
        return FluxTransformer(component, spec) if family == "flux" else SD3Transformer(component)
    if family == "sd":
        return TextEncoder(component)
    if family == "sdxl":
        return SdxlTextEncoder(component, pooled=name == contract.SDXL_TEXT_ENCODER_2.name)
    if family == "flux":
        return (
            PooledTextEncoder(component) if name == contract.FLUX_TEXT_ENCODER.name else T5Encoder(component)
        )
    if name == contract.SD3_T5_ENCODER.name:
        return T5Encoder(component)
    return SdxlTextEncoder(component, pooled=True)
