"""The denoising loop, shared by every model family and independent of where the networks run.

The Triton pipeline model runs it with networks called over BLS; benchmarks and tests run it with plain
onnxruntime sessions; a GPU backend with TensorRT engines. Networks take and return torch tensors on their
own device, by name, so latents stay where the networks are; numpy appears only at the edges (the
request's init image in, uint8 images out). The structure follows diffusers' `StableDiffusionPipeline`,
`StableDiffusionXLPipeline`, `FluxPipeline` and `StableDiffusion3Pipeline.__call__`; what differs per
family (prompt encoding, the schedule, the denoiser's inputs: a UNet's, or a flow transformer's) is in
`t2i.families`. The denoiser is whichever network the family's steps call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from t2i import contract
from t2i.contract import ModelMetadata, ModelSpec
from t2i.families import Conditioning, Tokenizer, family_of, load_tokenizers, uses_guidance
from t2i.request import GenerationRequest, Loras, check_request
from t2i.schedulers import accepts_generator, make_scheduler


class Networks(Protocol):
    """Runs one exported network: named torch tensors in, named torch tensors out, all on `device`."""

    device: torch.device

    def run(
        self, spec: ModelSpec, inputs: Mapping[str, torch.Tensor], loras: Loras = ()
    ) -> dict[str, torch.Tensor]:
        """`loras`: the adapters (name, scale) the call applies; only the torch backend takes any."""
        ...


class GenerationCancelled(Exception):
    """Every request of the batch was cancelled by its client; the loop stopped early."""


@dataclass
class StepEvent:
    """What the step hook sees after each denoising step. A hook may raise (GenerationCancelled stops the
    batch) or replace entries of `latents` (inpainting blends the kept region back in); previews decode
    them. Latents are on the networks' device."""

    index: int  # 0-based index of the step just taken
    total: int
    timestep: float
    requests: list[GenerationRequest]
    latents: list[torch.Tensor]  # per request, [num_images, C, h, w]
    # Per request, the scheduler's prediction of the final latents at this step (its
    # pred_original_sample), or the latents themselves where the scheduler gives none: what previews show.
    denoised: list[torch.Tensor]


StepHook = Callable[[StepEvent], None]


def batch_key(request: GenerationRequest) -> tuple[object, ...] | None:
    """Requests with the same key share every denoiser call of their loop; None: the request runs alone
    (image-to-image starts at a timestep that depends on its own strength). Requests with other LoRA
    adapters (or none) never share a network call."""
    if request.init_image is not None:
        return None
    return (request.width, request.height, request.steps, request.scheduler, request.loras)


@dataclass
class _RequestState:
    """One request's part of a batch: its own seeds, scheduler, guidance, conditioning and latents."""

    request: GenerationRequest
    do_cfg: bool
    conditioning: Conditioning  # rows [uncond x n, cond x n], or [cond x n] without guidance
    generators: list[torch.Generator]
    scheduler: Any
    timesteps: torch.Tensor
    latents: torch.Tensor
    inpainting: _Inpainting | None = None  # standard UNets: the kept region blended back each step
    unet_extra: torch.Tensor | None = None  # inpainting UNets: mask and masked image latents, per image
    denoised: torch.Tensor | None = None  # the scheduler's last pred_original_sample, if it gives one


@dataclass
class _Inpainting:
    """What a standard UNet needs to repaint only the masked region: the init image's latents, the noise
    they started from, and the region to repaint in latent cells (1 repaint, 0 keep)."""

    image_latents: torch.Tensor
    noise: torch.Tensor
    mask: torch.Tensor  # [1, 1, h, w]


