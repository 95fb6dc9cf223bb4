"""What every family shares: the guidance rule, tokenizing, rows per request, and the default (UNet) way
of calling the denoiser and setting the schedule, which the flow-matching families replace."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

import torch

from t2i.contract import ModelMetadata, ModelSpec
from t2i.request import GenerationRequest

# Named tensors, keyed by the denoiser input they feed (encoder_hidden_states, text_embeds, time_ids, ...).
Conditioning = dict[str, torch.Tensor]
# Runs one network on named tensors (the pipeline's runner: on the networks' device, batch-limited).
RunNetwork = Callable[[ModelSpec, Mapping[str, torch.Tensor]], dict[str, torch.Tensor]]


class Tokenizer(Protocol):
    model_max_length: int

    def __call__(self, texts: list[str], **kwargs: Any) -> Any: ...


def uses_guidance(request: GenerationRequest, metadata: ModelMetadata) -> bool:
    """Classifier-free guidance: an unconditional half beside the conditional one. Not at guidance 1 or
    below (the conditional prediction alone), nor for a denoiser that takes the guidance scale as an
    input or none at all (LCM-distilled UNets, Flux)."""
    return request.guidance_scale > 1.0 and metadata.classifier_free_guidance


def prompt_texts(requests: list[GenerationRequest], metadata: ModelMetadata) -> list[str]:
    """The texts to encode: [negative, prompt] per guided request, [prompt] otherwise."""
    texts: list[str] = []
    for request in requests:
        guided = uses_guidance(request, metadata)
        texts += [request.negative_prompt, request.prompt] if guided else [request.prompt]
    return texts


def tokenize(
    tokenizer: Tokenizer, texts: list[str], device: torch.device, max_length: int | None = None
) -> torch.Tensor:
    """Padded to the encoder's fixed length: the tokenizer's own, or (T5) the model's sequence length."""
    ids = tokenizer(
        texts,
        padding="max_length",
        max_length=max_length or tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids
    return ids.to(device=device, dtype=torch.int64)


def split_per_request(
    requests: list[GenerationRequest], metadata: ModelMetadata, encoded: Conditioning
) -> list[Conditioning]:
    """Rows of the encoded texts -> per request [uncond x n, cond x n] (or cond x n without guidance),
    each image of a request with its own copy, as diffusers repeats them for num_images_per_prompt."""
    result, row = [], 0
    for request in requests:
        rows = 2 if uses_guidance(request, metadata) else 1
        result.append(
            {
                name: tensor[row : row + rows].repeat_interleave(request.num_images, dim=0)
                for name, tensor in encoded.items()
            }
        )
        row += rows
    return result


class Family:
    """What a model family does in the shared loop: requests -> per-request denoiser conditioning, the
    schedule, and the denoiser call on latents [N, C, h, w]. The defaults are a UNet's."""

    text_encoders: ClassVar[int] = 1

    def __init__(self, metadata: ModelMetadata, tokenizers: list[Tokenizer]):
        if len(tokenizers) != self.tokenizer_count(metadata):
            raise ValueError(
                f"{metadata.family} needs {self.tokenizer_count(metadata)} tokenizers, got {len(tokenizers)}"
            )
        self.metadata = metadata
        self.tokenizers = tokenizers

    @classmethod
    def tokenizer_count(cls, metadata: ModelMetadata) -> int:
        return cls.text_encoders

    def encode(
        self, run: RunNetwork, requests: list[GenerationRequest], device: torch.device
    ) -> list[Conditioning]:
        raise NotImplementedError

    def set_timesteps(
        self, scheduler: Any, steps: int, latent_shape: tuple[int, ...], device: torch.device
    ) -> None:
        scheduler.set_timesteps(steps, device=device)

    def denoiser_inputs(
        self, sample: torch.Tensor, timestep: torch.Tensor, conditioning: Conditioning
    ) -> dict[str, torch.Tensor]:
        """The denoiser's named inputs for latents [N, C, h, w] and one timestep per row."""
        return {"sample": sample, "timestep": timestep, **conditioning}

    def prediction(self, outputs: Mapping[str, torch.Tensor], sample: torch.Tensor) -> torch.Tensor:
        """The denoiser's output as [N, C, h, w], what the scheduler steps with."""
        return outputs["noise_pred"]
