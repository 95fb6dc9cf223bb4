"""Fill a Triton model repository from checkpoint components: one model per network, and `pipeline`."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from export.components import Components
from export.onnx_export import Verification, export_onnx, plan_exports, verify_onnx
from export.tensorrt_engine import build_engine
from export.tensorrt_profiles import tensorrt_metadata
from export.triton_config import network_config, pipeline_config
from t2i import contract

MANIFEST_FILENAME = "export_manifest.json"
EXPORTER_VERSION = 3  # bump when the repository layout changes, so old exports are redone

NETWORK_MODEL_PY = "from t2i.triton_models.onnx_network import TritonPythonModel  # noqa: F401\n"
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


class VerificationFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class ExportOptions:
    backend: str = "python-onnxruntime"
    opset: int = 17
    atol: float = 1e-3
    rtol: float = 1e-3
    precision: str = "fp32"  # fp16: TensorRT engines built with FP16 kernels
    # The SD 1.x/2.x VAE overflows in FP16 (NaN, black images), so it stays FP32 unless asked otherwise.
    fp16_vae: bool = False
    timing_cache: str = "var/tensorrt_timing.cache"

    def engine_fp16(self, network: str) -> bool:
        is_vae = network in (contract.VAE_DECODER.name, contract.VAE_ENCODER.name)
        return self.precision == "fp16" and (self.fp16_vae or not is_vae)


def fingerprint(source: dict, options: ExportOptions) -> str:
    payload = json.dumps(
        {"source": source, "options": options.__dict__, "v": EXPORTER_VERSION}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def is_up_to_date(repository: Path, digest: str) -> bool:
    manifest = repository / contract.PIPELINE.name / MANIFEST_FILENAME
    if not manifest.is_file():
        return False
    return json.loads(manifest.read_text()).get("fingerprint") == digest


def write_model_repository(
    components: Components, repository: Path, options: ExportOptions, digest: str
) -> list[Verification]:
    """Export, verify and configure every network, then the pipeline model; the manifest comes last so an
    interrupted export is redone on the next run."""
    metadata = components.metadata()
    tensorrt = options.backend == "tensorrt"
    if tensorrt:
        metadata = tensorrt_metadata(metadata)
    (repository / contract.PIPELINE.name / MANIFEST_FILENAME).unlink(missing_ok=True)
    results = []
    jobs = plan_exports(components)
    # A network of another family left from an earlier export would be loaded by Triton for nothing.
    every_network = {spec.name for specs in contract.FAMILY_NETWORKS.values() for spec in specs}
    for stale in every_network - {job.spec.name for job in jobs}:
        shutil.rmtree(repository / stale, ignore_errors=True)
    progress = tqdm(total=(3 if tensorrt else 2) * len(jobs) + 1, desc="export", unit="step")
    for job in jobs:
        model_dir = repository / job.spec.name
        onnx_path = contract.version_dir(repository, job.spec.name) / contract.ONNX_FILENAME
        progress.set_description(f"export {job.spec.name}")
        export_onnx(job, onnx_path, options.opset)
        progress.update()
        progress.set_description(f"verify {job.spec.name}")
        result = verify_onnx(job, onnx_path, options.atol, options.rtol)
        results.append(result)
        tqdm.write(
            f"{job.spec.name}: max abs diff onnxruntime vs PyTorch {result.max_abs_diff:.3e} "
            f"(output scale {result.reference_scale:.3g}, tolerance {result.tolerance:.3e})"
        )
        if not result.ok:
            progress.close()
            raise VerificationFailed(
                f"{job.spec.name}: ONNX output differs from PyTorch by {result.max_abs_diff:.3e}, "
                f"above the tolerance {result.tolerance:.3e}"
            )
        if tensorrt:
            progress.set_description(f"TensorRT engine {job.spec.name}")
            fp16 = options.engine_fp16(job.spec.name)
            engine = onnx_path.parent / contract.ENGINE_FILENAME
            build_engine(onnx_path, engine, job.spec, metadata, fp16, Path(options.timing_cache))
            tqdm.write(f"{job.spec.name}: TensorRT engine {'FP16' if fp16 else 'FP32'} -> {engine}")
            progress.update()
        (model_dir / "config.pbtxt").write_text(network_config(job.spec, metadata, options.backend))
        model_py = onnx_path.parent / "model.py"
        if options.backend == "python-onnxruntime":
            model_py.write_text(MODEL_PY_HEADER + NETWORK_MODEL_PY)
        else:
            model_py.unlink(missing_ok=True)
        progress.update()

    progress.set_description("write pipeline")
    version_dir = contract.version_dir(repository, contract.PIPELINE.name)
    for dirname in contract.TOKENIZER_DIRNAMES:
        shutil.rmtree(version_dir / dirname, ignore_errors=True)
    version_dir.mkdir(parents=True, exist_ok=True)
    for tokenizer, dirname in zip(components.tokenizers, contract.TOKENIZER_DIRNAMES, strict=False):
        tokenizer.save_pretrained(version_dir / dirname)
    scheduler_dir = version_dir / contract.SCHEDULER_DIRNAME
    scheduler_dir.mkdir(exist_ok=True)
    (scheduler_dir / "scheduler_config.json").write_text(json.dumps(components.scheduler_config, indent=2))
    (version_dir / contract.METADATA_FILENAME).write_text(metadata.to_json())
    (version_dir / "model.py").write_text(MODEL_PY_HEADER + PIPELINE_MODEL_PY)
    (repository / contract.PIPELINE.name / "config.pbtxt").write_text(pipeline_config(metadata))
    manifest = {
        "fingerprint": digest,
        "model": metadata.name,
        "backend": options.backend,
        "family": metadata.family,
        "precision": {n.name: "fp16" if options.engine_fp16(n.name) else "fp32" for n in metadata.networks}
        if tensorrt
        else "fp32",
        "verification": [r.__dict__ for r in results],
    }
    (repository / contract.PIPELINE.name / MANIFEST_FILENAME).write_text(json.dumps(manifest, indent=2))
    progress.update()
    progress.close()
    return results
