"""Add a served model to a Triton model repository from checkpoint components: one Triton model per
network (`<served>__<network>`), its assets for the shared `pipeline` model, and that model."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from export.components import Components
from export.int8 import denoising_samples, quantize_int8
from export.onnx_export import (
    EXTERNAL_DATA_FILENAME,
    Verification,
    VerificationFailed,
    export_onnx,
    plan_exports,
    verify_onnx,
    verify_torch,
)
from export.openvino_ir import convert_to_openvino, verify_openvino
from export.precision import MIN_RTOL, TORCH_DTYPES
from export.tensorrt_engine import build_engine
from export.tensorrt_profiles import tensorrt_metadata
from export.triton_config import OPENVINO_BACKENDS, network_config, pipeline_config
from t2i import contract

MANIFEST_FILENAME = "export_manifest.json"
EXPORTER_VERSION = 4  # bump when the repository layout changes, so old exports are redone

NETWORK_MODEL_PY = "from t2i.triton_models.onnx_network import TritonPythonModel  # noqa: F401\n"
TORCH_NETWORK_MODEL_PY = "from t2i.triton_models.torch_network import TritonPythonModel  # noqa: F401\n"
OPENVINO_NETWORK_MODEL_PY = "from t2i.triton_models.openvino_network import TritonPythonModel  # noqa: F401\n"
PIPELINE_MODEL_PY = "from t2i.triton_models.pipeline import TritonPythonModel  # noqa: F401\n"
MODEL_PY_HEADER = """\
# Written by `python -m export`; the model's code lives in the t2i package.
# Triton's Python backend stub starts its interpreter without reading PYTHONPATH, so put the serving
# environment's paths (set by t2i.triton_server, or by the container) in front here, .pth files included.
import os
import site
import sys

for _path in reversed(os.environ.get("PYTHONPATH", "").split(os.pathsep)):
    if _path and _path not in sys.path:
        sys.path.insert(0, _path)
        site.addsitedir(_path)
"""


@dataclass(frozen=True)
class ExportOptions:
    backend: str = "python-onnxruntime"
    opset: int = 17
    atol: float = 1e-3
    rtol: float = 1e-3
    precision: str = "fp32"  # resolved (export.precision): fp32, fp16 or bf16
    # The SD 1.x/2.x VAE overflows in FP16 (NaN, black images), so it stays FP32 unless asked otherwise.
    half_vae: bool = False
    timing_cache: str = "var/tensorrt_timing.cache"
    device: str = "cpu"  # the torch backend's: cpu or cuda
    # The OpenVINO backends': what they compute in (t2i.openvino_runtime), or int8 (export.int8).
    openvino_precision: str = "auto"

    def network_precision(self, network: str) -> str:
        is_vae = network in (contract.VAE_DECODER.name, contract.VAE_ENCODER.name)
        return "fp32" if is_vae and not self.half_vae else self.precision

    @property
    def openvino_compute(self) -> str:
        """int8 quantizes the denoiser alone (export.int8): the rest, and its unquantized layers, run
        in what auto picks."""
        return "auto" if self.openvino_precision == "int8" else self.openvino_precision

    @property
    def dtype(self) -> torch.dtype:
        return TORCH_DTYPES[self.precision]

    @property
    def vae_dtype(self) -> torch.dtype:
        return TORCH_DTYPES[self.network_precision(contract.VAE_DECODER.name)]


def fingerprint(source: dict, options: ExportOptions) -> str:
    payload = json.dumps(
        {"source": source, "options": options.__dict__, "v": EXPORTER_VERSION}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def manifest_path(repository: Path, served: str) -> Path:
    return contract.model_assets_dir(repository, served) / MANIFEST_FILENAME


def is_up_to_date(repository: Path, served: str, digest: str) -> bool:
    manifest = manifest_path(repository, served)
    if not manifest.is_file():
        return False
    return json.loads(manifest.read_text()).get("fingerprint") == digest


def network_dirs(repository: Path, served: str) -> list[Path]:
    """The Triton model folders of one served model's networks."""
    prefix = contract.network_model_name(served, "")
    return sorted(p for p in repository.glob(f"{prefix}*") if p.is_dir())