class DenoisingPipeline:
    def __init__(
        self,
        networks: Networks,
        tokenizers: list[Tokenizer],
        scheduler_config: dict[str, Any],
        metadata: ModelMetadata,
    ):
        self.networks = networks
        self.device = torch.device(networks.device)
        self.family = family_of(metadata, tokenizers)
        self.scheduler_config = scheduler_config
        self.metadata = metadata
        self.denoiser = metadata.denoiser

    @classmethod
    def from_assets_dir(cls, assets_dir: Path, networks: Networks) -> DenoisingPipeline:
        """The pipeline of an exported model: its assets folder (contract.model_assets_dir) holds
        tokenizers, scheduler config and metadata; `networks` runs the family's networks (BLS,
        onnxruntime, TensorRT)."""
        metadata = ModelMetadata.load(assets_dir / contract.METADATA_FILENAME)
        scheduler_file = assets_dir / contract.SCHEDULER_DIRNAME / "scheduler_config.json"
        return cls(
            networks,
            load_tokenizers(assets_dir, metadata),
            json.loads(scheduler_file.read_text()),
            metadata,
        )

    def __call__(self, request: GenerationRequest) -> np.ndarray:
        """Generate `request.num_images` images as uint8 [N, height, width, 3]."""
        return self.generate_batch([request])[0]

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        """Unset fields from the model's metadata, then the checks; raises InvalidRequest."""
        request = request.with_defaults(self.metadata)
        check_request(request, self.metadata)
        return request

    def run_network(
        self, spec: ModelSpec, inputs: Mapping[str, torch.Tensor], loras: Loras = ()
    ) -> dict[str, torch.Tensor]:
        """One network call, split into several where the backend publishes a smaller batch limit
        (a TensorRT profile, say) than the batch at hand."""
        limit = self.metadata.network_max_batch.get(spec.name, 0)
        batch = len(next(iter(inputs.values())))
        if not limit or batch <= limit:
            return self.networks.run(spec, inputs, loras)
        parts = [
            self.networks.run(spec, {name: t[start : start + limit] for name, t in inputs.items()}, loras)
            for start in range(0, batch, limit)
        ]
        return {name: torch.cat([part[name] for part in parts]) for name in parts[0]}

    def generate_batch(
        self, requests: list[GenerationRequest], on_step: StepHook | None = None
    ) -> list[np.ndarray]:
        """Several requests with one `batch_key` as one denoiser batch per step; images per request.
        `on_step` is called after every step (cancellation, previews, inpainting)."""
        # 1. Check inputs, with unset fields taken from the model's metadata.
        requests = [self.prepare(r) for r in requests]
        keys = {batch_key(r) for r in requests}
        if len(requests) > 1 and (len(keys) > 1 or None in keys):
            raise ValueError("requests of one batch must share size, steps and scheduler, without init image")

        # 2. Encode every prompt and negative prompt: the family's text encoders, one call each. The
        #    batch's adapters (one set: batch_key) apply to the text encoders and the denoiser.
        loras = requests[0].loras

        def run_adapted(spec: ModelSpec, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return self.run_network(spec, inputs, loras)

        conditionings = self.family.encode(run_adapted, requests, self.device)
        if self.metadata.time_cond_proj_dim:
            for request, conditioning in zip(requests, conditionings, strict=True):
                conditioning["timestep_cond"] = self.guidance_embedding(request)

        # 3-4. Per request: generators seeded seed + i, its own scheduler, the starting latents.
        states = [self.prepare_state(r, c) for r, c in zip(requests, conditionings, strict=True)]
        conditioning = {
            name: torch.cat([s.conditioning[name] for s in states]) for name in states[0].conditioning
        }

        # 5. Denoising loop: one denoiser call per step for the whole batch (per model evaluation for
        #    2nd-order schedulers); guidance and the scheduler step stay per request. Inpainting is a step
        #    hook too, run before the caller's.
        hooks = [h for h in (self.inpainting_hook(states), on_step) if h is not None]
        total = len(states[0].timesteps)
        for i in range(total):
            model_inputs = []
            for state in states:
                model_input = torch.cat([state.latents] * 2) if state.do_cfg else state.latents
                if hasattr(state.scheduler, "scale_model_input"):  # flow schedulers do not scale
                    model_input = state.scheduler.scale_model_input(model_input, state.timesteps[i])
                if state.unet_extra is not None:
                    extra = torch.cat([state.unet_extra] * 2) if state.do_cfg else state.unet_extra
                    model_input = torch.cat([model_input, extra], dim=1)
                model_inputs.append(model_input)
            timestep = torch.cat(
                [
                    torch.full((len(x),), float(s.timesteps[i]), dtype=torch.float32, device=self.device)
                    for s, x in zip(states, model_inputs, strict=True)
                ]
            )
            sample = torch.cat(model_inputs)
            outputs = run_adapted(self.denoiser, self.family.denoiser_inputs(sample, timestep, conditioning))
            noise_pred = self.family.prediction(outputs, sample)
            for state, part in zip(states, noise_pred.split([len(x) for x in model_inputs]), strict=True):
                if state.do_cfg:
                    noise_uncond, noise_text = part.chunk(2)
                    part = noise_uncond + state.request.guidance_scale * (noise_text - noise_uncond)
                step_kwargs = {"generator": state.generators} if accepts_generator(state.scheduler) else {}
                output = state.scheduler.step(part, state.timesteps[i], state.latents, **step_kwargs)
                if self.metadata.flow_matching:
                    # The flow's clean estimate: x_t - sigma_t * velocity (its schedulers give none).
                    sigma = float(state.timesteps[i]) / state.scheduler.config.num_train_timesteps
                    state.denoised = state.latents - sigma * part
                else:
                    state.denoised = getattr(output, "pred_original_sample", None)
                state.latents = output.prev_sample
            if hooks:
                current = [s.latents for s in states]
                denoised = [s.latents if s.denoised is None else s.denoised for s in states]
                event = StepEvent(i, total, float(states[0].timesteps[i]), requests, current, denoised)
                for hook in hooks:
                    hook(event)
                for state, latents in zip(states, event.latents, strict=True):
                    state.latents = latents

        # 6. Decode in one call; uint8 NHWC per request, the one copy to the host.
        images = self.decode_latents(torch.cat([s.latents for s in states]))
        bounds = np.cumsum([s.request.num_images for s in states])[:-1]
        return [np.ascontiguousarray(part) for part in np.split(images, bounds)]

    def decode_latents(self, latents: torch.Tensor) -> np.ndarray:
        """Undo the VAE's latent normalisation, decode, map [-1, 1] to uint8 [N, H, W, 3]."""
        stats = self.latent_channel_stats()
        if stats is not None:
            mean, std = stats
            latents = latents * std / self.metadata.vae_scaling_factor + mean
        else:
            latents = latents / self.metadata.vae_scaling_factor + self.metadata.vae_shift_factor
        decoded = self.run_network(contract.VAE_DECODER, {"latent": latents.float()})["image"]
        images = (decoded / 2 + 0.5).clamp(0.0, 1.0).permute(0, 2, 3, 1)
        return (images * 255).round().to(torch.uint8).cpu().numpy()

    def guidance_embedding(self, request: GenerationRequest) -> torch.Tensor:
        """The guidance scale as LCM-distilled UNets take it: a sinusoidal embedding of (w - 1) * 1000,
        one row per image (diffusers' get_guidance_scale_embedding)."""
        dim = self.metadata.time_cond_proj_dim
        # Float32 step by step as diffusers computes it, so the embedding matches to the last bit.
        w = torch.tensor(request.guidance_scale - 1.0).repeat(request.num_images) * 1000.0
        half = dim // 2
        scale = torch.log(torch.tensor(10000.0)) / (half - 1)
        angles = w[:, None] * torch.exp(torch.arange(half, dtype=torch.float32) * -scale)[None, :]
        embedding = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
        if dim % 2:
            embedding = torch.nn.functional.pad(embedding, (0, 1))
        return embedding.to(self.device)

    def latent_channel_stats(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The VAE's per-channel latent mean and std as [1, C, 1, 1], or None where it only scales."""
        meta = self.metadata
        if meta.vae_latents_mean is None or meta.vae_latents_std is None:
            return None
        mean, std = (
            torch.tensor(v, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
            for v in (meta.vae_latents_mean, meta.vae_latents_std)
        )
        return mean, std

    def prepare_state(self, request: GenerationRequest, conditioning: Conditioning) -> _RequestState:
        generators = [torch.Generator("cpu").manual_seed(request.seed + i) for i in range(request.num_images)]
        scheduler = make_scheduler(request.scheduler, self.scheduler_config)
        latent_shape = (
            1,
            self.metadata.latent_channels,
            request.height // self.metadata.vae_scale_factor,
            request.width // self.metadata.vae_scale_factor,
        )
        self.family.set_timesteps(scheduler, request.steps, latent_shape, self.device)
        # Drawn on the CPU from each image's own generator (the seed convention), then moved.
        noise = torch.cat([torch.randn(latent_shape, generator=g) for g in generators]).to(self.device)
        # An inpainting UNet repaints from pure noise at full strength, as diffusers' inpainting does.
        from_noise = request.init_image is None or (self.metadata.inpainting_unet and request.strength >= 1.0)
        if from_noise:
            # Flow schedulers start from the noise itself (sigma 1) and have no init_noise_sigma.
            timesteps, latents = scheduler.timesteps, noise * getattr(scheduler, "init_noise_sigma", 1.0)
        else:
            timesteps, latents, image_latents = self.prepare_init_latents(
                request, scheduler, noise, generators
            )
        state = _RequestState(
            request,
            uses_guidance(request, self.metadata),
            conditioning,
            generators,
            scheduler,
            timesteps,
            latents,
        )
        if self.metadata.inpainting_unet:
            state.unet_extra = self.inpainting_unet_input(request, generators)
        elif request.mask is not None:
            state.inpainting = _Inpainting(image_latents, noise, self.latent_mask(request))
        return state

    def inpainting_unet_input(
        self, request: GenerationRequest, generators: list[torch.Generator]
    ) -> torch.Tensor:
        """What an inpainting UNet takes beside the latents, as diffusers' StableDiffusionInpaintPipeline
        prepares it: the mask at latent size (nearest) and the latents of the image with the masked
        region blanked, sampled with the first image's generator. Without an image or mask (plain text
        to image) everything is to be painted."""
        height, width = request.height, request.width
        if request.init_image is None or request.mask is None:
            mask = torch.ones(1, 1, height, width)
            pixels = torch.zeros(1, 3, height, width)
        else:
            mask = self.pixel_mask(request)
            pixels = self.image_pixels(request)
        masked = self.sample_latents((pixels * (mask < 0.5)).to(self.device), generators[:1])
        factor = self.metadata.vae_scale_factor
        latent_mask = torch.nn.functional.interpolate(mask, size=(height // factor, width // factor))
        extra = torch.cat([latent_mask.to(self.device), masked], dim=1)
        return extra.repeat(request.num_images, 1, 1, 1)

    def image_pixels(self, request: GenerationRequest) -> torch.Tensor:
        """The init image at the generated size, [1, 3, H, W] in [-1, 1]."""
        assert request.init_image is not None
        resized = Image.fromarray(request.init_image).resize(
            (request.width, request.height), Image.Resampling.LANCZOS
        )
        return torch.from_numpy(np.asarray(resized, dtype=np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0)

    def sample_latents(self, pixels: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
        """VAE-encode one image and draw one latent sample per generator, normalised as the UNet sees them."""
        encoded = self.run_network(contract.VAE_ENCODER, {"image": pixels})
        mean, logvar = encoded["latent_mean"], encoded["latent_logvar"]
        # Same clamp as diffusers' DiagonalGaussianDistribution, for numerical safety.
        std = torch.exp(0.5 * torch.clamp(logvar, -30.0, 20.0))
        samples = torch.cat(
            [mean + std * torch.randn(mean.shape, generator=g).to(self.device) for g in generators]
        )
        stats = self.latent_channel_stats()
        if stats is not None:
            mean, std = stats
            return (samples - mean) * self.metadata.vae_scaling_factor / std
        return (samples - self.metadata.vae_shift_factor) * self.metadata.vae_scaling_factor

    def pixel_mask(self, request: GenerationRequest) -> torch.Tensor:
        """The mask at the generated size, binarised: [1, 1, H, W], 1 where to repaint."""
        assert request.mask is not None
        resized = Image.fromarray(request.mask).resize(
            (request.width, request.height), Image.Resampling.NEAREST
        )
        return torch.from_numpy((np.asarray(resized) >= 128).astype(np.float32))[None, None]

    def latent_mask(self, request: GenerationRequest) -> torch.Tensor:
        """Per latent cell: a cell covering any pixel to repaint is repainted (pixel-exact keeping is the
        caller's composite at full resolution)."""
        factor = self.metadata.vae_scale_factor
        return torch.nn.functional.max_pool2d(self.pixel_mask(request), factor).to(self.device)

    @staticmethod
    def inpainting_hook(states: list[_RequestState]) -> StepHook | None:
        """After each step, the kept region goes back to the init image's latents noised to the next
        timestep (diffusers' inpainting with a standard UNet); only the masked region is denoised."""
        if all(s.inpainting is None for s in states):
            return None

        def blend(event: StepEvent) -> None:
            for k, state in enumerate(states):
                if state.inpainting is None:
                    continue
                kept = state.inpainting.image_latents
                if event.index < len(state.timesteps) - 1:
                    next_timestep = state.timesteps[event.index + 1 : event.index + 2]
                    kept = noised(state.scheduler, kept, state.inpainting.noise, next_timestep)
                mask = state.inpainting.mask
                event.latents[k] = (1 - mask) * kept + mask * event.latents[k]

        return blend

    def prepare_init_latents(
        self,
        request: GenerationRequest,
        scheduler: Any,
        noise: torch.Tensor,
        generators: list[torch.Generator],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Image-to-image: encode the init image and noise it to the step that `strength` selects.
        Returns the timesteps left, the starting latents and the init image's latents."""
        assert request.init_image is not None
        # Strength picks how much of the schedule to run; at least one step so the result is denoised.
        init_steps = max(1, min(int(request.steps * request.strength), request.steps))
        t_start = (request.steps - init_steps) * scheduler.order
        timesteps = scheduler.timesteps[t_start:]
        if hasattr(scheduler, "set_begin_index"):
            scheduler.set_begin_index(t_start)

        init_latents = self.sample_latents(self.image_pixels(request).to(self.device), generators)
        latents = noised(scheduler, init_latents, noise, timesteps[:1].repeat(len(generators)))
        return timesteps, latents, init_latents


def noised(
    scheduler: Any, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
) -> torch.Tensor:
    """`latents` noised to `timesteps`: a flow scheduler's interpolation toward the noise (scale_noise),
    or a diffusion scheduler's add_noise."""
    if hasattr(scheduler, "scale_noise"):
        return scheduler.scale_noise(latents, timesteps, noise)
    return scheduler.add_noise(latents, noise, timesteps)
