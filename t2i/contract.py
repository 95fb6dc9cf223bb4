"""The names, types and limits that export, the Triton models and the frontend must agree on.

Defined once here: `export` writes `config.pbtxt` files from these specs, the Triton Python models read
their tensors by these names, and the frontend builds its gRPC requests from them. A unit test checks every
generated config against the exported ONNX graphs.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# A str dim is either one of the dynamic axes below (-1 in config.pbtxt, a named axis in ONNX, a range in a
# TensorRT profile) or the name of a ModelMetadata field, resolved from the model when a config is written.
BATCH = "batch"
TOKENS = "tokens"
LATENT_HEIGHT = "latent_height"
LATENT_WIDTH = "latent_width"
HEIGHT = "height"
WIDTH = "width"
# A flow transformer on 2x2-packed latents (Flux) sees (latent_height / 2) x (latent_width / 2) tokens.
IMAGE_TOKENS = "image_tokens"
DYNAMIC_AXES = (BATCH, TOKENS, LATENT_HEIGHT, LATENT_WIDTH, HEIGHT, WIDTH, IMAGE_TOKENS)
Dim = int | str


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # Triton dtype name without the TYPE_ prefix: FP32, INT64, UINT8, BYTES...
    dims: tuple[Dim, ...]
    optional: bool = False

    def resolved_dims(self, metadata: ModelMetadata) -> tuple[int, ...]:
        """Fixed dims as numbers, dynamic axes as -1."""
        return tuple(-1 if d in DYNAMIC_AXES else fixed_dim(metadata, d) for d in self.dims)


def fixed_dim(metadata: ModelMetadata, dim: Dim) -> int:
    """A fixed dim's size: a number, or the metadata field it names."""
    return dim if isinstance(dim, int) else int(getattr(metadata, dim))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    # > 0: Triton's dynamic batcher hands up to this many requests to one execute(); every tensor then
    # has a leading batch dim (1 per request) in front of `dims`. 0: dims are the full shape.
    max_batch_size: int = 0
    # Decoupled: any number of responses per request (partial images, then the final one), over gRPC
    # streaming only.
    decoupled: bool = False

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

_LATENT = (BATCH, "latent_channels", LATENT_HEIGHT, LATENT_WIDTH)
_PIXELS = (BATCH, 3, HEIGHT, WIDTH)
_INPUT_IDS = TensorSpec("input_ids", "INT64", (BATCH, TOKENS))
# One timestep per sample so the batch axis stays dynamic for request batching.
_TIMESTEP = TensorSpec("timestep", "FP32", (BATCH,))
# The width the UNet's cross-attention takes: one text encoder's (SD) or two concatenated (SDXL).
_ENCODER_HIDDEN_STATES = TensorSpec("encoder_hidden_states", "FP32", (BATCH, TOKENS, "text_hidden_size"))

# SD 1.x / 2.x: one CLIP text encoder, a UNet conditioned on its last hidden state.
TEXT_ENCODER = ModelSpec(
    name="text_encoder",
    inputs=(_INPUT_IDS,),
    outputs=(TensorSpec("last_hidden_state", "FP32", (BATCH, TOKENS, "text_hidden_size")),),
)
UNET = ModelSpec(
    name="unet",
    inputs=(TensorSpec("sample", "FP32", _LATENT), _TIMESTEP, _ENCODER_HIDDEN_STATES),
    outputs=(TensorSpec("noise_pred", "FP32", _LATENT),),
)
VAE_DECODER = ModelSpec(
    name="vae_decoder",
    inputs=(TensorSpec("latent", "FP32", _LATENT),),
    outputs=(TensorSpec("image", "FP32", _PIXELS),),
)
VAE_ENCODER = ModelSpec(
    name="vae_encoder",
    inputs=(TensorSpec("image", "FP32", _PIXELS),),
    # The distribution's parameters, not a sample: the pipeline samples with its own seeded generator.
    outputs=(TensorSpec("latent_mean", "FP32", _LATENT), TensorSpec("latent_logvar", "FP32", _LATENT)),
)

