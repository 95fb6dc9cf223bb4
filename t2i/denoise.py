"""The Stable Diffusion denoising loop, independent of where the networks run.

The Triton pipeline model runs it with networks called over BLS; benchmarks and tests run it with plain
onnxruntime sessions. Its structure follows diffusers' `StableDiffusionPipeline.__call__`.
"""

from __future__ import annotations

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

    def __call__(self, request: GenerationRequest) -> np.ndarray:
        """Generate `request.num_images` images as uint8 [N, height, width, 3]."""
        # 1. Check inputs, with unset fields taken from the model's metadata.
        request = request.with_defaults(self.metadata)
        check_request(request, self.metadata)
        n = request.num_images
        # Guidance at or below 1 is the conditional prediction alone, so skip the unconditional half.
        do_cfg = request.guidance_scale > 1.0

        # 2. Encode the prompt, and the negative prompt for classifier-free guidance.
        text_embeddings = self.encode_prompt(request.prompt, request.negative_prompt, n, do_cfg)

        # 3. One generator per image, seeded seed + i, so each image can be regenerated alone.
        generators = [torch.Generator("cpu").manual_seed(request.seed + i) for i in range(n)]

        # 4. Timesteps, and the starting latents (pure noise, or a noised init image).
        scheduler = make_scheduler(request.scheduler, self.scheduler_config)
        scheduler.set_timesteps(request.steps)
        timesteps = scheduler.timesteps
        latent_shape = (
            1,
            self.metadata.latent_channels,
            request.height // self.metadata.vae_scale_factor,
            request.width // self.metadata.vae_scale_factor,
        )
        noise = torch.cat([torch.randn(latent_shape, generator=g) for g in generators])
        if request.init_image is None:
            latents = noise * scheduler.init_noise_sigma
        else:
            timesteps, latents = self.prepare_init_latents(request, scheduler, noise, generators)

        # 5. Denoising loop: one UNet call per scheduler step (per model evaluation for 2nd-order ones).
        step_kwargs: dict[str, Any] = {"generator": generators} if accepts_generator(scheduler) else {}
        for t in timesteps:
            model_input = torch.cat([latents] * 2) if do_cfg else latents
            model_input = scheduler.scale_model_input(model_input, t)
            timestep = np.full((model_input.shape[0],), float(t), dtype=np.float32)
            noise_pred = torch.from_numpy(
                self.networks.predict_noise(model_input.numpy(), timestep, text_embeddings)
            )
            if do_cfg:
                noise_uncond, noise_text = noise_pred.chunk(2)
                noise_pred = noise_uncond + request.guidance_scale * (noise_text - noise_uncond)
            latents = scheduler.step(noise_pred, t, latents, **step_kwargs, return_dict=False)[0]

        # 6. Decode: undo the VAE scaling, map [-1, 1] to uint8 NHWC.
        latents_np = (latents / self.metadata.vae_scaling_factor).numpy().astype(np.float32)
        decoded = self.networks.decode_latents(latents_np)
        images = np.clip(decoded / 2 + 0.5, 0.0, 1.0).transpose(0, 2, 3, 1)
        return np.ascontiguousarray((images * 255).round().astype(np.uint8))

    def encode_prompt(self, prompt: str, negative_prompt: str, n: int, do_cfg: bool) -> np.ndarray:
        """Embeddings for [uncond x n, cond x n] (or cond x n without guidance)."""
        texts = [negative_prompt, prompt] if do_cfg else [prompt]
        input_ids = self.tokenizer(
            texts,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="np",
        ).input_ids.astype(np.int64)
        embeddings = self.networks.encode_text(input_ids)
        return np.ascontiguousarray(np.repeat(embeddings, n, axis=0), dtype=np.float32)

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
