"""The Stable Diffusion denoising loop, independent of where the networks run.

The Triton pipeline model runs it with networks called over BLS; benchmarks and tests run it with plain
onnxruntime sessions. Its structure follows diffusers' `StableDiffusionPipeline.__call__`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from t2i import contract
from t2i.contract import ModelMetadata, ModelSpec
from t2i.request import GenerationRequest, check_request
from t2i.schedulers import accepts_generator, make_scheduler


class Networks(Protocol):
    """The four exported networks, called with and returning float32/int64 numpy arrays."""

    def encode_text(self, input_ids: np.ndarray) -> np.ndarray: ...

    def predict_noise(
        self, sample: np.ndarray, timestep: np.ndarray, encoder_hidden_states: np.ndarray
    ) -> np.ndarray: ...

    def decode_latents(self, latent: np.ndarray) -> np.ndarray: ...

    def encode_image(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class NetworksBySpec:
    """`Networks` on top of one `infer(spec, *arrays)`: each backend (local onnxruntime, Triton BLS)
    implements only how a model is called."""

    def infer(self, spec: ModelSpec, *arrays: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def encode_text(self, input_ids: np.ndarray) -> np.ndarray:
        return self.infer(contract.TEXT_ENCODER, input_ids)[0]

    def predict_noise(
        self, sample: np.ndarray, timestep: np.ndarray, encoder_hidden_states: np.ndarray
    ) -> np.ndarray:
        return self.infer(contract.UNET, sample, timestep, encoder_hidden_states)[0]

    def decode_latents(self, latent: np.ndarray) -> np.ndarray:
        return self.infer(contract.VAE_DECODER, latent)[0]

    def encode_image(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, logvar = self.infer(contract.VAE_ENCODER, image)
        return mean, logvar


class Tokenizer(Protocol):
    model_max_length: int

    def __call__(self, texts: list[str], **kwargs: Any) -> Any: ...


class GenerationCancelled(Exception):
    """Every request of the batch was cancelled by its client; the loop stopped early."""


def batch_key(request: GenerationRequest) -> tuple[int, int, int, str] | None:
    """Requests with the same key share every UNet call of their loop; None: the request runs alone
    (image-to-image starts at a timestep that depends on its own strength)."""
    if request.init_image is not None:
        return None
    return (request.width, request.height, request.steps, request.scheduler)


@dataclass
class _RequestState:
    """One request's part of a batch: its own seeds, scheduler, guidance and latents."""

    request: GenerationRequest
    do_cfg: bool
    embeddings: np.ndarray  # [uncond x n, cond x n], or [cond x n] without guidance
    generators: list[torch.Generator]
    scheduler: Any
    timesteps: torch.Tensor
    latents: torch.Tensor


