"""SDXL (base, Turbo, LCM-distilled): two CLIP text encoders and added conditions, as diffusers'
StableDiffusionXLPipeline. Turbo and LCM checkpoints are the same networks with other schedulers and
few-step, low-guidance defaults (set at export from the checkpoint's scheduler)."""

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
    uses_guidance,
)
from t2i.request import GenerationRequest


class SDXLFamily(Family):
    text_encoders = 2

    def encode(
        self, run: RunNetwork, requests: list[GenerationRequest], device: torch.device
    ) -> list[Conditioning]:
        texts = prompt_texts(requests, self.metadata)
        # The two encoders have their own tokenizers (the second pads with "!"), one call each per batch.
        first = run(contract.SDXL_TEXT_ENCODER, {"input_ids": tokenize(self.tokenizers[0], texts, device)})
        second = run(contract.SDXL_TEXT_ENCODER_2, {"input_ids": tokenize(self.tokenizers[1], texts, device)})
        hidden = torch.cat([first["hidden_states"], second["hidden_states"]], dim=-1).float()
        conditionings = split_per_request(
            requests,
            self.metadata,
            {"encoder_hidden_states": hidden, "text_embeds": second["text_embeds"].float()},
        )
        for request, conditioning in zip(requests, conditionings, strict=True):
            rows = len(conditioning["text_embeds"])
            # diffusers' force_zeros_for_empty_prompt: without a negative prompt the unconditional half
            # (the first num_images rows) is zeros, not the encoding of "".
            if (
                uses_guidance(request, self.metadata)
                and not request.negative_prompt
                and self.metadata.zero_empty_negative_prompt
            ):
                conditioning["encoder_hidden_states"][: request.num_images] = 0
                conditioning["text_embeds"][: request.num_images] = 0
            # Original size, crop top-left and target size; all the generated size (diffusers' default).
            size = [request.height, request.width, 0, 0, request.height, request.width]
            conditioning["time_ids"] = torch.tensor([size], dtype=torch.float32, device=device).repeat(
                rows, 1
            )
        return conditionings
