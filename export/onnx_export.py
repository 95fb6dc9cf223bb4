"""Export each network to ONNX under the tensor names of `t2i.contract`, then check it against PyTorch."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn
from torch.onnx import symbolic_helper

from export.components import Components
from export.precision import has_half_tensors, widen_to_fp32
from t2i import contract
from t2i.contract import ModelSpec, TensorSpec
from t2i.families.flux import image_ids
from t2i.network_modules import component_dir, module_dtype, wrap_network
from t2i.onnx_session import create_session

# Protobuf's hard limit; larger models keep their weights in one external data file beside model.onnx.
PROTOBUF_LIMIT = 2 * 1024**3
EXTERNAL_DATA_FILENAME = "model.onnx.data"


class VerificationFailed(RuntimeError):
    pass


@dataclass
class NetworkExport:
    spec: ModelSpec
    module: nn.Module
    # Inputs to trace with, and different ones (batch and size) to verify, so dynamic axes are exercised.
    trace_inputs: tuple[torch.Tensor, ...]
    verify_inputs: tuple[torch.Tensor, ...]


def plan_exports(components: Components) -> list[NetworkExport]:
    """One export per network of the family, with inputs made from the contract's dims: traced at one
    image and a square size, verified at two and another aspect, so dynamic axes are exercised."""
    meta = components.metadata()
    generator = torch.Generator().manual_seed(0)
    # Small sizes keep export and verification quick: multiples of the smallest latent side the UNet takes.
    latent_unit = meta.size_multiple // meta.vae_scale_factor
    trace = {
        contract.BATCH: 1,
        contract.LATENT_HEIGHT: 2 * latent_unit,
        contract.LATENT_WIDTH: 2 * latent_unit,
    }
    verify = {
        contract.BATCH: 2,
        contract.LATENT_HEIGHT: 2 * latent_unit,
        contract.LATENT_WIDTH: 3 * latent_unit,
    }
    for axes in (trace, verify):
        axes[contract.TOKENS] = meta.tokenizer_max_length
        axes[contract.HEIGHT] = axes[contract.LATENT_HEIGHT] * meta.vae_scale_factor
        axes[contract.WIDTH] = axes[contract.LATENT_WIDTH] * meta.vae_scale_factor
        axes[contract.IMAGE_TOKENS] = (axes[contract.LATENT_HEIGHT] // 2) * (axes[contract.LATENT_WIDTH] // 2)
    # Ids every tokenizer of the model knows (T5's vocabulary is smaller than CLIP's).
    vocabulary = min(len(tokenizer) for tokenizer in components.tokenizers)

    def make_input(spec: ModelSpec, tensor: TensorSpec, axes: dict[str, int]) -> torch.Tensor:
        shape = [axes[d] if d in contract.DYNAMIC_AXES else contract.fixed_dim(meta, d) for d in tensor.dims]
        if tensor.name == "input_ids":
            return torch.randint(0, vocabulary, shape, generator=generator)
        if tensor.name == "timestep":
            timestep = 999.0 if axes is trace else 421.0
            # Flux's transformer takes t / 1000, as FluxPipeline sends it.
            return torch.full(
                shape, timestep / 1000 if spec.name == contract.FLUX_TRANSFORMER.name else timestep
            )
        if tensor.name == "img_ids":
            return image_ids(
                axes[contract.LATENT_HEIGHT] // 2, axes[contract.LATENT_WIDTH] // 2, torch.device("cpu")
            )
        if tensor.name == "guidance":
            return torch.full(shape, 3.5 if axes is trace else 5.0)
        if tensor.name == "time_ids":
            height, width = axes[contract.HEIGHT], axes[contract.WIDTH]
            return torch.tensor([[height, width, 0, 0, height, width]] * shape[0], dtype=torch.float32)
        values = torch.randn(shape, generator=generator)
        return values.clamp(-1, 1) if tensor.name == "image" else values

    return [
        NetworkExport(
            spec,
            wrap_network(meta.family, spec, components.component(component_dir(spec.name))),
            tuple(make_input(spec, t, trace) for t in spec.inputs),
            tuple(make_input(spec, t, verify) for t in spec.inputs),
        )
        for spec in meta.networks
    ]


def dynamic_axes(spec: ModelSpec) -> dict[str, dict[int, str]]:
    """The contract's dynamic axes, named after it (the same name on two inputs ties their sizes)."""
    axes: dict[str, dict[int, str]] = {}
    for tensor in (*spec.inputs, *spec.outputs):
        axes[tensor.name] = {i: str(d) for i, d in enumerate(tensor.dims) if d in contract.DYNAMIC_AXES}
    return axes


