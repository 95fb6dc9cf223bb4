"""Train the `shapes` model: first the VAE on the images, then the UNet and the text encoder together on the
VAE's latents, as latent diffusion does. Deterministic given the seed and the thread count."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.training_utils import EMAModel
from tqdm import tqdm
from transformers import CLIPTextModel, CLIPTokenizer

from export.components import SERVING_DEFAULTS_FILENAME, Components, UnsupportedModel, load_checkpoint
from t2i.families.base import tokenize as serving_tokenize
from training import architecture
from training.shapes import render, training_layouts

# Euler steps and guidance the model is served with by default (and evaluated with).
SERVING_DEFAULTS = {"default_steps": 20, "hd_steps": 40, "default_guidance_scale": 5.0}
TRAINING_LOG = "training_log.json"


class BadOption(ValueError):
    """An option refused before any work; the message is one line naming it."""


@dataclass
class TrainingConfig:
    seed: int = 0
    images: int = 8000
    vae_steps: int = 1600
    vae_batch: int = 16
    vae_crop: int = 64  # the VAE is convolutional: crops teach it as well as whole images, 4x cheaper
    vae_lr: float = 1e-3
    vae_kl_weight: float = 1e-6
    unet_steps: int = 4000
    unet_batch: int = 32
    unet_lr: float = 8e-4
    warmup_steps: int = 200
    caption_dropout: float = 0.1  # empty captions, so classifier-free guidance has an unconditional model
    background_dropout: float = 0.15  # captions that leave the background unsaid
    schedule: str = "sd"  # a key of architecture.SCHEDULES
    offset_noise: float = 0.1  # lets the model choose the mean colour instead of keeping the noise's
    pair_fraction: float = 0.0  # pictures with two shapes, each at its own position
    min_snr_gamma: float = 5.0
    # v-prediction only: the weight, in terms of the x0 error, that the zero-SNR step keeps (see snr_weights).
    terminal_weight: float = 1.0
    # Timesteps are drawn from [0, max_timestep): below the schedule's 1000 steps, training works on detail
    # only (the high-noise steps that place the shapes are left as they are).
    max_timestep: int = 1000
    ema_decay: float = 0.999
    threads: int = 2
    # A shapes folder to go on training (the VAE is kept as it is; UNet and text encoder train from its
    # weights, with a new optimiser, learning-rate schedule and EMA); empty: everything from scratch.
    init: str = ""
    # 1: cross-attention at the 16x16 latents too (architecture.block_types); added to an --init UNet that
    # lacks it without changing what it draws, so that training goes on from the same model. 0 keeps the
    # UNet's blocks as they are.
    attention_at_16: int = 0


@dataclass
class Dataset:
    images: torch.Tensor  # uint8 [N, 3, H, W]
    input_ids: torch.Tensor  # int64 [N, 2, 77]: the caption with and without its background
    empty_ids: torch.Tensor  # int64 [77]: the empty prompt, as the pipeline tokenizes it


def tokenize(tokenizer: CLIPTokenizer, texts: list[str]) -> torch.Tensor:
    """Exactly as the serving pipeline tokenizes prompts (t2i.families), on the CPU."""
    return serving_tokenize(tokenizer, texts, torch.device("cpu"))


def make_dataset(config: TrainingConfig, tokenizer: CLIPTokenizer) -> Dataset:
    layouts = list(training_layouts(config.images, config.seed, config.pair_fraction))
    images = np.stack([render(layout, architecture.NATIVE_SIZE) for layout in tqdm(layouts, desc="render")])
    captions = [c for layout in layouts for c in (layout.caption(), layout.caption(with_background=False))]
    ids = tokenize(tokenizer, captions).reshape(len(layouts), 2, -1)
    return Dataset(
        torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), ids, tokenize(tokenizer, [""])[0]
    )


def to_pixels(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1.0


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train_vae(
    config: TrainingConfig, data: Dataset, generator: torch.Generator, log: Callable
) -> AutoencoderKL:
    vae = architecture.build_vae().train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.vae_lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, config.vae_steps, config.warmup_steps)
    )
    side, crop = data.images.shape[-1], config.vae_crop
    progress = tqdm(range(config.vae_steps), desc="VAE")
    for step in progress:
        index = torch.randint(len(data.images), (config.vae_batch,), generator=generator)
        top, left = (int(v) for v in torch.randint(side - crop + 1, (2,), generator=generator))
        pixels = to_pixels(data.images[index, :, top : top + crop, left : left + crop])
        posterior = vae.encode(pixels).latent_dist
        latents = posterior.mean + posterior.std * torch.randn(posterior.mean.shape, generator=generator)
        reconstruction = vae.decode(latents).sample
        # L1 keeps flat colours and edges crisp; MSE punishes the odd wrong pixel. KL only keeps the
        # latent space tame (LDM's weight), it is not meant to make it Gaussian.
        loss = F.l1_loss(reconstruction, pixels) + F.mse_loss(reconstruction, pixels)
        loss = loss + config.vae_kl_weight * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        progress.set_postfix(loss=f"{loss.item():.4f}")
        log("vae", step, loss.item())
    return vae.eval()


@torch.no_grad()
def encode_latents(
    vae: AutoencoderKL, images: torch.Tensor, batch: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and std of every image: the UNet phase samples from them each time it sees one."""
    means, stds = [], []
    for start in tqdm(range(0, len(images), batch), desc="encode latents"):
        posterior = vae.encode(to_pixels(images[start : start + batch])).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
    return torch.cat(means), torch.cat(stds)