# SDXL: two CLIP text encoders. The UNet sees the penultimate hidden layer of both, concatenated, and
# through its "added conditions" the pooled projection of the second and six size/crop numbers (time ids).
SDXL_TEXT_ENCODER = ModelSpec(
    name="text_encoder",
    inputs=(_INPUT_IDS,),
    outputs=(TensorSpec("hidden_states", "FP32", (BATCH, TOKENS, "text_encoder_hidden_size")),),
)
SDXL_TEXT_ENCODER_2 = ModelSpec(
    name="text_encoder_2",
    inputs=(_INPUT_IDS,),
    outputs=(
        TensorSpec("hidden_states", "FP32", (BATCH, TOKENS, "text_encoder_2_hidden_size")),
        TensorSpec("text_embeds", "FP32", (BATCH, "pooled_text_size")),
    ),
)
SDXL_TIME_IDS = 6  # original height, width, crop top, left, target height, width
SDXL_UNET = ModelSpec(
    name="unet",
    inputs=(
        *UNET.inputs,
        TensorSpec("text_embeds", "FP32", (BATCH, "pooled_text_size")),
        TensorSpec("time_ids", "FP32", (BATCH, SDXL_TIME_IDS)),
    ),
    outputs=UNET.outputs,
)

# Flow-matching transformer families. The T5 encoder's sequence is fixed per model (its
# max_sequence_length, prompts padded to it as diffusers does), so it is a metadata dim, not an axis.
_T5_INPUT_IDS = TensorSpec("input_ids", "INT64", (BATCH, "t5_max_length"))
_T5_HIDDEN_STATES = TensorSpec("hidden_states", "FP32", (BATCH, "t5_max_length", "t5_hidden_size"))
_POOLED_PROJECTIONS = TensorSpec("pooled_projections", "FP32", (BATCH, "pooled_text_size"))
# What a flow transformer predicts: the velocity from noise to image (epsilon for the loop's guidance
# arithmetic alike; the scheduler knows it is a flow).
_VELOCITY_PACKED = TensorSpec("velocity", "FP32", (BATCH, IMAGE_TOKENS, "packed_latent_channels"))

# Flux.1: CLIP-L's pooled output and T5's sequence; the transformer sees 2x2-packed latents with their
# positions (img_ids), one timestep in [0, 1] per row and, for guidance-distilled checkpoints (dev), the
# guidance scale as an input instead of an unconditional half.
FLUX_TEXT_ENCODER = ModelSpec(
    name="text_encoder",
    inputs=(_INPUT_IDS,),
    outputs=(TensorSpec("text_embeds", "FP32", (BATCH, "pooled_text_size")),),
)
FLUX_T5_ENCODER = ModelSpec(name="text_encoder_2", inputs=(_T5_INPUT_IDS,), outputs=(_T5_HIDDEN_STATES,))
FLUX_TRANSFORMER = ModelSpec(
    name="transformer",
    inputs=(
        TensorSpec("hidden_states", "FP32", (BATCH, IMAGE_TOKENS, "packed_latent_channels")),
        _TIMESTEP,
        TensorSpec("encoder_hidden_states", "FP32", (BATCH, "t5_max_length", "text_hidden_size")),
        _POOLED_PROJECTIONS,
        TensorSpec("img_ids", "FP32", (IMAGE_TOKENS, 3)),
    ),
    outputs=(_VELOCITY_PACKED,),
)
FLUX_GUIDANCE = TensorSpec("guidance", "FP32", (BATCH,))

