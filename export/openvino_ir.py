"""ONNX (exported and verified) -> OpenVINO IR (`model.xml` + `model.bin`) for the OpenVINO backends, and
the IR's own verification against PyTorch at the precision it will run in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import openvino as ov
import torch

from export.onnx_export import EXTERNAL_DATA_FILENAME, NetworkExport, Verification
from export.precision import MIN_RTOL
from t2i import contract
from t2i.openvino_runtime import OpenVinoNetwork


def convert_to_openvino(onnx_path: Path) -> Path:
    """Write the IR beside the ONNX file, then remove the ONNX file (the IR is what is served). Weights
    stay FP32 in the IR: the precision is the runtime's (bf16 where the CPU has it)."""
    ir_path = onnx_path.parent / contract.OPENVINO_FILENAME
    ov.save_model(ov.convert_model(str(onnx_path)), str(ir_path), compress_to_fp16=False)
    onnx_path.unlink()
    (onnx_path.parent / EXTERNAL_DATA_FILENAME).unlink(missing_ok=True)
    return ir_path


def verify_openvino(
    job: NetworkExport,
    ir_path: Path,
    precision: str,
    atol: float,
    rtol: float,
    samples: Sequence[Mapping[str, np.ndarray]] = (),
) -> tuple[Verification, str]:
    """The IR in OpenVINO at `precision` (auto: this CPU's) against the PyTorch module, on `samples` (by
    input name; default: the export's verification inputs); and the precision it ran in."""
    network = OpenVinoNetwork(ir_path, precision)
    if not samples:
        samples = [{t.name: x.numpy() for t, x in zip(job.spec.inputs, job.verify_inputs, strict=True)}]
    diff = scale = 0.0
    for feeds in samples:
        outputs = network.run(dict(feeds))
        with torch.no_grad():
            reference = job.module(*(torch.from_numpy(feeds[t.name]) for t in job.spec.inputs))
        references = reference if isinstance(reference, tuple) else (reference,)
        for t, r in zip(job.spec.outputs, references, strict=True):
            diff = max(diff, float(np.abs(outputs[t.name] - r.float().numpy()).max()))
            scale = max(scale, float(r.abs().max()))
    tolerance = atol + max(rtol, MIN_RTOL[network.precision]) * scale
    return Verification(job.spec.name, diff, scale, tolerance), network.precision
