"""The one internal generation request that every public API translates to, and its checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t2i import contract
from t2i.contract import ModelMetadata

# LoRA adapters of a request: (name, scale) pairs, applied in this order.
Loras = tuple[tuple[str, float], ...]


class InvalidRequest(ValueError):
    """A request field is out of its allowed range; `param` names the field."""

    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass
class GenerationRequest:
    prompt: str
    negative_prompt: str = ""
    width: int = 0  # 0: the model's native size
    height: int = 0
    steps: int = 0  # 0: the model's default
    guidance_scale: float = -1.0  # negative: the model's default
    seed: int = 0
    num_images: int = 1
    scheduler: str = ""  # empty: the model's default
    init_image: np.ndarray | None = None  # uint8 [H, W, 3]
    strength: float = 0.8
    mask: np.ndarray | None = None  # uint8 [H, W] of init_image: 255 repaint, 0 keep (inpainting)
    partial_images: int = 0  # previews streamed before the final images
    model: str = ""  # the served model to run; empty: the repository's only one
    loras: Loras = ()  # the model's LoRA adapters to apply

    def with_defaults(self, metadata: ModelMetadata) -> GenerationRequest:
        """Fill unset fields from the model's metadata (never from constants in the loop)."""
        return GenerationRequest(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            width=self.width or metadata.native_width,
            height=self.height or metadata.native_height,
            steps=self.steps or metadata.default_steps,
            guidance_scale=(
                self.guidance_scale if self.guidance_scale >= 0 else metadata.default_guidance_scale
            ),
            seed=self.seed,
            num_images=self.num_images,
            scheduler=self.scheduler or metadata.default_scheduler,
            init_image=self.init_image,
            strength=self.strength,
            mask=self.mask,
            partial_images=self.partial_images,
            model=self.model or metadata.name,
            loras=self.loras,
        )


def check_request(request: GenerationRequest, metadata: ModelMetadata) -> None:
    """Raise InvalidRequest naming the first bad field; `request` must have its defaults filled."""
    if not request.prompt.strip():
        raise InvalidRequest("prompt", "prompt must be a non-empty string")
    for name, text in (("prompt", request.prompt), ("negative_prompt", request.negative_prompt)):
        if len(text) > contract.MAX_PROMPT_CHARS:
            raise InvalidRequest(name, f"{name} must be at most {contract.MAX_PROMPT_CHARS} characters")
    # The range the exported backend serves (a TensorRT profile may stop short of contract.MAX_SIDE).
    multiple, smallest, largest = metadata.size_multiple, metadata.smallest_side, metadata.max_side
    for name, side in (("width", request.width), ("height", request.height)):
        if not smallest <= side <= largest or side % multiple:
            raise InvalidRequest(
                name,
                f"{name} must be a multiple of {multiple} between {smallest} and {largest} for this model, "
                f"got {side}",
            )
    if not 1 <= request.steps <= contract.MAX_STEPS:
        raise InvalidRequest(
            "steps", f"steps must be between 1 and {contract.MAX_STEPS}, got {request.steps}"
        )
    if not 0.0 <= request.guidance_scale <= contract.MAX_GUIDANCE_SCALE:
        raise InvalidRequest(
            "guidance_scale",
            f"guidance_scale must be between 0 and {contract.MAX_GUIDANCE_SCALE}, "
            f"got {request.guidance_scale}",
        )
    if not 0 <= request.seed <= contract.MAX_SEED:
        raise InvalidRequest("seed", f"seed must be between 0 and {contract.MAX_SEED}, got {request.seed}")
    if not 1 <= request.num_images <= contract.MAX_IMAGES:
        raise InvalidRequest(
            "num_images", f"num_images must be between 1 and {contract.MAX_IMAGES}, got {request.num_images}"
        )
    if not 0 <= request.partial_images <= contract.MAX_PARTIAL_IMAGES:
        raise InvalidRequest(
            "partial_images",
            f"partial_images must be between 0 and {contract.MAX_PARTIAL_IMAGES}, "
            f"got {request.partial_images}",
        )
    if request.scheduler not in metadata.schedulers:
        # A flow-matching model cannot run an epsilon scheduler, nor a UNet a flow one.
        raise InvalidRequest(
            "scheduler",
            f"scheduler must be one of {', '.join(metadata.schedulers)} for this model, "
            f"got {request.scheduler!r}",
        )
    if request.loras:
        check_loras(request.loras, metadata)
    if request.init_image is not None:
        image = request.init_image
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
            raise InvalidRequest("init_image", "init_image must be a uint8 RGB array of shape [H, W, 3]")
        if not 0.0 < request.strength <= 1.0:
            raise InvalidRequest("strength", f"strength must be in (0, 1], got {request.strength}")
    if request.mask is not None:
        if request.init_image is None:
            raise InvalidRequest("mask", "mask needs an init_image to repaint")
        if request.mask.dtype != np.uint8 or request.mask.shape != request.init_image.shape[:2]:
            raise InvalidRequest(
                "mask",
                f"mask must be a uint8 array of the image's size {list(request.init_image.shape[:2])}, "
                f"got {request.mask.dtype} {list(request.mask.shape)}",
            )


def check_loras(loras: Loras, metadata: ModelMetadata) -> None:
    if not metadata.adapters_per_request:
        raise InvalidRequest(
            "loras",
            f"loras are applied per request by the torch backend, for {', '.join(contract.LORA_FAMILIES)} "
            f"models (python -m export --backend torch, then --lora); model {metadata.name!r} runs on "
            f"{metadata.backend or 'python-onnxruntime'}, where an adapter is fused at export into a model "
            "of its own (--fuse-lora PATH:SCALE)",
        )
    if len(loras) > contract.MAX_LORAS:
        raise InvalidRequest("loras", f"loras takes at most {contract.MAX_LORAS} adapters, got {len(loras)}")
    names = [name for name, _ in loras]
    if len(set(names)) != len(names):
        raise InvalidRequest("loras", "loras names an adapter twice")
    for name, scale in loras:
        if name not in metadata.loras:
            served = ", ".join(metadata.loras) or "none"
            raise InvalidRequest(
                "loras", f"unknown LoRA {name!r} for model {metadata.name!r}; it has: {served}"
            )
        if not abs(scale) <= contract.MAX_LORA_SCALE:
            raise InvalidRequest(
                "loras",
                f"the scale of LoRA {name!r} must be between -{contract.MAX_LORA_SCALE:g} and "
                f"{contract.MAX_LORA_SCALE:g}, got {scale}",
            )