def remove_model(repository: Path, served: str) -> bool:
    """Take one served model out of a repository (its networks and its assets); the others stay. The
    shared pipeline goes with the last model. False if the repository does not hold it."""
    assets = contract.model_assets_dir(repository, served)
    found = assets.is_dir() or bool(network_dirs(repository, served))
    for directory in network_dirs(repository, served):
        shutil.rmtree(directory)
    shutil.rmtree(assets, ignore_errors=True)
    if not contract.served_models(repository):
        shutil.rmtree(repository / contract.PIPELINE.name, ignore_errors=True)
    return found


def remove_pre_catalogue_export(repository: Path) -> str | None:
    """A repository from before the catalogue holds one model under the bare network names; its files are
    replaced by the new layout (the model in it is named, to be exported again if still wanted)."""
    if not contract.is_pre_catalogue(repository):
        return None
    pipeline_dir = contract.version_dir(repository, contract.PIPELINE.name)
    old_name = contract.ModelMetadata.load(pipeline_dir / contract.METADATA_FILENAME).name
    every_network = {spec.name for specs in contract.FAMILY_NETWORKS.values() for spec in specs}
    for network in every_network:
        shutil.rmtree(repository / network, ignore_errors=True)
    for name in (*contract.TOKENIZER_DIRNAMES, contract.SCHEDULER_DIRNAME):
        shutil.rmtree(pipeline_dir / name, ignore_errors=True)
    (pipeline_dir / contract.METADATA_FILENAME).unlink()
    (repository / contract.PIPELINE.name / MANIFEST_FILENAME).unlink(missing_ok=True)
    return old_name


def report_verification(
    triton_name: str, precision: str, runtime: str, result: Verification, progress: tqdm
) -> None:
    tqdm.write(
        f"{triton_name}: {precision}, max abs diff {runtime} vs "
        f"PyTorch {result.max_abs_diff:.3e} "
        f"(output scale {result.reference_scale:.3g}, tolerance {result.tolerance:.3e})"
    )
    if not result.ok:
        progress.close()
        raise VerificationFailed(
            f"{triton_name}: {runtime} output differs from PyTorch by {result.max_abs_diff:.3e}, "
            f"above the tolerance {result.tolerance:.3e}"
        )


