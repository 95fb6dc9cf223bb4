"""SDXL (base, Turbo, LCM-distilled): two CLIP text encoders and added conditions, as diffusers'
StableDiffusionXLPipeline. Turbo and LCM checkpoints are the same networks with other schedulers and
few-step, low-guidance defaults (set at export from the checkpoint's scheduler)."""

from __future__ import annotations

import torch

from t2i import contract
from t2i.families.base import (
    Conditioning,
    PromptEncoder,
    RunNetwork,
    prompt_texts,
    split_per_request,
    tokenize,
    uses_guidance,
)
from t2i.request import GenerationRequest


class SDXLPromptEncoder(PromptEncoder):
    text_encoders = 2

    def encode(
        self, run: RunNetwork, requests: list[GenerationRequest], device: torch.device
    ) -> list[Conditioning]:
        texts = prompt_texts(requests, self.metadata)
        # The two encoders have their own tokenizers (the second pads with "!"), one call each per batch.
        first = run(contract.SDXL_TEXT_ENCODER, {"input_ids": tokenize(self.tokenizers[0], texts, device)})
        second = run(contract.SDXL_TEXT_ENCODER_2, {"input_ids": tokenize(self.tokenizers[1], texts, device)})
        hidden = torch.cat([first["hidden_states"], second["hidden_states"]], dim=-1).float()
        pooled = second["text_embeds"].float()
        row = 0
        for request in requests:
            # diffusers' force_zeros_for_empty_prompt: without a negative prompt the unconditional half
            # is zeros, not the encoding of "".
            if (
                uses_guidance(request, self.metadata)
                and not request.negative_prompt
                and self.metadata.zero_empty_negative_prompt
            ):
                hidden[row].zero_()
                pooled[row].zero_()
            row += 2 if uses_guidance(request, self.metadata) else 1
        # Original size, crop top-left and target size; both are the generated size (diffusers' default).
        time_ids = torch.tensor(
            [
                [r.height, r.width, 0, 0, r.height, r.width]
                for r in requests
                for _ in range(2 if uses_guidance(r, self.metadata) else 1)
            ],
            dtype=torch.float32,
            device=device,
        )
        return split_per_request(
            requests,
            self.metadata,
            {"encoder_hidden_states": hidden, "text_embeds": pooled, "time_ids": time_ids},
        )
