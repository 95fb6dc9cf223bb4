"""Every public scheduler runs a checkpoint's own noise schedule, also a zero-terminal-SNR one on the
schedulers that cannot rescale to it themselves (PNDM, Heun)."""

from __future__ import annotations

import pytest
import torch

from export.presets import SD_SCHEDULER_CONFIG, SD_ZERO_SNR_SCHEDULER_CONFIG
from t2i import contract
from t2i.schedulers import make_scheduler


@pytest.mark.parametrize("name", contract.DIFFUSION_SCHEDULERS)
def test_zero_terminal_snr_checkpoints_get_their_schedule_on_every_scheduler(name: str) -> None:
    euler = make_scheduler("euler", SD_ZERO_SNR_SCHEDULER_CONFIG).alphas_cumprod
    scheduler = make_scheduler(name, SD_ZERO_SNR_SCHEDULER_CONFIG)
    assert scheduler.config.prediction_type == "v_prediction"
    assert float(scheduler.alphas_cumprod[-1]) < 1e-7  # no picture left at the last step
    assert torch.allclose(scheduler.alphas_cumprod, euler, atol=1e-6)


@pytest.mark.parametrize("name", contract.DIFFUSION_SCHEDULERS)
def test_other_checkpoints_keep_their_schedule(name: str) -> None:
    scheduler = make_scheduler(name, SD_SCHEDULER_CONFIG)
    assert scheduler.config.trained_betas is None
    assert float(scheduler.alphas_cumprod[-1]) == pytest.approx(0.00466, rel=1e-3)