# SD 3 / 3.5: two CLIPs (penultimate states, pooled projections) and T5; the transformer attends to the
# CLIP states (zero-padded to T5's width) followed by T5's, with classifier-free guidance.
SD3_TEXT_ENCODER = ModelSpec(
    name="text_encoder",
    inputs=(_INPUT_IDS,),
    outputs=(
        TensorSpec("hidden_states", "FP32", (BATCH, TOKENS, "text_encoder_hidden_size")),
        TensorSpec("text_embeds", "FP32", (BATCH, "text_encoder_pooled_size")),
    ),
)
SD3_TEXT_ENCODER_2 = ModelSpec(
    name="text_encoder_2",
    inputs=(_INPUT_IDS,),
    outputs=(
        TensorSpec("hidden_states", "FP32", (BATCH, TOKENS, "text_encoder_2_hidden_size")),
        TensorSpec("text_embeds", "FP32", (BATCH, "text_encoder_2_pooled_size")),
    ),
)
SD3_T5_ENCODER = ModelSpec(name="text_encoder_3", inputs=(_T5_INPUT_IDS,), outputs=(_T5_HIDDEN_STATES,))
SD3_TRANSFORMER = ModelSpec(
    name="transformer",
    inputs=(
        TensorSpec("hidden_states", "FP32", _LATENT),
        _TIMESTEP,
        TensorSpec("encoder_hidden_states", "FP32", (BATCH, "prompt_sequence_length", "text_hidden_size")),
        _POOLED_PROJECTIONS,
    ),
    outputs=(TensorSpec("velocity", "FP32", _LATENT),),
)

# The model families and the networks each exports and serves. A family is read from the checkpoint's
# model_index.json by export and recorded in the model metadata; everything downstream looks it up here.
FAMILY_NETWORKS: dict[str, tuple[ModelSpec, ...]] = {
    "sd": (TEXT_ENCODER, UNET, VAE_DECODER, VAE_ENCODER),
    "sdxl": (SDXL_TEXT_ENCODER, SDXL_TEXT_ENCODER_2, SDXL_UNET, VAE_DECODER, VAE_ENCODER),
    "flux": (FLUX_TEXT_ENCODER, FLUX_T5_ENCODER, FLUX_TRANSFORMER, VAE_DECODER, VAE_ENCODER),
    "sd3": (SD3_TEXT_ENCODER, SD3_TEXT_ENCODER_2, SD3_T5_ENCODER, SD3_TRANSFORMER, VAE_DECODER, VAE_ENCODER),
}
FAMILY_DESCRIPTIONS = {
    "sd": "Stable Diffusion 1.x/2.x",
    "sdxl": "SDXL, SDXL-Turbo, LCM-SDXL",
    "flux": "Flux.1 schnell and dev",
    "sd3": "Stable Diffusion 3 and 3.5",
}
FAMILIES = tuple(FAMILY_NETWORKS)
# Families whose denoiser is a flow-matching transformer (velocity prediction, sigmas from 1 to 0).
FLOW_FAMILIES = ("flux", "sd3")
# The network that denoises, by family kind: every loop step calls it.
DENOISER_NAMES = (UNET.name, FLUX_TRANSFORMER.name)


# LCM-distilled UNets take the guidance scale as an embedding added to the timestep's (diffusers'
# time_cond_proj_dim) instead of running an unconditional half.
TIMESTEP_COND = TensorSpec("timestep_cond", "FP32", (BATCH, "time_cond_proj_dim"))


def with_guidance_embedding(unet: ModelSpec) -> ModelSpec:
    return dataclasses.replace(unet, inputs=(*unet.inputs, TIMESTEP_COND))


def with_inpainting_channels(unet: ModelSpec) -> ModelSpec:
    """Inpainting UNets take the latents, the mask and the masked image's latents stacked on channels."""
    sample = TensorSpec("sample", "FP32", (BATCH, "unet_in_channels", LATENT_HEIGHT, LATENT_WIDTH))
    return dataclasses.replace(unet, inputs=(sample, *unet.inputs[1:]))


