"""The names, types and limits that export, the Triton models and the frontend must agree on.

Defined once here: `export` writes `config.pbtxt` files from these specs, the Triton Python models read
their tensors by these names, and the frontend builds its gRPC requests from them. A unit test checks every
generated config against the exported ONNX graphs.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Dimension placeholders resolved from the model's metadata when a config is written; -1 is dynamic.
LATENT_CHANNELS = "latent_channels"
TEXT_HIDDEN_SIZE = "text_hidden_size"
Dim = int | str


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # Triton dtype name without the TYPE_ prefix: FP32, INT64, UINT8, BYTES...
    dims: tuple[Dim, ...]
    optional: bool = False

    def resolved_dims(self, metadata: ModelMetadata) -> tuple[int, ...]:
        values = {LATENT_CHANNELS: metadata.latent_channels, TEXT_HIDDEN_SIZE: metadata.text_hidden_size}
        return tuple(values[d] if isinstance(d, str) else d for d in self.dims)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    # > 0: Triton's dynamic batcher hands up to this many requests to one execute(); every tensor then
    # has a leading batch dim (1 per request) in front of `dims`. 0: dims are the full shape.
    max_batch_size: int = 0

    def input(self, name: str) -> TensorSpec:
        return next(t for t in self.inputs if t.name == name)


NUMPY_DTYPES: dict[str, type[np.generic]] = {
    "FP16": np.float16,
    "FP32": np.float32,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "BYTES": np.object_,
}

TEXT_ENCODER = ModelSpec(
    name="text_encoder",
    inputs=(TensorSpec("input_ids", "INT64", (-1, -1)),),
    outputs=(TensorSpec("last_hidden_state", "FP32", (-1, -1, TEXT_HIDDEN_SIZE)),),
)
UNET = ModelSpec(
    name="unet",
    inputs=(
        TensorSpec("sample", "FP32", (-1, LATENT_CHANNELS, -1, -1)),
        # One timestep per sample so the batch axis stays dynamic for request batching.
        TensorSpec("timestep", "FP32", (-1,)),
        TensorSpec("encoder_hidden_states", "FP32", (-1, -1, TEXT_HIDDEN_SIZE)),
    ),
    outputs=(TensorSpec("noise_pred", "FP32", (-1, LATENT_CHANNELS, -1, -1)),),
)
VAE_DECODER = ModelSpec(
    name="vae_decoder",
    inputs=(TensorSpec("latent", "FP32", (-1, LATENT_CHANNELS, -1, -1)),),
    outputs=(TensorSpec("image", "FP32", (-1, 3, -1, -1)),),
)
VAE_ENCODER = ModelSpec(
    name="vae_encoder",
    inputs=(TensorSpec("image", "FP32", (-1, 3, -1, -1)),),
    # The distribution's parameters, not a sample: the pipeline samples with its own seeded generator.
    outputs=(
        TensorSpec("latent_mean", "FP32", (-1, LATENT_CHANNELS, -1, -1)),
        TensorSpec("latent_logvar", "FP32", (-1, LATENT_CHANNELS, -1, -1)),
    ),
)
NETWORKS: tuple[ModelSpec, ...] = (TEXT_ENCODER, UNET, VAE_DECODER, VAE_ENCODER)

# The BLS model every public API ends up calling. Scalars are [1] after the batch dim; only `prompt` is
# required. Concurrent requests reach one execute() together, and those that share size, steps and
# scheduler run as one UNet batch per step.
PIPELINE = ModelSpec(
    name="pipeline",
    inputs=(
        TensorSpec("prompt", "BYTES", (1,)),
        TensorSpec("negative_prompt", "BYTES", (1,), optional=True),
        TensorSpec("width", "INT32", (1,), optional=True),
        TensorSpec("height", "INT32", (1,), optional=True),
        TensorSpec("steps", "INT32", (1,), optional=True),
        TensorSpec("guidance_scale", "FP32", (1,), optional=True),
        TensorSpec("seed", "INT64", (1,), optional=True),
        TensorSpec("num_images", "INT32", (1,), optional=True),
        TensorSpec("scheduler", "BYTES", (1,), optional=True),
        # Image-to-image: one RGB image [H, W, 3] (any size, resized to width x height) and its strength.
        TensorSpec("init_image", "UINT8", (-1, -1, 3), optional=True),
        TensorSpec("strength", "FP32", (1,), optional=True),
    ),
    outputs=(TensorSpec("images", "UINT8", (-1, -1, -1, 3)),),
    max_batch_size=8,
)

# Pipeline config parameter holding the model metadata as JSON, so a remote client can read it.
METADATA_PARAMETER = "model_metadata"
METADATA_FILENAME = "model_metadata.json"
TOKENIZER_DIRNAME = "tokenizer"
SCHEDULER_DIRNAME = "scheduler"
ONNX_FILENAME = "model.onnx"

SCHEDULERS = ("euler", "euler_a", "ddim", "dpmpp_2m", "lcm", "pndm", "heun")

# Request limits, checked by the frontend and again by the pipeline (Triton can be called directly).
MAX_STEPS = 150
MAX_GUIDANCE_SCALE = 50.0
MAX_IMAGES = 8
MAX_SIDE = 2048
MAX_PROMPT_CHARS = 4000
MAX_SEED = 2**63 - 1 - MAX_IMAGES


@dataclass(frozen=True)
class ModelMetadata:
    """What the pipeline and the frontend need to know about one exported checkpoint."""

    name: str
    native_width: int
    native_height: int
    # Width and height must be multiples of this: VAE downsampling times the UNet's own downsampling.
    size_multiple: int
    latent_channels: int
    vae_scale_factor: int  # pixels per latent cell along one side
    vae_scaling_factor: float  # latents are multiplied by this before the UNet sees them
    text_hidden_size: int
    tokenizer_max_length: int
    default_steps: int
    hd_steps: int
    default_guidance_scale: float
    default_scheduler: str = "euler"
    random_weights: bool = False

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in fields})

    @classmethod
    def load(cls, path: Path) -> ModelMetadata:
        return cls.from_json(path.read_text())
