"""Export each network to ONNX under the tensor names of `t2i.contract`, then check it against PyTorch."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from export.components import Components
from t2i import contract
from t2i.contract import ModelSpec
from t2i.onnx_session import create_session

# Protobuf's hard limit; larger models keep their weights in one external data file beside model.onnx.
PROTOBUF_LIMIT = 2 * 1024**3
EXTERNAL_DATA_FILENAME = "model.onnx.data"


class TextEncoder(nn.Module):
    def __init__(self, text_encoder: Any):
        super().__init__()
        self.text_encoder = text_encoder

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(input_ids, return_dict=False)[0]


class UNet(nn.Module):
    def __init__(self, unet: Any):
        super().__init__()
        self.unet = unet

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor):
        return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]


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


@dataclass
class NetworkExport:
    spec: ModelSpec
    module: nn.Module
    # Inputs to trace with, and different ones (batch and size) to verify, so dynamic axes are exercised.
    trace_inputs: tuple[torch.Tensor, ...]
    verify_inputs: tuple[torch.Tensor, ...]


def plan_exports(components: Components) -> list[NetworkExport]:
    meta = components.metadata()
    channels, hidden, text_len = meta.latent_channels, meta.text_hidden_size, meta.tokenizer_max_length
    # Small sizes keep export and verification quick; the smallest latent side the UNet accepts.
    latent_unit = meta.size_multiple // meta.vae_scale_factor
    generator = torch.Generator().manual_seed(0)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=generator)

    def ids(batch: int) -> torch.Tensor:
        return torch.randint(0, components.tokenizer.vocab_size, (batch, text_len), generator=generator)

    def unet_inputs(batch: int, h: int, w: int) -> tuple[torch.Tensor, ...]:
        timestep = torch.full((batch,), 999.0 if batch == 1 else 421.0)
        return randn(batch, channels, h, w), timestep, randn(batch, text_len, hidden)

    a, b = 2 * latent_unit, 3 * latent_unit
    return [
        NetworkExport(contract.TEXT_ENCODER, TextEncoder(components.text_encoder), (ids(1),), (ids(2),)),
        NetworkExport(contract.UNET, UNet(components.unet), unet_inputs(1, a, a), unet_inputs(2, a, b)),
        NetworkExport(
            contract.VAE_DECODER,
            VaeDecoder(components.vae),
            (randn(1, channels, a, a),),
            (randn(2, channels, b, a),),
        ),
        NetworkExport(
            contract.VAE_ENCODER,
            VaeEncoder(components.vae),
            (randn(1, 3, a * meta.vae_scale_factor, a * meta.vae_scale_factor).clamp(-1, 1),),
            (randn(2, 3, a * meta.vae_scale_factor, b * meta.vae_scale_factor).clamp(-1, 1),),
        ),
    ]


def dynamic_axes(spec: ModelSpec) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    for tensor in (*spec.inputs, *spec.outputs):
        axes[tensor.name] = {i: f"{tensor.name}_{i}" for i, d in enumerate(tensor.dims) if d == -1}
    return axes


def export_onnx(job: NetworkExport, path: Path, opset: int) -> None:
    """Write `path` (and `model.onnx.data` beside it when the weights pass protobuf's 2 GB limit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        traced = Path(tmp) / contract.ONNX_FILENAME
        with torch.no_grad(), warnings.catch_warnings():
            # Tracing warns at every Python-level shape check in diffusers/transformers; the verification
            # at another batch and size below is what tells whether the graph generalises.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                job.module,
                job.trace_inputs,
                str(traced),
                input_names=[t.name for t in job.spec.inputs],
                output_names=[t.name for t in job.spec.outputs],
                dynamic_axes=dynamic_axes(job.spec),
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        (path.parent / EXTERNAL_DATA_FILENAME).unlink(missing_ok=True)
        weights_size = sum(f.stat().st_size for f in Path(tmp).iterdir())
        if weights_size < PROTOBUF_LIMIT:
            shutil.move(traced, path)
        else:
            # The exporter scatters large weights over one file per tensor; gather them into one file.
            model = onnx.load(str(traced))
            onnx.save_model(
                model,
                str(path),
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=EXTERNAL_DATA_FILENAME,
                size_threshold=1024,
            )
            # Readable by a server running as another user (the official container, say).
            (path.parent / EXTERNAL_DATA_FILENAME).chmod(0o644)


@dataclass
class Verification:
    network: str
    max_abs_diff: float
    reference_scale: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def verify_onnx(job: NetworkExport, path: Path, atol: float = 1e-3, rtol: float = 1e-3) -> Verification:
    """Run the ONNX file once in onnxruntime and compare with the PyTorch module on the same input."""
    with torch.no_grad():
        reference = job.module(*job.verify_inputs)
    references = reference if isinstance(reference, tuple) else (reference,)
    session = create_session(path)
    feeds = {t.name: x.numpy() for t, x in zip(job.spec.inputs, job.verify_inputs, strict=True)}
    outputs = session.run([t.name for t in job.spec.outputs], feeds)
    diff = max(float(np.abs(o - r.numpy()).max()) for o, r in zip(outputs, references, strict=True))
    scale = max(float(r.abs().max()) for r in references)
    return Verification(job.spec.name, diff, scale, atol + rtol * scale)