# The BLS model every public API ends up calling. Scalars are [1] after the batch dim; only `prompt` is
# required. Concurrent requests reach one execute() together, and those that share size, steps and
# scheduler run as one UNet batch per step.
PIPELINE = ModelSpec(
    name="pipeline",
    inputs=(
        TensorSpec("prompt", "BYTES", (1,)),
        # The served model to run (its name); may be left out where the repository serves one model.
        TensorSpec("model", "BYTES", (1,), optional=True),
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
        # Inpainting: with init_image, a [H, W] mask of its size, 255 where to repaint and 0 where to keep.
        TensorSpec("mask", "UINT8", (-1, -1), optional=True),
        # Previews decoded from the intermediate latents, sent as responses before the final one.
        TensorSpec("partial_images", "INT32", (1,), optional=True),
        # LoRA adapters to apply (torch backend): JSON [[name, scale], ...], in the order given.
        TensorSpec("loras", "BYTES", (1,), optional=True),
    ),
    outputs=(
        TensorSpec("images", "UINT8", (-1, -1, -1, 3)),
        # 0..partial_images-1 on a preview response, FINAL_RESPONSE on the last one (the images asked for).
        TensorSpec("partial_index", "INT32", (1,)),
    ),
    max_batch_size=8,
    decoupled=True,
)
FINAL_RESPONSE = -1

# Network config parameter holding its served model's metadata as JSON, so a remote client (the frontend)
# finds each served model, its sizes and defaults, from Triton alone.
METADATA_PARAMETER = "model_metadata"
METADATA_FILENAME = "model_metadata.json"
# One tokenizer folder per text encoder, in the order of the family's text encoders.
TOKENIZER_DIRNAMES = ("tokenizer", "tokenizer_2", "tokenizer_3")
SCHEDULER_DIRNAME = "scheduler"
ONNX_FILENAME = "model.onnx"
ENGINE_FILENAME = "model.plan"  # a TensorRT engine, beside the ONNX file it was built from
OPENVINO_FILENAME = "model.xml"  # OpenVINO IR (model.bin beside it), converted from the verified ONNX
MODEL_VERSION = "1"  # every model of the repository is served as version 1
# The torch backend: the served model's diffusers folder (saved by export) in its assets, which its network
# models load their components from; LoRA adapters beside it, one folder each (`python -m export --lora`).
TORCH_WEIGHTS_DIRNAME = "torch"
LORAS_DIRNAME = "loras"
LORA_FILENAME = "pytorch_lora_weights.safetensors"
TORCH_BACKEND = "torch"
# Families whose adapters the torch backend applies per request (UNet and text encoders, as diffusers'
# load_lora_weights + set_adapters do).
LORA_FAMILIES = ("sd", "sdxl")
MAX_LORAS = 4
LORAS_PARAMETER = "loras"  # the BLS request parameter that carries a network call's adapters
MAX_LORA_SCALE = 4.0  # |scale| at most this


def version_dir(repository: Path, model: str) -> Path:
    """Where Triton finds a model's files: `<repository>/<model>/1/`."""
    return repository / model / MODEL_VERSION


# A repository serves several models (a catalogue): each served model's networks are Triton models of
# their own, named from the served name, and one shared `pipeline` model runs every served model's loop
# (one process for torch and diffusers, however many models), chosen per request by its `model` input.
NETWORK_SEPARATOR = "__"
SERVED_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
MODELS_DIRNAME = "models"  # in the pipeline's version dir: one folder of assets per served model


def check_served_name(name: str) -> str:
    """A served name: letters, digits, '.', '_', '-' (a Triton model name and a folder name), without the
    separator of network names; ValueError naming the rule otherwise."""
    if not SERVED_NAME.fullmatch(name) or NETWORK_SEPARATOR in name or len(name) > 100:
        raise ValueError(
            f"served model name {name!r}: use letters, digits, '.', '_' and '-' (at most 100, starting and "
            f"ending with a letter or digit, no {NETWORK_SEPARATOR!r})"
        )
    return name


