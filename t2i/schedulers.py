"""Scheduler names of the public API, mapped onto diffusers' scheduler classes."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    HeunDiscreteScheduler,
    LCMScheduler,
    PNDMScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from t2i import contract

SCHEDULER_CLASSES: dict[str, tuple[type[SchedulerMixin], dict[str, Any]]] = {
    "euler": (EulerDiscreteScheduler, {}),
    "euler_a": (EulerAncestralDiscreteScheduler, {}),
    "ddim": (DDIMScheduler, {}),
    "dpmpp_2m": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "lcm": (LCMScheduler, {}),
    "pndm": (PNDMScheduler, {"skip_prk_steps": True}),
    "heun": (HeunDiscreteScheduler, {}),
    # Flux and SD3: Euler on the flow from noise (sigma 1) to image (sigma 0), with the checkpoint's shift.
    "flow_euler": (FlowMatchEulerDiscreteScheduler, {}),
}
assert set(SCHEDULER_CLASSES) == set(contract.SCHEDULERS), "contract.SCHEDULERS and this table disagree"


def make_scheduler(name: str, base_config: dict[str, Any]) -> SchedulerMixin:
    """A fresh scheduler (they hold per-request state) built from the checkpoint's own config."""
    cls, overrides = SCHEDULER_CLASSES[name]
    if base_config.get("rescale_betas_zero_snr") and "rescale_betas_zero_snr" not in _init_parameters(cls):
        # PNDM and Heun cannot rescale a schedule to zero terminal SNR themselves and would silently run
        # the original one, which a zero-SNR checkpoint (`python -m training --schedule zero-snr`) was not
        # trained on.
        overrides = overrides | {"trained_betas": zero_snr_betas(base_config)}
    return cls.from_config(base_config, **overrides)


def _init_parameters(cls: type[SchedulerMixin]) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters)


def zero_snr_betas(base_config: dict[str, Any]) -> list[float]:
    """The betas of `base_config`'s schedule rescaled to zero terminal SNR, as Euler computes them (its last
    alpha_cumprod is 2**-24, not 0, which would put an infinite sigma in schedulers that use sigmas)."""
    alphas_cumprod = EulerDiscreteScheduler.from_config(base_config).alphas_cumprod.double()
    previous = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
    return (1 - alphas_cumprod / previous).tolist()


def accepts_generator(scheduler: SchedulerMixin) -> bool:
    """Ancestral and consistency schedulers draw noise in `step`; they take our seeded generators."""
    return "generator" in inspect.signature(scheduler.step).parameters


def scheduler_name(class_name: str) -> str | None:
    """The public name of a diffusers scheduler class (a checkpoint's own scheduler), None if unserved."""
    return next((name for name, (cls, _) in SCHEDULER_CLASSES.items() if cls.__name__ == class_name), None)
