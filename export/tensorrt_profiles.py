"""TensorRT limits and optimization profiles, derived from the tensor contract and the model metadata.

An engine serves the shapes of its one profile, so export publishes what the engines can take in the
model metadata (largest side, largest batch per network call) and the pipeline and the frontend refuse or
split the rest; the profiles are then made from that same metadata, so the two cannot disagree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from t2i import contract
from t2i.contract import ModelMetadata, ModelSpec

# Engines past 1024-pixel sides cost much build time and memory for sizes few ask for.
TENSORRT_MAX_SIDE = 1024
Shape = tuple[int, ...]


@dataclass(frozen=True)
class ShapeRange:
    min: Shape
    opt: Shape
    max: Shape


def _sees_guidance_halves(spec: ModelSpec) -> bool:
    # Text encoders and the UNet see [uncond x n, cond x n]; the VAE sees the n images.
    return spec.name not in (contract.VAE_DECODER.name, contract.VAE_ENCODER.name)


def tensorrt_metadata(metadata: ModelMetadata) -> ModelMetadata:
    """The metadata of a TensorRT export: sides up to TENSORRT_MAX_SIDE, and per network call at most
    one request's images (both guidance halves where the network sees them); larger batches are split."""
    return dataclasses.replace(
        metadata,
        max_side=min(metadata.max_side, TENSORRT_MAX_SIDE),
        network_max_batch={
            spec.name: (2 if _sees_guidance_halves(spec) else 1) * contract.MAX_IMAGES
            for spec in metadata.networks
        },
    )


def profile_shapes(spec: ModelSpec, metadata: ModelMetadata) -> dict[str, ShapeRange]:
    """min/opt/max shape of every input of `spec`: sides from the metadata's range (opt: native), batch
    from one image without guidance up to the network's published limit (opt: one image, guided)."""
    if spec not in metadata.networks:
        raise ValueError(f"{spec.name} is not a network of this {metadata.family} model")
    max_batch = metadata.network_max_batch.get(spec.name)
    if not max_batch:
        raise ValueError(f"the metadata publishes no batch limit for {spec.name}: use tensorrt_metadata()")
    factor = metadata.vae_scale_factor
    heights = {"min": metadata.smallest_side, "opt": metadata.native_height, "max": metadata.max_side}
    widths = {"min": metadata.smallest_side, "opt": metadata.native_width, "max": metadata.max_side}
    batches = {"min": 1, "opt": 2 if _sees_guidance_halves(spec) else 1, "max": max_batch}
    ranges = {}
    for tensor in spec.inputs:
        shapes = {}
        for bound in ("min", "opt", "max"):
            height = min(max(heights[bound], metadata.smallest_side), metadata.max_side)
            width = min(max(widths[bound], metadata.smallest_side), metadata.max_side)
            axes = {
                contract.BATCH: batches[bound],
                contract.TOKENS: metadata.tokenizer_max_length,
                contract.HEIGHT: height,
                contract.WIDTH: width,
                contract.LATENT_HEIGHT: height // factor,
                contract.LATENT_WIDTH: width // factor,
                # Flux: one token per 2x2 latent cell.
                contract.IMAGE_TOKENS: (height // factor // 2) * (width // factor // 2),
            }
            shapes[bound] = tuple(
                axes[d] if d in contract.DYNAMIC_AXES else contract.fixed_dim(metadata, d)
                for d in tensor.dims
            )
        ranges[tensor.name] = ShapeRange(shapes["min"], shapes["opt"], shapes["max"])
    return ranges
