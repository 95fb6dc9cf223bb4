"""The `pipeline` BLS model: one text-to-image (or image-to-image) request in, UINT8 images out.

The loop itself is `t2i.denoise.DenoisingPipeline`; this module adapts it to Triton: tensors in, the four
network models called through BLS, and one response per request, an error response for a bad one.
"""

from __future__ import annotations

import os
import traceback
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

from t2i.contract import ModelSpec
from t2i.denoise import DenoisingPipeline, GenerationCancelled, NetworksBySpec, batch_key
from t2i.pipeline_io import request_from_inputs
from t2i.request import GenerationRequest, InvalidRequest


class NetworkError(RuntimeError):
    """A BLS call to one of the network models failed."""


class BlsNetworks(NetworksBySpec):
    """`t2i.denoise.Networks` over BLS calls to the network models of the same Triton server."""

    def infer(self, spec: ModelSpec, *arrays: np.ndarray) -> list[np.ndarray]:
        request = pb_utils.InferenceRequest(
            model_name=spec.name,
            requested_output_names=[t.name for t in spec.outputs],
            inputs=[pb_utils.Tensor(t.name, a) for t, a in zip(spec.inputs, arrays, strict=True)],
        )
        response = request.exec()
        if response.has_error():
            raise NetworkError(f"{spec.name}: {response.error().message()}")
        return [pb_utils.get_output_tensor_by_name(response, t.name).as_numpy() for t in spec.outputs]


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.pipeline = DenoisingPipeline.from_version_dir(version_dir, BlsNetworks())
        metadata = self.pipeline.metadata
        self.fault_prompt = os.environ.get("T2I_FAULT_INJECTION_PROMPT", "")
        self.logger = pb_utils.Logger
        self.logger.log_info(f"pipeline ready for model {metadata.name!r}")

    def execute(self, requests: list) -> list:
        """Triton's dynamic batcher may hand several requests at once: each is checked alone (a bad one
        gets its own error response), then those sharing a batch key run as one batch."""
        responses: list[object] = [None] * len(requests)
        groups: dict[object, list[tuple[int, GenerationRequest]]] = defaultdict(list)
        # A client that hangs up (gRPC cancellation) marks its request; a batch stops once all are.
        for index, request in enumerate(requests):
            try:
                prepared = self.pipeline.prepare(request_from_inputs(_input_getter(request)))
            except InvalidRequest as exc:
                responses[index] = _invalid(exc)
                continue
            key = batch_key(prepared)
            groups[key if key is not None else ("alone", index)].append((index, prepared))
        for members in groups.values():
            self.run_group(requests, members, responses)
        return responses

    def run_group(
        self, requests: list, members: list[tuple[int, GenerationRequest]], responses: list
    ) -> None:
        """One batch; if it fails, each member alone, so a request that breaks the pipeline fails by
        itself instead of taking the requests batched with it down too."""
        try:
            self.check_fault_injection(members)
            images = self.pipeline.generate_batch(
                [request for _, request in members],
                cancelled=_all_cancelled([requests[i] for i, _ in members]),
            )
            for (index, _), request_images in zip(members, images, strict=True):
                tensor = pb_utils.Tensor("images", request_images[None])
                responses[index] = pb_utils.InferenceResponse(output_tensors=[tensor])
        except GenerationCancelled:
            self.logger.log_info(f"pipeline batch of {len(members)} cancelled by its clients")
            for index, _ in members:
                responses[index] = pb_utils.InferenceResponse(
                    error=pb_utils.TritonError("cancelled by the client", pb_utils.TritonError.CANCELLED)
                )
        except Exception:
            if len(members) > 1:
                for member in members:
                    self.run_group(requests, [member], responses)
                return
            # Logged in full here; clients get no internals. The instance stays up for the next request.
            self.logger.log_error(f"pipeline request failed:\n{traceback.format_exc()}")
            responses[members[0][0]] = pb_utils.InferenceResponse(
                error=pb_utils.TritonError("image generation failed inside the pipeline model")
            )

    def check_fault_injection(self, members: list[tuple[int, GenerationRequest]]) -> None:
        """Tests make the model fail on purpose: T2I_FAULT_INJECTION_PROMPT names a prompt that raises
        here, inside the model, the way a real bug would. Unset (always, outside tests) it does nothing."""
        if self.fault_prompt and any(request.prompt == self.fault_prompt for _, request in members):
            raise RuntimeError("injected fault (T2I_FAULT_INJECTION_PROMPT)")


def _all_cancelled(group: list) -> Callable[[], bool]:
    return lambda: all(request.is_cancelled() for request in group)


def _input_getter(request: object) -> Callable[[str], np.ndarray | None]:
    def get_input(name: str) -> np.ndarray | None:
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        return None if tensor is None else tensor.as_numpy()

    return get_input


def _invalid(exc: InvalidRequest) -> object:
    # The parameter name leads the message so that clients can map it back to their own field.
    return pb_utils.InferenceResponse(
        error=pb_utils.TritonError(f"invalid {exc.param}: {exc.message}", pb_utils.TritonError.INVALID_ARG)
    )
