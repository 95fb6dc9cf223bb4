"""What every family's prompt encoding shares: the guidance rule, tokenizing, rows per request."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

import torch

from t2i.contract import ModelMetadata, ModelSpec
from t2i.request import GenerationRequest

# Named tensors, keyed by the UNet input they feed (encoder_hidden_states, text_embeds, time_ids, ...).
Conditioning = dict[str, torch.Tensor]
# Runs one network on named tensors (the pipeline's runner: on the networks' device, batch-limited).
RunNetwork = Callable[[ModelSpec, Mapping[str, torch.Tensor]], dict[str, torch.Tensor]]


class Tokenizer(Protocol):
    model_max_length: int

    def __call__(self, texts: list[str], **kwargs: Any) -> Any: ...


def uses_guidance(request: GenerationRequest, metadata: ModelMetadata) -> bool:
    """Classifier-free guidance: an unconditional half beside the conditional one. Not at guidance 1 or
    below (the conditional prediction alone), nor for a UNet that takes the guidance scale as an input
    (LCM-distilled, diffusers' time_cond_proj_dim)."""
    return request.guidance_scale > 1.0 and not metadata.time_cond_proj_dim


def prompt_texts(requests: list[GenerationRequest], metadata: ModelMetadata) -> list[str]:
    """The texts to encode: [negative, prompt] per guided request, [prompt] otherwise."""
    texts: list[str] = []
    for request in requests:
        guided = uses_guidance(request, metadata)
        texts += [request.negative_prompt, request.prompt] if guided else [request.prompt]
    return texts


def tokenize(tokenizer: Tokenizer, texts: list[str], device: torch.device) -> torch.Tensor:
    ids = tokenizer(
        texts,
        padding="max_length",
        max_length=tokenizer.model_max_length,
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


class PromptEncoder:
    """A family's prompt encoding: requests -> per-request UNet conditioning."""

    text_encoders: ClassVar[int] = 1

    def __init__(self, metadata: ModelMetadata, tokenizers: list[Tokenizer]):
        if len(tokenizers) != self.text_encoders:
            raise ValueError(
                f"{metadata.family} needs {self.text_encoders} tokenizers, got {len(tokenizers)}"
            )
        self.metadata = metadata
        self.tokenizers = tokenizers

    def encode(
        self, run: RunNetwork, requests: list[GenerationRequest], device: torch.device
    ) -> list[Conditioning]:
        raise NotImplementedError