@torch.no_grad()
def reconstruction_psnr(vae: AutoencoderKL, latent_mean: torch.Tensor, images: torch.Tensor) -> float:
    decoded = vae.decode(latent_mean).sample.clamp(-1, 1)
    mse = F.mse_loss((decoded + 1) * 127.5, images.float()).item()
    return 10 * math.log10(255.0**2 / max(mse, 1e-10))


def snr_weights(
    noise_scheduler: DDPMScheduler, timesteps: torch.Tensor, gamma: float, terminal_weight: float = 1.0
) -> torch.Tensor:
    """Min-SNR-gamma loss weights (Hang et al. 2023), which converge much faster: in terms of the x0 error
    each step weighs min(snr, gamma). The epsilon loss is snr times the x0 loss and the v loss snr + 1 times,
    so for epsilon that is min(snr, gamma) / snr. For v-prediction the steps near zero SNR, which decide the
    layout, would weigh nothing; min(snr + terminal_weight, gamma) / (snr + 1) keeps them (1: full weight)."""
    alphas_cumprod = noise_scheduler.alphas_cumprod[timesteps]
    snr = alphas_cumprod / (1 - alphas_cumprod)
    if noise_scheduler.config.prediction_type == "v_prediction":
        return torch.clamp(snr + terminal_weight, max=gamma) / (snr + 1)
    return torch.clamp(snr, max=gamma) / snr


def train_denoiser(
    config: TrainingConfig,
    data: Dataset,
    latent_mean: torch.Tensor,
    latent_std: torch.Tensor,
    scaling_factor: float,
    generator: torch.Generator,
    log: Callable,
    unet: UNet2DConditionModel,
    text_encoder: CLIPTextModel,
) -> tuple[UNet2DConditionModel, CLIPTextModel]:
    unet, text_encoder = unet.train(), text_encoder.train()
    parameters = list(unet.parameters()) + list(text_encoder.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=config.unet_lr, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, config.unet_steps, config.warmup_steps)
    )
    ema_unet = EMAModel(unet.parameters(), decay=config.ema_decay, use_ema_warmup=True, power=3 / 4)
    ema_text = EMAModel(text_encoder.parameters(), decay=config.ema_decay, use_ema_warmup=True, power=3 / 4)
    noise_scheduler = DDPMScheduler.from_config(architecture.SCHEDULES[config.schedule])

    progress = tqdm(range(config.unet_steps), desc="UNet + text encoder")
    for step in progress:
        index = torch.randint(len(latent_mean), (config.unet_batch,), generator=generator)
        mean, std = latent_mean[index], latent_std[index]
        latents = (mean + std * torch.randn(mean.shape, generator=generator)) * scaling_factor

        # Captions: the full one, one without the background, or the empty prompt (guidance's unconditional).
        draw = torch.rand(config.unet_batch, generator=generator)
        variant = (draw < config.background_dropout).long()
        input_ids = data.input_ids[index, variant]
        input_ids[draw > 1 - config.caption_dropout] = data.empty_ids

        noise = torch.randn(latents.shape, generator=generator)
        if config.offset_noise:
            noise += config.offset_noise * torch.randn((*latents.shape[:2], 1, 1), generator=generator)
        timesteps = torch.randint(config.max_timestep, (config.unet_batch,), generator=generator)
        noisy = noise_scheduler.add_noise(latents, noise, timesteps)
        encoder_hidden_states = text_encoder(input_ids)[0]
        prediction = unet(noisy, timesteps, encoder_hidden_states).sample
        if noise_scheduler.config.prediction_type == "v_prediction":
            target = noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        per_sample = F.mse_loss(prediction, target, reduction="none").mean(dim=(1, 2, 3))
        weights = snr_weights(noise_scheduler, timesteps, config.min_snr_gamma, config.terminal_weight)
        loss = (per_sample * weights).mean()

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        ema_unet.step(unet.parameters())
        ema_text.step(text_encoder.parameters())
        progress.set_postfix(loss=f"{loss.item():.4f}")
        log("unet", step, loss.item())
    # Sampling uses the averaged weights: much steadier than the last step's after a short run.
    ema_unet.copy_to(unet.parameters())
    ema_text.copy_to(text_encoder.parameters())
    return unet.eval(), text_encoder.eval()


