"""`python -m export`: a checkpoint folder or a built-in preset -> one more served model in a verified
Triton model repository (the models already there stay; `--remove NAME` takes one out)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from export.components import UnsupportedModel, checkpoint_precision, load_checkpoint, supported_families
from export.loras import LoraError, add_lora, fuse_loras, parse_fused
from export.precision import PRECISIONS, PrecisionError, check_openvino_precision, resolve_precision
from export.presets import PRESETS, build_preset, preset_precision
from export.repository import (
    ExportOptions,
    VerificationFailed,
    fingerprint,
    is_up_to_date,
    remove_model,
    write_model_repository,
)
from export.tensorrt_engine import TensorRTUnavailable
from export.triton_config import BACKENDS, OPENVINO_BACKENDS
from t2i import contract
from t2i.onnx_networks import only_model


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", choices=PRESETS, help="built-in architecture with seeded random weights")
    source.add_argument(
        "--model",
        type=Path,
        help=f"local diffusers-format folder of a supported family: {supported_families()}",
    )
    source.add_argument("--remove", metavar="NAME", help="take the served model NAME out of the repository")
    source.add_argument(
        "--lora",
        type=Path,
        metavar="PATH",
        help="add a LoRA adapter (a .safetensors file, or a folder holding one, in any format diffusers' "
        "load_lora_weights reads) to a served model of the torch backend, applied per request by `loras`",
    )
    parser.add_argument(
        "--base",
        metavar="SERVED",
        help="--lora: the served model it adapts (default: the repository's only one)",
    )
    parser.add_argument("--output", type=Path, default=Path("model_repository"), help="model repository")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="python-onnxruntime",
        help="python-onnxruntime: CPU, the Triton of the nvidia-pytriton wheel; onnxruntime: native backend "
        "of the official container; onnxruntime-cuda: same, on the GPU; tensorrt: engines (needs a GPU); "
        "torch: the checkpoint's own diffusers modules in PyTorch, with LoRA adapters per request; "
        "python-openvino: OpenVINO IR in the embedded Triton (CPU); openvino: the official container's "
        "OpenVINO backend",
    )
    parser.add_argument(
        "--fuse-lora",
        action="append",
        default=[],
        metavar="PATH[:SCALE]",
        help="fuse a LoRA adapter into the exported weights (any backend; the result is a model of its own, "
        "so give it a --name); repeatable",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="the torch backend's device")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="dtype the networks are loaded, traced and served in; auto: the checkpoint's own on a GPU "
        "backend (tensorrt, onnxruntime-cuda), fp32 on the CPU backends; on the OpenVINO backends what "
        "OpenVINO computes in (auto: bf16 where the serving CPU has it), or int8: the denoiser quantized "
        "to int8 by NNCF (weights and activations), the rest computed in what auto picks",
    )
    parser.add_argument(
        "--half-vae",
        "--fp16-vae",
        action="store_true",
        help="the VAE in --precision's half type too (the SD 1.x/2.x VAE overflows in fp16: NaN images)",
    )
    parser.add_argument("--timing-cache", default="var/tensorrt_timing.cache", help="TensorRT timing cache")
    parser.add_argument(
        "--name",
        help="served model name (default: the preset or folder name); an existing one is replaced; "
        "with --lora, the adapter's name (default: its file or folder name)",
    )
    parser.add_argument("--seed", type=int, default=0, help="weight seed of a preset")
    parser.add_argument(
        "--native-size",
        type=int,
        help="serve at this square resolution instead of the UNet's training size (e.g. 256 for a fast SD)",
    )
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--atol", type=float, default=1e-3, help="verification tolerance, absolute part")
    parser.add_argument("--rtol", type=float, default=1e-3, help="... and relative to the output's max")
    parser.add_argument("--force", action="store_true", help="export this model again even if up to date")
    return parser.parse_args(argv)


def source_description(args: argparse.Namespace) -> dict:
    fused = [(spec, *_stamp(Path(spec.rpartition(":")[0] or spec))) for spec in args.fuse_lora]
    if args.preset:
        return {
            "preset": args.preset,
            "seed": args.seed,
            "name": args.name,
            "native": args.native_size,
            "fused": fused,
        }
    files = sorted(p for p in args.model.rglob("*") if p.is_file())
    return {
        "model": str(args.model.resolve()),
        "name": args.name,
        "native": args.native_size,
        "files": [(str(p.relative_to(args.model)), *_stamp(p)) for p in files],
        "fused": fused,
    }


def _stamp(path: Path) -> tuple[int, int]:
    if not path.exists():
        return (0, 0)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return (sum(p.stat().st_size for p in files), max((p.stat().st_mtime_ns for p in files), default=0))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    if args.opset < 17:
        print("error: --opset must be 17 or newer", file=sys.stderr)
        return 2
    if args.remove:
        return remove(args.output, args.remove)
    if args.lora:
        return add_lora_command(args.output, args.lora, args.name, args.base)
    openvino_precision = "auto"
    try:
        stored = preset_precision(args.preset) if args.preset else checkpoint_precision(args.model)
        if args.backend in OPENVINO_BACKENDS:
            # Traced and verified in FP32; the precision is what OpenVINO computes in.
            openvino_precision = check_openvino_precision(args.precision)
            precision = "fp32"
        else:
            precision = resolve_precision(args.precision, args.backend, stored, args.device)
    except PrecisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except UnsupportedModel as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    options = ExportOptions(
        backend=args.backend,
        opset=args.opset,
        atol=args.atol,
        rtol=args.rtol,
        precision=precision,
        half_vae=args.half_vae,
        timing_cache=args.timing_cache,
        device=args.device,
        openvino_precision=openvino_precision,
    )
    served = args.name or (args.preset if args.preset else args.model.resolve().name)
    try:
        contract.check_served_name(served)
    except ValueError as exc:
        print(f"error: {exc}; pass --name", file=sys.stderr)
        return 2
    digest = fingerprint(source_description(args), options)
    if not args.force and is_up_to_date(args.output, served, digest):
        print(
            f"{args.output}: {served!r} is up to date for this input; nothing to do (--force: export again)"
        )
        return 0
    source = f"preset {args.preset}" if args.preset else str(args.model)
    print(f"building components from {source} in {precision} (stored in {stored}) ...")
    try:
        if args.preset:
            components = build_preset(args.preset, args.seed, options.dtype, options.vae_dtype)
        else:
            components = load_checkpoint(args.model, dtype=options.dtype, vae_dtype=options.vae_dtype)
    except UnsupportedModel as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (FileNotFoundError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.fuse_lora:
            fuse_loras(components, [parse_fused(spec) for spec in args.fuse_lora])
    except (LoraError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.name:
        components.name = args.name
    if args.native_size:
        multiple = components.metadata().size_multiple
        if args.native_size % multiple:
            print(f"error: --native-size must be a multiple of {multiple} for this model", file=sys.stderr)
            return 2
        components.native_size = args.native_size
    try:
        write_model_repository(components, args.output, options, digest)
    except (VerificationFailed, TensorRTUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    meta = components.metadata()
    others = [name for name in contract.served_models(args.output) if name != meta.name]
    print(
        f"wrote {args.output}: model {meta.name!r}, native {meta.native_width}x{meta.native_height}, "
        f"backend {args.backend}, {precision}"
        + (" (random weights)" if meta.random_weights else "")
        + (f"; also served: {', '.join(others)}" if others else "")
    )
    return 0


def remove(repository: Path, served: str) -> int:
    if not remove_model(repository, served):
        held = ", ".join(contract.served_models(repository)) or "none"
        print(f"error: {repository} does not hold {served!r} (it holds: {held})", file=sys.stderr)
        return 1
    left = ", ".join(contract.served_models(repository)) or "none"
    print(
        f"removed {served!r} from {repository}; still served: {left} (a running Triton unloads it on reload)"
    )
    return 0


def add_lora_command(repository: Path, source: Path, name: str | None, base: str | None) -> int:
    try:
        served = base or only_model(repository)
        added = add_lora(repository, served, source, name)
    except (LoraError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"added LoRA {added!r} to {served!r} in {repository}; requests apply it with "
        f'"loras": [{{"name": "{added}", "scale": 1.0}}] (restart a running server to serve it)'
    )
    return 0
