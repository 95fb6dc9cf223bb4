"""Scheduler names of the public API, mapped onto diffusers' scheduler classes."""

from __future__ import annotations

import inspect
from typing import Any

from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
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
}
assert set(SCHEDULER_CLASSES) == set(contract.SCHEDULERS), "contract.SCHEDULERS and this table disagree"


def make_scheduler(name: str, base_config: dict[str, Any]) -> SchedulerMixin:
    """A fresh scheduler (they hold per-request state) built from the checkpoint's own config."""
    cls, overrides = SCHEDULER_CLASSES[name]
    return cls.from_config(base_config, **overrides)


def accepts_generator(scheduler: SchedulerMixin) -> bool:
    """Ancestral and consistency schedulers draw noise in `step`; they take our seeded generators."""
    return "generator" in inspect.signature(scheduler.step).parameters


def scheduler_name(class_name: str) -> str | None:
    """The public name of a diffusers scheduler class (a checkpoint's own scheduler), None if unserved."""
    return next((name for name, (cls, _) in SCHEDULER_CLASSES.items() if cls.__name__ == class_name), None)