def network_model_name(served: str, network: str) -> str:
    """The Triton model name of one network of a served model: `<served>__<network>`, e.g. `sdxl__unet`."""
    return f"{served}{NETWORK_SEPARATOR}{network}"


def served_name_of(triton_model: str) -> tuple[str, str] | None:
    """(served name, network) of a network model's Triton name; None for any other model."""
    served, separator, network = triton_model.partition(NETWORK_SEPARATOR)
    return (served, network) if separator and served and network else None


def model_assets_dir(repository: Path, served: str) -> Path:
    """A served model's tokenizers, scheduler config and metadata, read by the shared pipeline."""
    return version_dir(repository, PIPELINE.name) / MODELS_DIRNAME / served


def torch_weights_dir(repository: Path, served: str) -> Path:
    return model_assets_dir(repository, served) / TORCH_WEIGHTS_DIRNAME


def lora_dir(repository: Path, served: str, lora: str) -> Path:
    return model_assets_dir(repository, served) / LORAS_DIRNAME / lora


def served_loras(repository: Path, served: str) -> tuple[str, ...]:
    """The LoRA adapters added to a served model (`python -m export --lora`), by name."""
    root = model_assets_dir(repository, served) / LORAS_DIRNAME
    if not root.is_dir():
        return ()
    return tuple(sorted(p.name for p in root.iterdir() if (p / LORA_FILENAME).is_file()))


def network_dir(repository: Path, served: str, network: str) -> Path:
    """A served model's network file (ONNX, engine) and its model.py: the network model's version dir."""
    return version_dir(repository, network_model_name(served, network))


def served_models(repository: Path) -> list[str]:
    """The served models exported into a repository, by name."""
    root = version_dir(repository, PIPELINE.name) / MODELS_DIRNAME
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / METADATA_FILENAME).is_file())


def is_pre_catalogue(repository: Path) -> bool:
    """A repository exported before the catalogue: one model, networks named `unet` etc."""
    return (version_dir(repository, PIPELINE.name) / METADATA_FILENAME).is_file()


PRE_CATALOGUE_MESSAGE = (
    "{repository} holds a model exported before the model catalogue (networks named unet, text_encoder...); "
    "export it again: python -m export --model <folder> --output {repository} --force"
)


# Schedulers of noise-prediction (epsilon / v) UNets, and of flow-matching transformers; a model accepts
# the ones of its kind (ModelMetadata.schedulers), published in its metadata.
DIFFUSION_SCHEDULERS = ("euler", "euler_a", "ddim", "dpmpp_2m", "lcm", "pndm", "heun")
FLOW_SCHEDULERS = ("flow_euler",)
SCHEDULERS = DIFFUSION_SCHEDULERS + FLOW_SCHEDULERS

