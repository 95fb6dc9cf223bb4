"""The training script on a toy budget: it writes a diffusers folder that export loads, logs its loss, and
gives the same weights twice for the same seed."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import torch
from diffusers import DDPMScheduler

from export.clip_vocab import build_clip_tokenizer
from export.components import load_checkpoint
from training import architecture
from training.__main__ import main, parse_args
from training.train import SERVING_DEFAULTS, TrainingConfig, snr_weights, train

TOY = TrainingConfig(
    images=8, vae_steps=2, vae_batch=2, unet_steps=3, unet_batch=4, warmup_steps=1, threads=1, seed=5
)


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as folder:
        yield build_clip_tokenizer(Path(folder))


def weights(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.safetensors"))}


def test_toy_run_writes_a_checkpoint_that_export_loads(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    threads = torch.get_num_threads()
    train(TOY, tmp_path / "a", tokenizer, "python -m training --images 8")
    assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()

    components = load_checkpoint(tmp_path / "a")
    assert not components.random_weights
    assert all(p.dtype == torch.float32 for p in components.unet.parameters())  # stored FP16, loaded FP32
    assert components.default_steps == SERVING_DEFAULTS["default_steps"]
    assert components.default_guidance_scale == SERVING_DEFAULTS["default_guidance_scale"]
    metadata = components.metadata()
    assert (metadata.native_width, metadata.latent_channels, metadata.vae_scale_factor) == (128, 4, 8)

    log = json.loads((tmp_path / "a" / "training_log.json").read_text())
    assert log["command"] == "python -m training --images 8"
    assert log["config"]["unet_steps"] == 3
    assert log["vae_scaling_factor"] == pytest.approx(components.vae.config.scaling_factor, rel=1e-3)

    train(TOY, tmp_path / "b", tokenizer, "again")
    first, second = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert set(first) == {
        "text_encoder/model.safetensors",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
    }
    assert first == second

    train(TrainingConfig(**{**TOY.__dict__, "seed": 6}), tmp_path / "c", tokenizer, "another seed")
    assert weights(tmp_path / "c") != first


def test_command_line_flags_cover_the_whole_config() -> None:
    config, output = parse_args(["--unet-steps", "7", "--caption-dropout", "0.2", "--output", "x"])
    assert (config.unet_steps, config.caption_dropout, output) == (7, 0.2, Path("x"))
    assert parse_args([])[0] == TrainingConfig()


def test_a_bad_option_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--init", str(tmp_path / "missing"), "--output", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"python -m training: error: init must be a folder written by python -m training; "
        f"{tmp_path / 'missing'} is not"
    )
    assert main(["--max-timestep", "0", "--output", str(tmp_path / "x")]) == 2
    assert "max_timestep must be in 1..1000" in capsys.readouterr().err


def test_zero_snr_run_saves_its_schedule_and_trains_on_from_it(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    config = TrainingConfig(
        **{**TOY.__dict__, "schedule": "zero-snr", "offset_noise": 0.0, "pair_fraction": 0.5}
    )
    train(config, tmp_path / "a", tokenizer, "zero-snr")
    scheduler = load_checkpoint(tmp_path / "a").scheduler_config
    assert scheduler["prediction_type"] == "v_prediction" and scheduler["rescale_betas_zero_snr"]
    assert scheduler["timestep_spacing"] == "trailing"
    with pytest.raises(ValueError, match="schedule"):
        train(TrainingConfig(**{**TOY.__dict__, "schedule": "cosine"}), tmp_path / "x", tokenizer, "bad")
    for bad in (0, 1001):
        with pytest.raises(ValueError, match="max_timestep"):
            train(TrainingConfig(**{**TOY.__dict__, "max_timestep": bad}), tmp_path / "x", tokenizer, "bad")

    # Training on from that folder: the VAE is kept bit for bit, the UNet moves, twice the same, and the
    # new log carries the first one.
    on = TrainingConfig(
        **{**config.__dict__, "init": str(tmp_path / "a"), "terminal_weight": 0.0, "max_timestep": 500}
    )
    train(on, tmp_path / "b", tokenizer, "on")
    train(on, tmp_path / "c", tokenizer, "on again")
    first, second, third = (weights(tmp_path / name) for name in "abc")
    assert second == third
    vae, unet = "vae/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.safetensors"
    assert second[vae] == first[vae] and second[unet] != first[unet]
    log = json.loads((tmp_path / "b" / "training_log.json").read_text())
    assert log["init_log"]["command"] == "zero-snr" and log["config"]["init"] == str(tmp_path / "a")
    assert load_checkpoint(tmp_path / "b").vae.config.scaling_factor == pytest.approx(
        load_checkpoint(tmp_path / "a").vae.config.scaling_factor
    )

    # A folder that is not a checkpoint is refused before any work.
    with pytest.raises(ValueError, match="init"):
        train(TrainingConfig(**{**on.__dict__, "init": str(tmp_path)}), tmp_path / "x", tokenizer, "bad")
    assert not (tmp_path / "x").exists()

    # One trained for the other prediction target learns the schedule's (the default model's v-prediction
    # stage trains on from the epsilon one).
    other = TrainingConfig(**{**TOY.__dict__, "init": str(tmp_path / "a")})
    train(other, tmp_path / "d", tokenizer, "epsilon from v")
    assert load_checkpoint(tmp_path / "d").scheduler_config["prediction_type"] == "epsilon"
    assert weights(tmp_path / "d")[vae] == first[vae]


def test_v_prediction_loss_weights_keep_the_pure_noise_steps() -> None:
    scheduler = DDPMScheduler.from_config(architecture.SCHEDULES["zero-snr"])
    weights = snr_weights(scheduler, torch.tensor([999, 500, 0]), gamma=5.0)
    assert weights[0] == pytest.approx(1.0)  # zero SNR: the step that decides the layout keeps full weight
    assert 0 < weights[2] < weights[1] <= 1.0  # nearly clean latents weigh least
    # terminal_weight 0 is min-SNR's own weighting: no weight at zero SNR, the rest in x0 terms min(snr, 5).
    plain = snr_weights(scheduler, torch.tensor([999, 500, 0]), gamma=5.0, terminal_weight=0.0)
    assert plain[0] == 0 and 0 < plain[1] < weights[1] and plain[2] == pytest.approx(weights[2])


def test_attention_at_16_grows_a_trained_unet_that_draws_the_same(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    unet = architecture.build_unet().eval()
    grown = architecture.with_attention_at_16(unet).eval()
    assert grown.config.down_block_types[0] == "CrossAttnDownBlock2D"
    assert grown.config.up_block_types[-1] == "CrossAttnUpBlock2D"
    assert sum(p.numel() for p in grown.parameters()) > sum(p.numel() for p in unet.parameters())
    latents, text = torch.randn(2, 4, 16, 16), torch.randn(2, 77, architecture.TEXT_HIDDEN_SIZE)
    timesteps = torch.tensor([10, 900])
    with torch.no_grad():
        before, after = (u(latents, timesteps, text).sample for u in (unet, grown))
    assert torch.equal(before, after)  # zero-initialised output projections: the same model, bigger
    assert architecture.with_attention_at_16(grown) is grown

    # Trained on with the flag, the saved UNet has it and export loads it; again with the flag, it stays.
    first = TrainingConfig(**{**TOY.__dict__, "schedule": "zero-snr", "offset_noise": 0.0})
    train(first, tmp_path / "a", tokenizer, "plain")
    on = TrainingConfig(**{**first.__dict__, "init": str(tmp_path / "a"), "attention_at_16": 1})
    train(on, tmp_path / "b", tokenizer, "with attention at 16x16")
    loaded = load_checkpoint(tmp_path / "b").unet
    assert loaded.config.down_block_types[0] == "CrossAttnDownBlock2D"
    train(TrainingConfig(**{**on.__dict__, "init": str(tmp_path / "b")}), tmp_path / "c", tokenizer, "again")
    assert load_checkpoint(tmp_path / "c").unet.config.up_block_types[-1] == "CrossAttnUpBlock2D"
