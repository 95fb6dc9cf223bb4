"""`make bench-torch`: the torch backend on the CPU in FP32 and bf16 against today's onnxruntime FP32 path
and diffusers' own pipeline in FP32 and bf16, in one run, on one machine.

The SD 1.5-architecture preset (random weights) at 256x256, 10 steps, guidance 7.5: the three exports are
one repository (a catalogue) behind one Triton and the REST frontend, asked by model name; repeats are
interleaved across systems so that machine noise hits all alike. The CPU model and its bf16 features are
recorded (they decide what bf16 gains). Writes benchmarks/results/torch_backend_cpu.{json,md}.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks import environment
from benchmarks.run import RESULTS, measure
from benchmarks.systems import DiffusersPyTorch, RestFrontend, System, Workload
from export.cli import main as export_main
from export.presets import build_preset
from t2i.triton_server import TritonServer
from testbed.frontend import free_port, frontend_process

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench_torch"
SIZE, STEPS = 256, 10
# Served model -> the export's arguments beyond the preset.
EXPORTS = {
    "sd15-onnxruntime": ["--backend", "python-onnxruntime"],
    "sd15-torch": ["--backend", "torch"],
    "sd15-torch-bf16": ["--backend", "torch", "--precision", "bf16"],
}


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.torch_backend", description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    repository = WORK / "repository"
    for name, extra in EXPORTS.items():
        command = [
            "--preset",
            "sd15",
            "--name",
            name,
            "--native-size",
            str(SIZE),
            "--output",
            str(repository),
        ]
        if export_main([*command, *extra]) != 0:
            return 1
    workload = Workload(size=SIZE, steps=STEPS)
    components = build_preset("sd15")
    systems: list[System] = [
        DiffusersPyTorch(components, torch.float32, "diffusers PyTorch FP32"),
        DiffusersPyTorch(components, torch.bfloat16, "diffusers PyTorch bf16"),
    ]
    del components  # the pipelines hold the weights they need
    log, port = WORK / "triton.log", free_port()
    url = f"http://127.0.0.1:{port}"
    with (
        TritonServer(repository, free_port(), work_dir=WORK / "triton", log_file=log) as triton,
        frontend_process(triton.url, port, WORK / "frontend", {"T2I_RATE_LIMIT_PER_MINUTE": "0"}),
    ):
        rest = {name: RestFrontend(url, name, f"REST, {name}") for name in EXPORTS}
        results = measure([*rest.values(), *systems], workload, args.repeats, "torch backend")
        onnx, torch32, bf16 = (pixels(rest[name].last_png) for name in EXPORTS)
    record = {
        "machine": environment.describe(),
        "workload": {"preset": "sd15", "size": SIZE, "steps": STEPS, "guidance_scale": 7.5, "batch": 1},
        "end_to_end": results,
        "agreement": {
            "torch_fp32_vs_onnxruntime_max_abs_255": int(np.abs(torch32 - onnx).max()),
            "torch_bf16_vs_fp32_mean_abs_255": round(float(np.abs(bf16 - torch32).mean()), 2),
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "torch_backend_cpu.json").write_text(json.dumps(record, indent=2))
    (RESULTS / "torch_backend_cpu.md").write_text(table(record))
    print(table(record))
    return 0


def table(record: dict) -> str:
    machine = record["machine"]
    baseline = record["end_to_end"]["REST, sd15-onnxruntime"]["p50_s"]
    lines = [
        f"SD 1.5 architecture (random weights), {SIZE}x{SIZE}, {STEPS} steps, one image; "
        f"{machine['cpu']} ({machine['cores']} cores; {', '.join(machine['cpu_flags']) or 'no'} "
        "low-precision features)",
        "",
        "| system | p50 s | p95 s | vs onnxruntime REST |",
        "|---|---|---|---|",
    ]
    for name, stats in record["end_to_end"].items():
        lines.append(
            f"| {name} | {stats['p50_s']:.2f} | {stats['p95_s']:.2f} | {baseline / stats['p50_s']:.2f}x |"
        )
    agreement = record["agreement"]
    same = agreement["torch_fp32_vs_onnxruntime_max_abs_255"]
    lines += [
        "",
        f"torch FP32 vs onnxruntime, same seed: max {same}/255; "
        f"torch bf16 vs FP32: mean {agreement['torch_bf16_vs_fp32_mean_abs_255']}/255.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
