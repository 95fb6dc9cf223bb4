"""Stable Diffusion 3 and 3.5, as diffusers' StableDiffusion3Pipeline: two CLIPs (penultimate states and
pooled projections) and T5 condition a flow-matching transformer, with classifier-free guidance. A folder
without T5 (text_encoder_3) gets zeros in its place, as diffusers does."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from t2i import contract
from t2i.contract import ModelMetadata
from t2i.families.base import Conditioning, Family, RunNetwork, prompt_texts, split_per_request, tokenize
from t2i.request import GenerationRequest


class SD3Family(Family):
    text_encoders = 3

    @classmethod
    def tokenizer_count(cls, metadata: ModelMetadata) -> int:
        return 3 if metadata.t5_hidden_size else 2

    def encode(
        self, run: RunNetwork, requests: list[GenerationRequest], device: torch.device
    ) -> list[Conditioning]:
        meta = self.metadata
        texts = prompt_texts(requests, meta)
        # Both CLIPs at the first tokenizer's length, as diffusers tokenizes them.
        clip_length = meta.tokenizer_max_length
        first_ids = tokenize(self.tokenizers[0], texts, device, clip_length)
        second_ids = tokenize(self.tokenizers[1], texts, device, clip_length)
        first = run(contract.SD3_TEXT_ENCODER, {"input_ids": first_ids})
        second = run(contract.SD3_TEXT_ENCODER_2, {"input_ids": second_ids})
        if meta.t5_hidden_size:
            t5_ids = tokenize(self.tokenizers[2], texts, device, meta.t5_max_length)
            t5 = run(contract.SD3_T5_ENCODER, {"input_ids": t5_ids})["hidden_states"].float()
        else:
            t5 = torch.zeros(len(texts), meta.t5_max_length, meta.text_hidden_size, device=device)
        clip = torch.cat([first["hidden_states"], second["hidden_states"]], dim=-1).float()
        # The CLIP states, zero-padded to T5's width, then T5's: one sequence.
        clip = torch.nn.functional.pad(clip, (0, t5.shape[-1] - clip.shape[-1]))
        pooled = torch.cat([first["text_embeds"], second["text_embeds"]], dim=-1).float()
        return split_per_request(
            requests,
            meta,
            {"encoder_hidden_states": torch.cat([clip, t5], dim=-2), "pooled_projections": pooled},
        )

    def denoiser_inputs(
        self, sample: torch.Tensor, timestep: torch.Tensor, conditioning: Conditioning
    ) -> dict[str, torch.Tensor]:
        return {"hidden_states": sample, "timestep": timestep, **conditioning}

    def prediction(self, outputs: Mapping[str, torch.Tensor], sample: torch.Tensor) -> torch.Tensor:
        return outputs["velocity"]
