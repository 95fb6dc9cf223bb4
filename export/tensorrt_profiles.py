"""TensorRT optimization profiles for the four networks, from the tensor contract and model metadata.

One profile per network covers 1..8 images per request (doubled for classifier-free guidance where the
network sees both halves) and image sides of 256..1024 pixels; `opt` is the model's native size at the
common case (one image with guidance).
"""

from __future__ import annotations

from dataclasses import dataclass

from t2i import contract
from t2i.contract import ModelMetadata, ModelSpec

MIN_IMAGES, OPT_IMAGES, MAX_IMAGES = 1, 1, 8
MIN_SIDE, MAX_SIDE = 256, 1024
Shape = tuple[int, ...]


@dataclass(frozen=True)
class ShapeRange:
    min: Shape
    opt: Shape
    max: Shape


def _batch(spec: ModelSpec, images: int) -> int:
    # The pipeline sends [uncond x n, cond x n] through the text encoder and UNet; the VAE sees n.
    return 2 * images if spec.name in (contract.TEXT_ENCODER.name, contract.UNET.name) else images


def profile_shapes(spec: ModelSpec, metadata: ModelMetadata) -> dict[str, ShapeRange]:
    """min/opt/max shape of every input of `spec`, dynamic axes filled in."""
    if spec not in contract.NETWORKS:
        raise ValueError(f"{spec.name} is not a network with a TensorRT engine")
    factor = metadata.vae_scale_factor
    native = max(metadata.native_width, metadata.native_height)
    sides = {"min": MIN_SIDE, "opt": min(max(native, MIN_SIDE), MAX_SIDE), "max": MAX_SIDE}
    images = {"min": MIN_IMAGES, "opt": OPT_IMAGES, "max": MAX_IMAGES}
    ranges = {}
    for tensor in spec.inputs:
        shapes = {}
        for bound in ("min", "opt", "max"):
            batch = _batch(spec, images[bound])
            # Latent-space tensors are 1/factor of the image side; pixel-space ones the side itself.
            side = sides[bound] if tensor.name == "image" else sides[bound] // factor
            shape = []
            for axis, dim in enumerate(tensor.resolved_dims(metadata)):
                if dim != -1:
                    shape.append(dim)
                elif axis == 0:
                    shape.append(batch)
                elif tensor.name == "input_ids" or tensor.name == "encoder_hidden_states":
                    shape.append(metadata.tokenizer_max_length)
                else:
                    shape.append(side)
            shapes[bound] = tuple(shape)
        ranges[tensor.name] = ShapeRange(shapes["min"], shapes["opt"], shapes["max"])
    return ranges