# Request limits, checked by the frontend and again by the pipeline (Triton can be called directly).
MAX_STEPS = 150
MAX_GUIDANCE_SCALE = 50.0
MAX_IMAGES = 8
MAX_PARTIAL_IMAGES = 3
MAX_SIDE = 2048  # the widest any backend serves; a model's metadata may publish a narrower range
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
    family: str = "sd"
    # SDXL's two text encoders and the pooled projection (0 for SD, whose encoder gives text_hidden_size).
    text_encoder_hidden_size: int = 0
    text_encoder_2_hidden_size: int = 0
    pooled_text_size: int = 0
    # SDXL: an empty negative prompt is all-zero conditioning rather than the encoded "" (diffusers'
    # force_zeros_for_empty_prompt, from the checkpoint's model_index.json).
    zero_empty_negative_prompt: bool = False
    # Some VAEs normalise latents per channel (diffusers' latents_mean / latents_std); None: scaling only.
    vae_latents_mean: tuple[float, ...] | None = None
    vae_latents_std: tuple[float, ...] | None = None
    # What the exported backend serves: image sides in pixels (0: the size multiple) and, per network,
    # the largest batch one call may carry (absent: any), e.g. a TensorRT engine's profile.
    min_side: int = 0
    max_side: int = MAX_SIDE
    network_max_batch: dict[str, int] = dataclasses.field(default_factory=dict)
    time_cond_proj_dim: int = 0  # > 0: the UNet takes `timestep_cond` (LCM-distilled)
    # > latent_channels: an inpainting UNet (9 channels for SD: latents, mask, masked image latents).
    unet_in_channels: int = 0
    # Flow families: latents are (latents / scaling) + shift before the VAE decodes them.
    vae_shift_factor: float = 0.0
    # T5 (Flux, SD3): its width and the fixed sequence prompts are padded to; 0: no T5 (an SD3 folder
    # without text_encoder_3 gets zeros there, as diffusers does).
    t5_hidden_size: int = 0
    t5_max_length: int = 0
    # SD3: the first CLIP's pooled width (the second's is the rest of pooled_text_size).
    text_encoder_pooled_size: int = 0
    # Flux dev: the transformer embeds the guidance scale (no unconditional half).
    guidance_embeds: bool = False
    # The backend its networks run on (export's --backend), and the LoRA adapters it serves per request.
    backend: str = ""
    loras: tuple[str, ...] = ()

    @property
    def smallest_side(self) -> int:
        return self.min_side or self.size_multiple

    @property
    def flow_matching(self) -> bool:
        return self.family in FLOW_FAMILIES

    @property
    def schedulers(self) -> tuple[str, ...]:
        """The scheduler names a request may ask of this model."""
        return FLOW_SCHEDULERS if self.flow_matching else DIFFUSION_SCHEDULERS

    @property
    def classifier_free_guidance(self) -> bool:
        """Whether guidance runs an unconditional half: not for Flux (dev embeds the scale, schnell takes
        none) nor for LCM-distilled UNets (time_cond_proj_dim)."""
        return self.family != "flux" and not self.time_cond_proj_dim

    @property
    def packed_latent_channels(self) -> int:
        return self.latent_channels * 4

    @property
    def text_encoder_2_pooled_size(self) -> int:
        return self.pooled_text_size - self.text_encoder_pooled_size

    @property
    def prompt_sequence_length(self) -> int:
        """SD3's transformer attends to the CLIP tokens followed by T5's."""
        return self.tokenizer_max_length + self.t5_max_length

    @property
    def networks(self) -> tuple[ModelSpec, ...]:
        """The family's networks as this model exports them."""
        specs = FAMILY_NETWORKS[self.family]
        if self.family == "sd3" and not self.t5_hidden_size:
            specs = tuple(s for s in specs if s is not SD3_T5_ENCODER)
        if self.guidance_embeds:
            specs = tuple(
                dataclasses.replace(s, inputs=(*s.inputs, FLUX_GUIDANCE)) if s is FLUX_TRANSFORMER else s
                for s in specs
            )
        if self.time_cond_proj_dim:
            specs = tuple(with_guidance_embedding(s) if s.name == UNET.name else s for s in specs)
        if self.inpainting_unet:
            specs = tuple(with_inpainting_channels(s) if s.name == UNET.name else s for s in specs)
        return specs

    @property
    def adapters_per_request(self) -> bool:
        """Whether a request's `loras` can be applied: the torch backend, on a family it adapts."""
        return self.backend == TORCH_BACKEND and self.family in LORA_FAMILIES

    @property
    def inpainting_unet(self) -> bool:
        return self.unet_in_channels > self.latent_channels

    def network(self, name: str) -> ModelSpec:
        return next(spec for spec in self.networks if spec.name == name)

    @property
    def denoiser(self) -> ModelSpec:
        """The network every step calls: the UNet, or the flow transformer."""
        return next(spec for spec in self.networks if spec.name in DENOISER_NAMES)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in json.loads(text).items() if k in fields}
        for key in ("vae_latents_mean", "vae_latents_std", "loras"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)

    @classmethod
    def load(cls, path: Path) -> ModelMetadata:
        return cls.from_json(path.read_text())