class DenoisingPipeline:
    def __init__(
        self,
        networks: Networks,
        tokenizer: Tokenizer,
        scheduler_config: dict[str, Any],
        metadata: ModelMetadata,
    ):
        self.networks = networks
        self.tokenizer = tokenizer
        self.scheduler_config = scheduler_config
        self.metadata = metadata

    @classmethod
    def from_version_dir(cls, version_dir: Path, networks: Networks) -> DenoisingPipeline:
        """The pipeline of an exported model: `<repository>/pipeline/1/` holds tokenizer, scheduler config
        and metadata; `networks` runs the four networks (BLS, onnxruntime, TensorRT)."""
        from transformers import CLIPTokenizer

        scheduler_file = version_dir / contract.SCHEDULER_DIRNAME / "scheduler_config.json"
        return cls(
            networks,
            CLIPTokenizer.from_pretrained(version_dir / contract.TOKENIZER_DIRNAME),
            json.loads(scheduler_file.read_text()),
            ModelMetadata.load(version_dir / contract.METADATA_FILENAME),
        )

    def __call__(self, request: GenerationRequest) -> np.ndarray:
        """Generate `request.num_images` images as uint8 [N, height, width, 3]."""
        return self.generate_batch([request])[0]

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        """Unset fields from the model's metadata, then the checks; raises InvalidRequest."""
        request = request.with_defaults(self.metadata)
        check_request(request, self.metadata)
        return request

    def generate_batch(
        self, requests: list[GenerationRequest], cancelled: Callable[[], bool] | None = None
    ) -> list[np.ndarray]:
        """Several requests with one `batch_key` as one UNet batch per step; images per request.
        `cancelled` is asked before every step: when it says yes the loop stops (no work for nobody)."""
        # 1. Check inputs, with unset fields taken from the model's metadata.
        requests = [self.prepare(r) for r in requests]
        keys = {batch_key(r) for r in requests}
        if len(requests) > 1 and (len(keys) > 1 or None in keys):
            raise ValueError("requests of one batch must share size, steps and scheduler, without init image")

        # 2. Encode every prompt and negative prompt in one text-encoder call.
        embeddings = self.encode_prompts(requests)

        # 3-4. Per request: generators seeded seed + i, its own scheduler, the starting latents.
        states = [self.prepare_state(r, e) for r, e in zip(requests, embeddings, strict=True)]
        encoder_hidden_states = np.concatenate([s.embeddings for s in states])

        # 5. Denoising loop: one UNet call per step for the whole batch (per model evaluation for
        #    2nd-order schedulers); guidance and the scheduler step stay per request.
        for i in range(len(states[0].timesteps)):
            if cancelled is not None and cancelled():
                raise GenerationCancelled()
            model_inputs = []
            for state in states:
                model_input = torch.cat([state.latents] * 2) if state.do_cfg else state.latents
                model_inputs.append(state.scheduler.scale_model_input(model_input, state.timesteps[i]))
            timestep = np.concatenate(
                [
                    np.full((len(x),), float(s.timesteps[i]), np.float32)
                    for s, x in zip(states, model_inputs, strict=True)
                ]
            )
            noise_pred = torch.from_numpy(
                self.networks.predict_noise(torch.cat(model_inputs).numpy(), timestep, encoder_hidden_states)
            )
            for state, part in zip(states, noise_pred.split([len(x) for x in model_inputs]), strict=True):
                if state.do_cfg:
                    noise_uncond, noise_text = part.chunk(2)
                    part = noise_uncond + state.request.guidance_scale * (noise_text - noise_uncond)
                step_kwargs = {"generator": state.generators} if accepts_generator(state.scheduler) else {}
                state.latents = state.scheduler.step(
                    part, state.timesteps[i], state.latents, **step_kwargs, return_dict=False
                )[0]

        # 6. Decode in one call: undo the VAE scaling, map [-1, 1] to uint8 NHWC, split per request.
        latents = torch.cat([s.latents for s in states]) / self.metadata.vae_scaling_factor
        decoded = self.networks.decode_latents(latents.numpy().astype(np.float32))
        images = np.clip(decoded / 2 + 0.5, 0.0, 1.0).transpose(0, 2, 3, 1)
        images = (images * 255).round().astype(np.uint8)
        bounds = np.cumsum([s.request.num_images for s in states])[:-1]
        return [np.ascontiguousarray(part) for part in np.split(images, bounds)]

    def encode_prompts(self, requests: list[GenerationRequest]) -> list[np.ndarray]:
        """Per request, embeddings for [uncond x n, cond x n] (or cond x n without guidance)."""
        texts: list[str] = []
        for r in requests:
            # Guidance at or below 1 is the conditional prediction alone: no unconditional half.
            texts += [r.negative_prompt, r.prompt] if r.guidance_scale > 1.0 else [r.prompt]
        input_ids = self.tokenizer(
            texts,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="np",
        ).input_ids.astype(np.int64)
        encoded = self.networks.encode_text(input_ids).astype(np.float32)
        result, row = [], 0
        for r in requests:
            rows = 2 if r.guidance_scale > 1.0 else 1
            result.append(np.ascontiguousarray(np.repeat(encoded[row : row + rows], r.num_images, axis=0)))
            row += rows
        return result

    def prepare_state(self, request: GenerationRequest, embeddings: np.ndarray) -> _RequestState:
        generators = [torch.Generator("cpu").manual_seed(request.seed + i) for i in range(request.num_images)]
        scheduler = make_scheduler(request.scheduler, self.scheduler_config)
        scheduler.set_timesteps(request.steps)
        latent_shape = (
            1,
            self.metadata.latent_channels,
            request.height // self.metadata.vae_scale_factor,
            request.width // self.metadata.vae_scale_factor,
        )
        noise = torch.cat([torch.randn(latent_shape, generator=g) for g in generators])
        if request.init_image is None:
            timesteps, latents = scheduler.timesteps, noise * scheduler.init_noise_sigma
        else:
            timesteps, latents = self.prepare_init_latents(request, scheduler, noise, generators)
        return _RequestState(
            request, request.guidance_scale > 1.0, embeddings, generators, scheduler, timesteps, latents
        )

    def prepare_init_latents(
        self,
        request: GenerationRequest,
        scheduler: Any,
        noise: torch.Tensor,
        generators: list[torch.Generator],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Image-to-image: encode the init image and noise it to the step that `strength` selects."""
        assert request.init_image is not None
        # Strength picks how much of the schedule to run; at least one step so the result is denoised.
        init_steps = max(1, min(int(request.steps * request.strength), request.steps))
        t_start = (request.steps - init_steps) * scheduler.order
        timesteps = scheduler.timesteps[t_start:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(t_start)

        resized = Image.fromarray(request.init_image).resize(
            (request.width, request.height), Image.Resampling.LANCZOS
        )
        pixels = np.asarray(resized, dtype=np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0
        mean, logvar = (torch.from_numpy(a) for a in self.networks.encode_image(pixels))
        # Same clamp as diffusers' DiagonalGaussianDistribution, for numerical safety.
        std = torch.exp(0.5 * torch.clamp(logvar, -30.0, 20.0))
        init_latents = (
            torch.cat([mean + std * torch.randn(mean.shape, generator=g) for g in generators])
            * self.metadata.vae_scaling_factor
        )
        latents = scheduler.add_noise(init_latents, noise, timesteps[:1].repeat(len(generators)))
        return timesteps, latents