def write_model_repository(
    components: Components, repository: Path, options: ExportOptions, digest: str
) -> list[Verification]:
    """Add one served model to the repository (replacing a model of the same name, keeping the others):
    export, verify and configure every network, then the model's assets for the shared pipeline; the
    manifest comes last so an interrupted export is redone on the next run."""
    served = contract.check_served_name(components.metadata().name)
    metadata = dataclasses.replace(
        components.metadata(), backend=options.backend, loras=contract.served_loras(repository, served)
    )
    tensorrt = options.backend == "tensorrt"
    torch_backend = options.backend == contract.TORCH_BACKEND
    openvino = options.backend in OPENVINO_BACKENDS
    if tensorrt:
        metadata = tensorrt_metadata(metadata)
    replaced = remove_pre_catalogue_export(repository)
    if replaced is not None:
        tqdm.write(f"removed {replaced!r}, exported before the model catalogue (export it again to serve it)")
    manifest_path(repository, served).unlink(missing_ok=True)
    results = []
    precisions: dict[str, str] = {}  # network -> what it runs in
    jobs = plan_exports(components)
    # A network of another family left from an earlier export of this name would be loaded for nothing.
    kept = {contract.network_model_name(served, job.spec.name) for job in jobs}
    for stale in network_dirs(repository, served):
        if stale.name not in kept:
            shutil.rmtree(stale)
    progress = tqdm(total=(3 if tensorrt else 2) * len(jobs) + 1, desc="export", unit="step")
    weights = contract.torch_weights_dir(repository, served)
    shutil.rmtree(weights, ignore_errors=True)
    if torch_backend:
        # The torch backend's network models load their components from this diffusers folder.
        components.diffusers_pipeline().save_pretrained(weights)
    for job in jobs:
        triton_name = contract.network_model_name(served, job.spec.name)
        version_dir = contract.network_dir(repository, served, job.spec.name)
        onnx_path = version_dir / contract.ONNX_FILENAME
        precision = options.network_precision(job.spec.name)
        tolerance = (options.atol, max(options.rtol, MIN_RTOL[precision]))
        progress.set_description(f"export {triton_name}")
        if torch_backend:
            version_dir.mkdir(parents=True, exist_ok=True)
            for stale in (
                onnx_path,
                version_dir / EXTERNAL_DATA_FILENAME,
                version_dir / contract.ENGINE_FILENAME,
            ):
                stale.unlink(missing_ok=True)
        else:
            export_onnx(job, onnx_path, options.opset)
        progress.update()
        progress.set_description(f"verify {triton_name}")
        if torch_backend:
            result = verify_torch(job, weights, metadata, TORCH_DTYPES[precision], *tolerance)
        else:
            result = verify_onnx(job, onnx_path, *tolerance)
        if openvino and result.ok:
            ir_path = convert_to_openvino(onnx_path)
            result, precision = verify_openvino(job, ir_path, options.openvino_compute, *tolerance)
        results.append(result)
        precisions[job.spec.name] = precision
        runtime = "saved" if torch_backend else "OpenVINO" if openvino else "onnxruntime"
        report_verification(triton_name, precision, runtime, result, progress)
        if tensorrt:
            progress.set_description(f"TensorRT engine {triton_name}")
            engine = version_dir / contract.ENGINE_FILENAME
            build_engine(onnx_path, engine, job.spec, metadata, precision, Path(options.timing_cache))
            tqdm.write(f"{triton_name}: TensorRT engine {precision} -> {engine}")
            progress.update()
        served_precision = options.openvino_compute if openvino else precision
        config = network_config(job.spec, metadata, options.backend, options.device, served_precision)
        (version_dir.parent / "config.pbtxt").write_text(config)
        model_py = version_dir / "model.py"
        if options.backend == "python-onnxruntime":
            model_py.write_text(MODEL_PY_HEADER + NETWORK_MODEL_PY)
        elif torch_backend:
            model_py.write_text(MODEL_PY_HEADER + TORCH_NETWORK_MODEL_PY)
        elif options.backend == "python-openvino":
            model_py.write_text(MODEL_PY_HEADER + OPENVINO_NETWORK_MODEL_PY)
        else:
            model_py.unlink(missing_ok=True)
        progress.update()

    progress.set_description(f"write {served} for the pipeline")
    assets = contract.model_assets_dir(repository, served)
    for dirname in contract.TOKENIZER_DIRNAMES:
        shutil.rmtree(assets / dirname, ignore_errors=True)
    assets.mkdir(parents=True, exist_ok=True)
    for tokenizer, dirname in zip(components.tokenizers, contract.TOKENIZER_DIRNAMES, strict=False):
        tokenizer.save_pretrained(assets / dirname)
    scheduler_dir = assets / contract.SCHEDULER_DIRNAME
    scheduler_dir.mkdir(exist_ok=True)
    (scheduler_dir / "scheduler_config.json").write_text(json.dumps(components.scheduler_config, indent=2))
    (assets / contract.METADATA_FILENAME).write_text(metadata.to_json())
    pipeline_version_dir = contract.version_dir(repository, contract.PIPELINE.name)
    (pipeline_version_dir / "model.py").write_text(MODEL_PY_HEADER + PIPELINE_MODEL_PY)
    (repository / contract.PIPELINE.name / "config.pbtxt").write_text(pipeline_config())
    if openvino and options.openvino_precision == "int8":
        # Calibrated on the denoiser's inputs while this model generates: after its assets are written.
        job = next(j for j in jobs if j.spec.name == metadata.denoiser.name)
        triton_name = contract.network_model_name(served, job.spec.name)
        progress.set_description(f"int8 {triton_name}")
        ir_path = contract.network_dir(repository, served, job.spec.name) / contract.OPENVINO_FILENAME
        calibration, held_out = denoising_samples(repository, served, job.spec.name)
        quantize_int8(ir_path, calibration)
        tolerance = (options.atol, max(options.rtol, MIN_RTOL["int8"]))
        result, compute = verify_openvino(job, ir_path, options.openvino_compute, *tolerance, held_out)
        results = [result if r.network == job.spec.name else r for r in results]
        precisions[job.spec.name] = f"int8, {compute}"
        report_verification(triton_name, precisions[job.spec.name], "OpenVINO", result, progress)
    manifest = {
        "fingerprint": digest,
        "model": served,
        "backend": options.backend,
        "family": metadata.family,
        "precision": precisions,
        "verification": [r.__dict__ for r in results],
    }
    manifest_path(repository, served).write_text(json.dumps(manifest, indent=2))
    progress.update()
    progress.close()
    return results