class LossLog:
    """Mean loss per phase over windows of `every` steps, for the training log kept with the weights."""

    def __init__(self, every: int = 100):
        self.every = every
        self.window: dict[str, list[float]] = {}
        self.curves: dict[str, list[tuple[int, float]]] = {}

    def __call__(self, phase: str, step: int, loss: float) -> None:
        window = self.window.setdefault(phase, [])
        window.append(loss)
        if len(window) == self.every:
            self.curves.setdefault(phase, []).append((step + 1, round(float(np.mean(window)), 5)))
            window.clear()


@contextmanager
def deterministic_torch(threads: int) -> Iterator[None]:
    """Deterministic kernels and a fixed thread count (float sums depend on how work is split), restored
    afterwards so that a caller in the same process (the tests) keeps its own settings."""
    previous = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1])


def train(config: TrainingConfig, output: Path, tokenizer: CLIPTokenizer, command: str) -> None:
    if config.schedule not in architecture.SCHEDULES:
        raise BadOption(f"schedule must be one of {sorted(architecture.SCHEDULES)}, not {config.schedule!r}")
    steps = architecture.SCHEDULES[config.schedule]["num_train_timesteps"]
    if not 0 < config.max_timestep <= steps:
        raise BadOption(f"max_timestep must be in 1..{steps}, not {config.max_timestep}")
    initial = load_init(Path(config.init)) if config.init else None
    with deterministic_torch(config.threads):
        _train(config, output, tokenizer, command, initial)


def _train(
    config: TrainingConfig,
    output: Path,
    tokenizer: CLIPTokenizer,
    command: str,
    initial: Components | None,
) -> None:
    # Every random draw (data, crops, noise, timesteps, dropout) comes from this one generator.
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # weight initialisation
    started = time.time()
    log = LossLog()

    data = make_dataset(config, tokenizer)
    if initial:
        vae, unet, text_encoder = initial.vae, initial.unet, initial.text_encoders[0]
        if config.attention_at_16:
            unet = architecture.with_attention_at_16(unet)
        # Its log comes along (read now: the output may be the same folder), so the weights still say how
        # they were made.
        earlier = json.loads((Path(config.init) / TRAINING_LOG).read_text())
        latent_mean, latent_std = encode_latents(vae, data.images)
        scaling_factor = float(vae.config.scaling_factor)  # the UNet learnt its latents at this scale
    else:
        vae = train_vae(config, data, generator, log)
        latent_mean, latent_std = encode_latents(vae, data.images)
        # Scale latents to unit variance as LDM does; the serving pipeline divides by it before decoding.
        scaling_factor = float(1.0 / latent_mean.std())
        vae.register_to_config(scaling_factor=scaling_factor)
        unet = architecture.build_unet(bool(config.attention_at_16))
        text_encoder = architecture.build_text_encoder()
        earlier = None
    psnr = reconstruction_psnr(vae, latent_mean[:256], data.images[:256])
    print(f"VAE reconstruction PSNR {psnr:.1f} dB")
    unet, text_encoder = train_denoiser(
        config, data, latent_mean, latent_std, scaling_factor, generator, log, unet, text_encoder
    )

    save(output, vae, unet, text_encoder, tokenizer, architecture.SCHEDULES[config.schedule])
    minutes = (time.time() - started) / 60
    (output / TRAINING_LOG).write_text(
        json.dumps(
            {
                "command": command,
                "config": asdict(config),
                **({"init_log": earlier} if earlier else {}),
                "minutes": round(minutes, 1),
                "threads": config.threads,
                "torch": torch.__version__,
                "vae_scaling_factor": scaling_factor,
                "vae_reconstruction_psnr_db": round(psnr, 2),
                "loss": log.curves,
            },
            indent=1,
        )
    )
    print(f"trained in {minutes:.1f} min; wrote {output}")


def load_init(folder: Path) -> Components:
    """The folder to train on from, loaded before any work; refused if training did not write it. Its
    prediction target may differ from --schedule's: the networks then learn the new one, as SD 2's
    v-prediction models were fine-tuned from epsilon ones."""
    if not (folder / TRAINING_LOG).is_file():
        raise BadOption(f"init must be a folder written by python -m training; {folder} is not")
    try:
        return load_checkpoint(folder)  # FP32, as export loads it
    except UnsupportedModel as error:
        raise BadOption(f"init: {error}") from error


def save(
    output: Path,
    vae: AutoencoderKL,
    unet: Any,
    text_encoder: CLIPTextModel,
    tokenizer: CLIPTokenizer,
    scheduler_config: dict[str, Any],
) -> None:
    """A diffusers-format folder (safetensors, FP16 to keep the repository small; export loads it as FP32),
    with the serving defaults that the prompt-following evaluation was run with."""
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=getattr(diffusers, scheduler_config["_class_name"]).from_config(scheduler_config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.to(torch.float16).save_pretrained(output, safe_serialization=True)
    (output / SERVING_DEFAULTS_FILENAME).write_text(json.dumps(SERVING_DEFAULTS, indent=1) + "\n")
