"""The `pipeline` BLS model: one text-to-image (or image-to-image) request in, UINT8 images out.

The loop itself is `t2i.denoise.DenoisingPipeline`; this module adapts it to Triton: tensors in, the
family's network models called through BLS, and one response per request, an error response for a bad one.
One instance serves every model of the repository (the request's `model` input names it): a model's loop
is read from its assets folder when first asked for, so a model exported while Triton runs is served once
its networks are loaded, without reloading this one.
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

from t2i import contract
from t2i.contract import SERVED_NAME, ModelSpec
from t2i.denoise import DenoisingPipeline, GenerationCancelled, StepEvent, batch_key
from t2i.pipeline_io import (
    encode_loras,
    invalid_request_message,
    preview_steps,
    request_from_inputs,
    response_tensors,
)
from t2i.request import GenerationRequest, InvalidRequest, Loras


class NetworkError(RuntimeError):
    """A BLS call to one of the network models failed."""


class BlsNetworks:
    """`t2i.denoise.Networks` over BLS calls to one served model's network models on the same Triton
    server. Tensors cross by DLPack, so a GPU backend's tensors stay on the GPU; on the CPU it is a view,
    not a copy."""

    device = torch.device("cpu")

    def __init__(self, served: str):
        self.served = served

    def run(
        self, spec: ModelSpec, inputs: Mapping[str, torch.Tensor], loras: Loras = ()
    ) -> dict[str, torch.Tensor]:
        model_name = contract.network_model_name(self.served, spec.name)
        request = pb_utils.InferenceRequest(
            model_name=model_name,
            requested_output_names=[t.name for t in spec.outputs],
            inputs=[
                pb_utils.Tensor.from_dlpack(t.name, to_dlpack(inputs[t.name].contiguous()))
                for t in spec.inputs
            ],
            # The adapters travel as a request parameter: the networks' tensors stay the contract's.
            parameters={contract.LORAS_PARAMETER: encode_loras(loras)} if loras else {},
        )
        response = request.exec()
        if response.has_error():
            raise NetworkError(f"{model_name}: {response.error().message()}")
        return {
            t.name: from_dlpack(pb_utils.get_output_tensor_by_name(response, t.name).to_dlpack())
            for t in spec.outputs
        }


class TritonPythonModel:
    """Decoupled: each request gets its previews (if it asked for partial images), then one final
    response with its images or its error, through its own response sender."""

    def initialize(self, args: dict[str, str]) -> None:
        # `model_repository` is this model's own folder, <repository>/pipeline.
        self.repository = Path(args["model_repository"]).parent
        # served name -> (its metadata file's mtime, its loop): a model exported again is read again.
        self.pipelines: dict[str, tuple[int, DenoisingPipeline]] = {}
        self.fault_prompt = os.environ.get("T2I_FAULT_INJECTION_PROMPT", "")
        self.logger = pb_utils.Logger
        self.logger.log_info(f"pipeline ready for models {', '.join(self.served()) or '(none yet)'}")

    def served(self) -> list[str]:
        return contract.served_models(self.repository)

    def pipeline_for(self, model: str) -> DenoisingPipeline:
        """The loop of the served model `model` (empty: the repository's only model); InvalidRequest
        naming `model` for one the repository does not hold."""
        if not model:
            # The folder is listed only for requests that name no model (the frontend always names one).
            served = self.served()
            model = served[0] if len(served) == 1 else ""
        metadata_file = contract.model_assets_dir(self.repository, model) / contract.METADATA_FILENAME
        if not model or not SERVED_NAME.fullmatch(model) or not metadata_file.is_file():
            held = ", ".join(self.served()) or "none"
            raise InvalidRequest("model", f"model {model!r} is not in this repository; it serves: {held}")
        stamp = metadata_file.stat().st_mtime_ns
        cached = self.pipelines.get(model)
        if cached is None or cached[0] != stamp:
            pipeline = DenoisingPipeline.from_assets_dir(metadata_file.parent, BlsNetworks(model))
            self.pipelines[model] = cached = (stamp, pipeline)
            self.logger.log_info(f"pipeline loaded model {model!r} ({pipeline.metadata.family})")
        return cached[1]

    def execute(self, requests: list) -> None:
        """Triton's dynamic batcher may hand several requests at once: each is checked alone (a bad one
        gets its own error response), then those sharing a batch key run as one batch."""
        senders = [request.get_response_sender() for request in requests]
        # Requests of different models never share a batch: each model's networks are its own.
        groups: dict[object, list[tuple[int, GenerationRequest]]] = defaultdict(list)
        pipelines: dict[object, DenoisingPipeline] = {}
        for index, request in enumerate(requests):
            try:
                decoded = request_from_inputs(_input_getter(request))
                pipeline = self.pipeline_for(decoded.model)
                prepared = pipeline.prepare(decoded)
            except InvalidRequest as exc:
                _finish(senders[index], _invalid(exc))
                continue
            key = batch_key(prepared)
            group: object = (prepared.model, key if key is not None else ("alone", index))
            groups[group].append((index, prepared))
            pipelines[group] = pipeline
        previews_sent = [0] * len(requests)
        for batch, members in groups.items():
            self.run_group(pipelines[batch], senders, members, previews_sent)
        return None

    def run_group(
        self,
        pipeline: DenoisingPipeline,
        senders: list,
        members: list[tuple[int, GenerationRequest]],
        previews_sent: list[int],
    ) -> None:
        """One batch; if it fails, each member alone, so a request that breaks the pipeline fails by
        itself instead of taking the requests batched with it down too."""
        group_senders = [senders[i] for i, _ in members]
        try:
            self.check_fault_injection(members)
            images = pipeline.generate_batch(
                [request for _, request in members],
                on_step=self.step_hook(pipeline, members, group_senders, previews_sent),
            )
            for sender, request_images in zip(group_senders, images, strict=True):
                _finish(sender, _response(request_images, contract.FINAL_RESPONSE))
        except GenerationCancelled:
            self.logger.log_info(f"pipeline batch of {len(members)} cancelled by its clients")
            for sender in group_senders:
                error = pb_utils.TritonError("cancelled by the client", pb_utils.TritonError.CANCELLED)
                _finish(sender, pb_utils.InferenceResponse(error=error))
        except Exception:
            if len(members) > 1:
                for member in members:
                    self.run_group(pipeline, senders, [member], previews_sent)
                return
            # Logged in full here; clients get no internals. The instance stays up for the next request.
            self.logger.log_error(f"pipeline request failed:\n{traceback.format_exc()}")
            error = pb_utils.TritonError("image generation failed inside the pipeline model")
            _finish(group_senders[0], pb_utils.InferenceResponse(error=error))

    def step_hook(
        self,
        pipeline: DenoisingPipeline,
        members: list[tuple[int, GenerationRequest]],
        group_senders: list,
        previews_sent: list[int],
    ) -> Callable[[StepEvent], None]:
        """After each step: stop once every client of the batch has hung up (gRPC cancellation marks the
        request), and send each request the previews it asked for, decoded from the scheduler's
        prediction of the final latents, at steps spread over the run."""

        def on_step(event: StepEvent) -> None:
            if all(sender.is_cancelled() for sender in group_senders):
                raise GenerationCancelled()
            for k, ((index, request), sender) in enumerate(zip(members, group_senders, strict=True)):
                preview = None
                for partial_index, step in enumerate(preview_steps(event.total, request.partial_images)):
                    # A batch retried member by member after a failure does not repeat previews sent.
                    if step != event.index or partial_index < previews_sent[index]:
                        continue
                    if preview is None:
                        preview = pipeline.decode_latents(event.denoised[k])
                    sender.send(_response(preview, partial_index))
                    previews_sent[index] = partial_index + 1

        return on_step

    def check_fault_injection(self, members: list[tuple[int, GenerationRequest]]) -> None:
        """Tests make the model fail on purpose: T2I_FAULT_INJECTION_PROMPT names a prompt that raises
        here, inside the model, the way a real bug would. Unset (always, outside tests) it does nothing."""
        if self.fault_prompt and any(request.prompt == self.fault_prompt for _, request in members):
            raise RuntimeError("injected fault (T2I_FAULT_INJECTION_PROMPT)")


def _response(images: np.ndarray, partial_index: int) -> object:
    tensors = response_tensors(images, partial_index)
    return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(n, a) for n, a in tensors.items()])


def _finish(sender: object, response: object) -> None:
    """The request's last response: Triton releases it with the FINAL flag."""
    sender.send(response, flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)  # type: ignore[attr-defined]


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