@symbolic_helper.parse_args("v", "is", "v", "f")
def _rms_norm(g: Any, x: Any, normalized_shape: list[int], weight: Any, eps: float | None) -> Any:
    """torch.nn.RMSNorm (Flux's and SD 3.5's query/key norms) for opsets before ONNX's own RMSNormalization
    (23), which the TorchScript exporter has no symbolic for: x / sqrt(mean(x^2) + eps) * weight."""
    axes = list(range(-len(normalized_shape), 0))
    epsilon = torch.finfo(torch.float32).eps if eps is None else eps
    mean = g.op("ReduceMean", g.op("Mul", x, x), axes_i=axes, keepdims_i=1)
    root = g.op(
        "Sqrt", g.op("Add", mean, g.op("Constant", value_t=torch.tensor(epsilon, dtype=torch.float32)))
    )
    normed = g.op("Div", x, root)
    return normed if symbolic_helper._is_none(weight) else g.op("Mul", normed, weight)


torch.onnx.register_custom_op_symbolic("aten::rms_norm", _rms_norm, 17)


@contextmanager
def _traceable_unflatten() -> Iterator[None]:
    """Tensor.unflatten as a reshape of the input's traced sizes while exporting. The TorchScript
    exporter gives unflatten's output the static shape of the trace example, so later shape reads
    (Flux's rotary embedding, its attention's split) would fix the batch and the image tokens."""
    original = torch.Tensor.unflatten

    def unflatten(self: torch.Tensor, dim: int, sizes: Any) -> torch.Tensor:
        dim = dim % self.dim()
        return self.reshape(*self.shape[:dim], *sizes, *self.shape[dim + 1 :])

    torch.Tensor.unflatten = unflatten  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        torch.Tensor.unflatten = original  # type: ignore[method-assign]


@contextmanager
def _bf16_attention(enabled: bool) -> Iterator[None]:
    """scaled_dot_product_attention as its math (softmax(q k^T scale) v) while exporting a bf16 network:
    the TorchScript exporter's own symbolic casts the scale to complex128 for a bf16 query."""
    if not enabled:
        yield
        return
    original = torch.nn.functional.scaled_dot_product_attention

    def attention(
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attn_mask: torch.Tensor | None = None,
        dropout_p: float = 0.0,
        is_causal: bool = False,
        scale: float | None = None,
        enable_gqa: bool = False,
    ) -> torch.Tensor:
        if enable_gqa:
            repeats = query.shape[-3] // key.shape[-3]
            key, value = key.repeat_interleave(repeats, -3), value.repeat_interleave(repeats, -3)
        # A Python number (the head size is static): a traced size's power would be cast to bf16 by the
        # same faulty mapping.
        scale = int(query.shape[-1]) ** -0.5 if scale is None else scale
        scores = (query * scale) @ key.transpose(-2, -1)
        lowest = torch.finfo(scores.dtype).min  # not -inf: a fully masked row stays finite
        if is_causal:
            kept = torch.ones(scores.shape[-2], scores.shape[-1], dtype=torch.bool).tril()
            scores = scores.masked_fill(~kept, lowest)
        if attn_mask is not None:
            scores = (
                scores.masked_fill(~attn_mask, lowest)
                if attn_mask.dtype == torch.bool
                else scores + attn_mask
            )
        return scores.softmax(-1) @ value

    torch.nn.functional.scaled_dot_product_attention = attention  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.nn.functional.scaled_dot_product_attention = original


