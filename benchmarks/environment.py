"""What the figures were measured on: CPU, cores, memory, GPU, versions."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The CPU features that decide how fast bf16 and int8 run (AMX on recent Xeons, AVX512-BF16 on Zen 4 EPYCs).
LOW_PRECISION_FLAGS = (
    "avx512f",
    "avx512_bf16",
    "avx512_vnni",
    "amx_bf16",
    "amx_int8",
    "amx_tile",
    "avx_vnni",
)


def cpu_flags() -> list[str]:
    """The CPU's low-precision features, as /proc/cpuinfo (lscpu's source) lists them."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return [flag for flag in LOW_PRECISION_FLAGS if flag in present]
    except OSError:
        pass
    return []


def gpu() -> str:
    if shutil.which("nvidia-smi") is None:
        return "none"
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or "none"
    except (OSError, subprocess.SubprocessError):
        return "none"


def memory_gib() -> float:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return round(pages / 1024**3, 1)
    except (ValueError, OSError):
        return 0.0


def describe() -> dict:
    versions = {}
    for package in (
        "torch",
        "onnxruntime",
        "diffusers",
        "transformers",
        "peft",
        "nvidia-pytriton",
        "tritonclient",
        "fastapi",
    ):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(),
        "gpu": gpu(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "tritonserver": "2.51 (nvidia-pytriton wheel, Python backend; networks in onnxruntime)",
    }
