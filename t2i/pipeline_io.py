"""GenerationRequest <-> the pipeline model's input tensors, both directions in one place."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from t2i import contract
from t2i.request import GenerationRequest, InvalidRequest, Loras

# Request field -> pipeline input tensor; `request_to_inputs` and `request_from_inputs` share it.
_SCALAR_FIELDS: dict[str, str] = {
    "negative_prompt": "negative_prompt",
    "width": "width",
    "height": "height",
    "steps": "steps",
    "guidance_scale": "guidance_scale",
    "seed": "seed",
    "num_images": "num_images",
    "scheduler": "scheduler",
    "strength": "strength",
    "partial_images": "partial_images",
    "model": "model",
}


def _tensor(spec_name: str, value: object) -> np.ndarray:
    """Shape [1, 1]: the request's batch dim (the pipeline batches requests) and the scalar."""
    spec = contract.PIPELINE.input(spec_name)
    if spec.dtype == "BYTES":
        return np.array([[str(value).encode("utf-8")]], dtype=np.object_)
    return np.array([[value]], dtype=contract.NUMPY_DTYPES[spec.dtype])


def request_to_inputs(request: GenerationRequest) -> dict[str, np.ndarray]:
    inputs = {"prompt": _tensor("prompt", request.prompt)}
    for field, name in _SCALAR_FIELDS.items():
        inputs[name] = _tensor(name, getattr(request, field))
    if request.init_image is not None:
        inputs["init_image"] = np.ascontiguousarray(request.init_image[None], dtype=np.uint8)
    else:
        del inputs["strength"]
    if request.mask is not None:
        inputs["mask"] = np.ascontiguousarray(request.mask[None], dtype=np.uint8)
    if request.loras:
        inputs["loras"] = _tensor("loras", encode_loras(request.loras))
    return inputs


def infer_inputs(request: GenerationRequest, input_class: Callable[..., Any]) -> list[Any]:
    """The pipeline's inputs as tritonclient InferInput objects; `input_class` is the grpc, grpc.aio or
    http client's InferInput (the one place that builds them)."""
    inputs = []
    for name, array in request_to_inputs(request).items():
        tensor = input_class(name, list(array.shape), contract.PIPELINE.input(name).dtype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def request_from_inputs(get_input: Callable[[str], np.ndarray | None]) -> GenerationRequest:
    """Decode a request from tensors; `get_input(name)` returns None for an absent optional input."""
    kwargs: dict[str, object] = {}
    for name in ("prompt", *_SCALAR_FIELDS):
        array = get_input(name)
        if array is None:
            if name == "prompt":
                raise InvalidRequest("prompt", "the prompt input is required")
            continue
        if array.size != 1:
            raise InvalidRequest(name, f"{name} must hold exactly one value, got shape {list(array.shape)}")
        value = array.reshape(-1)[0]
        if isinstance(value, bytes):
            try:
                kwargs[name] = value.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRequest(name, f"{name} must be valid UTF-8") from None
        else:
            kwargs[name] = value.item()
    init_image = get_input("init_image")
    if init_image is not None:
        if init_image.ndim != 4 or init_image.shape[0] != 1:
            raise InvalidRequest("init_image", "init_image must have shape [1, H, W, 3] (one per request)")
        kwargs["init_image"] = init_image[0]
    mask = get_input("mask")
    if mask is not None:
        if mask.ndim != 3 or mask.shape[0] != 1:
            raise InvalidRequest("mask", "mask must have shape [1, H, W] (one per request)")
        kwargs["mask"] = mask[0]
    loras = get_input("loras")
    if loras is not None:
        kwargs["loras"] = decode_loras(loras.reshape(-1)[0])
    return GenerationRequest(**kwargs)  # type: ignore[arg-type]


def encode_loras(loras: Loras) -> str:
    return json.dumps([[name, scale] for name, scale in loras])


def decode_loras(value: bytes | str) -> Loras:
    """The `loras` input (and the network calls' parameter): JSON [[name, scale], ...]."""
    try:
        pairs = json.loads(value)
        return tuple((str(name), float(scale)) for name, scale in pairs)
    except (ValueError, TypeError):
        raise InvalidRequest("loras", "loras must be a JSON list of [name, scale] pairs") from None


def images_from_output(images: np.ndarray) -> np.ndarray:
    """The pipeline's `images` output [1, N, H, W, 3] -> this request's [N, H, W, 3]."""
    return images[0]


def response_tensors(images: np.ndarray, partial_index: int) -> dict[str, np.ndarray]:
    """One response of the (decoupled) pipeline: a request's [N, H, W, 3] images, and which preview they
    are (contract.FINAL_RESPONSE for the images asked for)."""
    return {
        "images": np.ascontiguousarray(images[None], dtype=np.uint8),
        "partial_index": np.array([[partial_index]], dtype=np.int32),
    }


def partial_index_from_output(partial_index: np.ndarray) -> int:
    return int(partial_index.reshape(-1)[0])


def preview_steps(total_steps: int, partial_images: int) -> list[int]:
    """After which step each preview is taken: spread evenly over the run, the last before the end;
    exactly `partial_images` of them (several after one step when there are fewer steps than previews)."""
    return [max(0, round(total_steps * (j + 1) / (partial_images + 1)) - 1) for j in range(partial_images)]


# A bad request crosses Triton as an INVALID_ARG error whose message carries the field as JSON after this
# marker, so clients read the field back without parsing prose (and Triton may prefix the message).
INVALID_REQUEST_MARKER = "invalid request: "


def invalid_request_message(error: InvalidRequest) -> str:
    return INVALID_REQUEST_MARKER + json.dumps({"param": error.param, "message": error.message})


def parse_invalid_request(text: str) -> InvalidRequest | None:
    """The InvalidRequest an error message carries, or None when it carries none."""
    start = text.find(INVALID_REQUEST_MARKER)
    if start < 0:
        return None
    try:
        fields, _ = json.JSONDecoder().raw_decode(text, start + len(INVALID_REQUEST_MARKER))
        return InvalidRequest(str(fields["param"]), str(fields["message"]))
    except (ValueError, KeyError, TypeError):
        return None