def export_onnx(job: NetworkExport, path: Path, opset: int) -> None:
    """Write `path` (and `model.onnx.data` beside it when the weights pass protobuf's 2 GB limit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        traced = Path(tmp) / contract.ONNX_FILENAME
        bf16 = module_dtype(job.module) == torch.bfloat16
        with torch.no_grad(), warnings.catch_warnings(), _traceable_unflatten(), _bf16_attention(bf16):
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
                # The TorchScript exporter's constant folding gives folded bf16 constants a wrong type
                # ("ScalarType ComplexDouble is an unexpected tensor scalar type"); onnxruntime and
                # TensorRT fold constants themselves.
                do_constant_folding=not bf16,
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


@contextmanager
def _fp32_graph(path: Path) -> Iterator[Path]:
    """`path` itself, or for a half-precision graph a widened copy of it beside it (deleted after)."""
    if not has_half_tensors(onnx.load(str(path), load_external_data=False)):
        yield path
        return
    model = onnx.load(str(path))
    widen_to_fp32(model)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        copy = Path(tmp) / contract.ONNX_FILENAME
        large = sum(len(t.raw_data) for t in model.graph.initializer) >= PROTOBUF_LIMIT
        onnx.save_model(
            model,
            str(copy),
            save_as_external_data=large,
            all_tensors_to_one_file=True,
            location=EXTERNAL_DATA_FILENAME,
        )
        del model  # onnxruntime reads the copy; the FP32 weights are not held twice
        yield copy


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
    """Run the ONNX file once in onnxruntime and compare with the PyTorch module on the same input. A graph
    in half precision runs widened to FP32 (onnxruntime's CPU kernels are FP32), against the module in its
    own dtype: `rtol` should allow for that dtype's rounding."""
    with torch.no_grad():
        reference = job.module(*job.verify_inputs)
    references = reference if isinstance(reference, tuple) else (reference,)
    references = tuple(r.float() for r in references)
    if not all(bool(torch.isfinite(r).all()) for r in references):
        raise VerificationFailed(
            f"{job.spec.name} gives non-finite outputs in {module_dtype(job.module)}: it overflows in this "
            "precision (export it in bf16 or fp32)"
        )
    with _fp32_graph(path) as runnable:
        session = create_session(runnable)
        feeds = {t.name: x.numpy() for t, x in zip(job.spec.inputs, job.verify_inputs, strict=True)}
        outputs = session.run([t.name for t in job.spec.outputs], feeds)
    diff = max(float(np.abs(o - r.numpy()).max()) for o, r in zip(outputs, references, strict=True))
    scale = max(float(r.abs().max()) for r in references)
    return Verification(job.spec.name, diff, scale, atol + rtol * scale)


def verify_torch(
    job: NetworkExport, folder: Path, metadata: Any, dtype: torch.dtype, atol: float, rtol: float
) -> Verification:
    """The torch backend's network as it will be served (loaded from the saved folder) against the module
    export holds, on the same input."""
    from t2i.torch_networks import TorchNetwork

    served = TorchNetwork(folder, metadata, job.spec, dtype)
    feeds = dict(zip((t.name for t in job.spec.inputs), job.verify_inputs, strict=True))
    with torch.no_grad():
        reference = job.module(*job.verify_inputs)
    references = reference if isinstance(reference, tuple) else (reference,)
    outputs = served(feeds)
    diff = max(
        float((outputs[t.name].float() - r.float()).abs().max())
        for t, r in zip(job.spec.outputs, references, strict=True)
    )
    scale = max(float(r.float().abs().max()) for r in references)
    return Verification(job.spec.name, diff, scale, atol + rtol * scale)
