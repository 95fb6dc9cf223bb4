"""The `pipeline` BLS model: one text-to-image (or image-to-image) request in, UINT8 images out.

The loop itself is `t2i.denoise.DenoisingPipeline`; this module adapts it to Triton: tensors in, the
family's network models called through BLS, and one response per request, an error response for a bad one.
"""

from __future__ import annotations

import os
import traceback
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
import triton_python_backend_utils as pb_utils
from torch.utils.dlpack import from_dlpack, to_dlpack

from t2i.contract import ModelSpec
from t2i.denoise import DenoisingPipeline, GenerationCancelled, StepEvent, batch_key
from t2i.pipeline_io import invalid_request_message, request_from_inputs
from t2i.request import GenerationRequest, InvalidRequest


class NetworkError(RuntimeError):
    """A BLS call to one of the network models failed."""


class BlsNetworks:
    """`t2i.denoise.Networks` over BLS calls to the network models of the same Triton server. Tensors
    cross by DLPack, so a GPU backend's tensors stay on the GPU; on the CPU it is a view, not a copy."""

    device = torch.device("cpu")

    def run(self, spec: ModelSpec, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        request = pb_utils.InferenceRequest(
            model_name=spec.name,
            requested_output_names=[t.name for t in spec.outputs],
            inputs=[
                pb_utils.Tensor.from_dlpack(t.name, to_dlpack(inputs[t.name].contiguous()))
                for t in spec.inputs
            ],
        )
        response = request.exec()
        if response.has_error():
            raise NetworkError(f"{spec.name}: {response.error().message()}")
        return {
            t.name: from_dlpack(pb_utils.get_output_tensor_by_name(response, t.name).to_dlpack())
            for t in spec.outputs
        }


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
                on_step=_stop_when_all_cancelled([requests[i] for i, _ in members]),
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


def _stop_when_all_cancelled(group: list) -> Callable[[StepEvent], None]:
    """The step hook: a client that hangs up (gRPC cancellation) marks its request; the batch stops at the
    next step once every one of its requests is marked."""

    def on_step(event: StepEvent) -> None:
        if all(request.is_cancelled() for request in group):
            raise GenerationCancelled()

    return on_step


def _input_getter(request: object) -> Callable[[str], np.ndarray | None]:
    def get_input(name: str) -> np.ndarray | None:
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        return None if tensor is None else tensor.as_numpy()

    return get_input


def _invalid(exc: InvalidRequest) -> object:
    # The field travels in a structured message that the frontend decodes (t2i.pipeline_io).
    return pb_utils.InferenceResponse(
        error=pb_utils.TritonError(invalid_request_message(exc), pb_utils.TritonError.INVALID_ARG)
    )
