"""The torch backend: a served model's networks run as the checkpoint's own diffusers/transformers modules
(loaded with `from_pretrained` from the diffusers folder export saved, not traced), with the LoRA adapters
of each call applied as diffusers' `load_lora_weights` + `set_adapters` apply them.

`TorchNetwork` is one network (what a Triton network model of this backend holds); `TorchNetworks` is the
`t2i.denoise.Networks` of every network of a model in this process, for tests and benchmarks.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from t2i import contract
from t2i.contract import ModelMetadata, ModelSpec
from t2i.network_modules import component_dir, wrap_network
from t2i.request import Loras

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def load_component(folder: Path, directory: str, dtype: torch.dtype, device: torch.device) -> nn.Module:
    """One component of a diffusers folder, by the class its model_index.json names (as diffusers loads
    it), in `dtype` on `device`."""
    index = json.loads((folder / "model_index.json").read_text())
    library, class_name = index[directory]
    component_class = getattr(importlib.import_module(library), class_name)
    module = component_class.from_pretrained(folder / directory, torch_dtype=dtype)
    return module.to(device).eval()


def pipeline_class(folder: Path) -> Any:
    """The folder's diffusers pipeline class: its LoRA loader knows the family's adapter formats."""
    import diffusers

    return getattr(diffusers, json.loads((folder / "model_index.json").read_text())["_class_name"])


class TorchNetwork:
    """One network of a served model over its component; adapters are loaded from `loras_dir` when a call
    first names them, and each call enables exactly the ones it names, at their scales."""

    def __init__(
        self,
        folder: Path,
        metadata: ModelMetadata,
        spec: ModelSpec,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
        loras_dir: Path | None = None,
    ):
        self.spec = spec
        self.device = torch.device(device)
        self.directory = component_dir(spec.name)
        self.component: Any = load_component(folder, self.directory, dtype, self.device)
        self.module = wrap_network(metadata.family, spec, self.component)
        self.folder = folder
        self.loras_dir = loras_dir
        self.takes_adapters = metadata.family in contract.LORA_FAMILIES and (
            self.directory == "unet" or self.directory.startswith("text_encoder")
        )
        self.loaded: dict[str, bool] = {}  # adapter name -> whether it has weights for this network

    def __call__(self, inputs: Mapping[str, torch.Tensor], loras: Loras = ()) -> dict[str, torch.Tensor]:
        if self.takes_adapters:
            self.apply(loras)
        with torch.inference_mode():
            outputs = self.module(*(inputs[t.name].to(self.device) for t in self.spec.inputs))
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return {t.name: o for t, o in zip(self.spec.outputs, outputs, strict=True)}

    def apply(self, loras: Loras) -> None:
        from diffusers.loaders.lora_base import (
            disable_lora_for_text_encoder,
            enable_lora_for_text_encoder,
            set_adapters_for_text_encoder,
        )

        for name, _ in loras:
            if name not in self.loaded:
                self.loaded[name] = self.load(name)
        active = [(name, scale) for name, scale in loras if self.loaded[name]]
        if not self.loaded:
            return  # never adapted: the plain module
        is_unet = self.directory == "unet"
        if not active:
            # peft's disabled adapter layers return the base layer's output: exactly the plain network.
            if is_unet:
                self.component.disable_lora()
            else:
                disable_lora_for_text_encoder(self.component)
            return
        names, scales = [n for n, _ in active], [s for _, s in active]
        if is_unet:
            self.component.enable_lora()
            self.component.set_adapters(names, scales)
        else:
            enable_lora_for_text_encoder(self.component)
            set_adapters_for_text_encoder(names, self.component, scales)

    def load(self, name: str) -> bool:
        """Load adapter `name` into this network as load_lora_weights does; False if it has no weights
        for it (a LoRA of the UNet alone, say)."""
        if self.loras_dir is None:
            raise ValueError(f"no LoRA adapters are served here, asked for {name!r}")
        loader = pipeline_class(self.folder)
        state_dict, alphas = loader.lora_state_dict(str(self.loras_dir / name / contract.LORA_FILENAME))
        if not any(key.startswith(f"{self.directory}.") for key in state_dict):
            return False
        if self.directory == "unet":
            loader.load_lora_into_unet(state_dict, alphas, self.component, adapter_name=name)
        else:
            loader.load_lora_into_text_encoder(
                state_dict, alphas, self.component, prefix=self.directory, adapter_name=name
            )
        return True


class TorchNetworks:
    """`t2i.denoise.Networks` of one served model of a repository exported with `--backend torch`, in this
    process; each network is loaded when first run."""

    def __init__(
        self, repository: Path, served: str, dtype: torch.dtype = torch.float32, device: str = "cpu"
    ):
        self.device = torch.device(device)
        self.repository, self.served, self.dtype = repository, served, dtype
        assets = contract.model_assets_dir(repository, served)
        self.metadata = ModelMetadata.load(assets / contract.METADATA_FILENAME)
        self.networks: dict[str, TorchNetwork] = {}

    def run(
        self, spec: ModelSpec, inputs: Mapping[str, torch.Tensor], loras: Loras = ()
    ) -> dict[str, torch.Tensor]:
        if spec.name not in self.networks:
            vae = component_dir(spec.name) == "vae"
            self.networks[spec.name] = TorchNetwork(
                contract.torch_weights_dir(self.repository, self.served),
                self.metadata,
                spec,
                torch.float32 if vae else self.dtype,
                self.device,
                contract.model_assets_dir(self.repository, self.served) / contract.LORAS_DIRNAME,
            )
        return self.networks[spec.name](inputs, loras)
