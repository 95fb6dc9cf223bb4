"""Stable Diffusion 1.x / 2.x (epsilon or v-prediction, read by the scheduler from its config): one CLIP
text encoder; the UNet is conditioned on its last hidden state, as diffusers' StableDiffusionPipeline."""

from __future__ import annotations

import torch

from t2i import contract
from t2i.families.base import (
    Conditioning,
    Family,
    RunNetwork,
    prompt_texts,
    split_per_request,
    tokenize,
)
from t2i.request import GenerationRequest


class SDFamily(Family):
    def encode(
        self, run: RunNetwork, requests: list[GenerationRequest], device: torch.device
    ) -> list[Conditioning]:
        # Every prompt and negative prompt of the batch in one text-encoder call.
        input_ids = tokenize(self.tokenizers[0], prompt_texts(requests, self.metadata), device)
        hidden = run(contract.TEXT_ENCODER, {"input_ids": input_ids})["last_hidden_state"]
        return split_per_request(requests, self.metadata, {"encoder_hidden_states": hidden.float()})
