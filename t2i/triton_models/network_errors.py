"""The error response of a network model (onnxruntime, OpenVINO, torch): the failure is logged and fails
that request alone, never the whole batch."""

from __future__ import annotations

import triton_python_backend_utils as pb_utils


def failed(model: str, exc: Exception) -> object:
    pb_utils.Logger.log_error(f"{model}: {exc}")
    return pb_utils.InferenceResponse(
        error=pb_utils.TritonError(f"{model} failed: {exc}", pb_utils.TritonError.INVALID_ARG)
    )
