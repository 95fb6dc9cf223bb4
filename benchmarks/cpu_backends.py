"""`make bench-torch` / `make bench-openvino`: a CPU backend against today's onnxruntime FP32 path and
diffusers' own pipeline in FP32 and bf16, in one run, on one machine.

    python -m benchmarks.cpu_backends --backend torch      # torch FP32 and bf16
    python -m benchmarks.cpu_backends --backend openvino   # OpenVINO auto (bf16 where it can), FP32, int8
    ... --optimum-python var/optimum-intel/bin/python      # and optimum-intel's OpenVINO pipeline

The SD 1.5-architecture preset (random weights) at 256x256, 10 steps, guidance 7.5: the exports are one
repository (a catalogue) behind one Triton and the REST frontend, asked by model name; repeats are
interleaved across systems so that machine noise hits all alike; for OpenVINO also 8 clients at once
against one. The CPU model and its bf16 features are recorded (they decide what bf16 gains). Writes
benchmarks/results/<backend>_backend_cpu.{json,md}.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import torch
import tritonclient.grpc as grpcclient
from PIL import Image

from benchmarks import environment
from benchmarks.quality import psnr
from benchmarks.run import RESULTS, measure
from benchmarks.systems import DiffusersPyTorch, OptimumIntel, RestFrontend, System, Workload
from export.cli import main as export_main
from export.presets import build_preset
from t2i import contract
from t2i.triton_server import TritonServer
from testbed.frontend import free_port, frontend_process

ROOT = Path(__file__).resolve().parent.parent
SIZE, STEPS, CLIENTS = 256, 10, 8
# Explicit model control, everything loaded: the concurrent part unloads all but the model it measures.
MODEL_CONTROL = ("--model-control-mode=explicit", "--load-model=*")
QUALITY_SEEDS = (1, 2, 3)
BASELINE = "sd15-onnxruntime"
# Per backend: served model -> the export's arguments beyond the preset; the first is the baseline.
EXPORTS = {
    "torch": {
        BASELINE: ["--backend", "python-onnxruntime"],
        "sd15-torch": ["--backend", "torch"],
        "sd15-torch-bf16": ["--backend", "torch", "--precision", "bf16"],
    },
    "openvino": {
        BASELINE: ["--backend", "python-onnxruntime"],
        "sd15-openvino": ["--backend", "python-openvino"],
        "sd15-openvino-fp32": ["--backend", "python-openvino", "--precision", "fp32"],
        "sd15-openvino-int8": ["--backend", "python-openvino", "--precision", "int8"],
    },
}


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cpu_backends", description=__doc__)
    parser.add_argument("--backend", choices=EXPORTS, required=True)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--optimum-python",
        type=Path,
        help="a Python with optimum-intel (make optimum-intel-venv): adds its OVStableDiffusionPipeline",
    )
    args = parser.parse_args(argv)
    exports = EXPORTS[args.backend]
    work = ROOT / "var" / f"bench_{args.backend}"
    repository = work / "repository"
    for name, extra in exports.items():
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
    optimum = None
    if args.optimum_python:
        folder = work / "sd15_diffusers"  # the same weights, as the folder optimum-intel reads
        components.diffusers_pipeline().save_pretrained(folder)
        optimum = OptimumIntel(args.optimum_python, folder, SIZE, work)
        systems.append(optimum)
    del components  # the pipelines hold the weights they need
    log, port = work / "triton.log", free_port()
    url = f"http://127.0.0.1:{port}"
    server = TritonServer(
        repository, free_port(), work_dir=work / "triton", log_file=log, extra_args=MODEL_CONTROL
    )
    with (
        server as triton,
        frontend_process(triton.url, port, work / "frontend", {"T2I_RATE_LIMIT_PER_MINUTE": "0"}),
    ):
        rest = {name: RestFrontend(url, name, f"REST, {name}") for name in exports}
        results = measure([*rest.values(), *systems], workload, args.repeats, f"{args.backend} backend")
        # optimum-intel's images are not compared: its pipeline differs from diffusers' own even in FP32
        # with the same latents (61/255 on the tiny preset), so a PSNR would not be the precision's cost.
        images = {name: same_seed_images(system) for name, system in rest.items()}
        record = {
            "machine": environment.describe(),
            "workload": {"preset": "sd15", "size": SIZE, "steps": STEPS, "guidance_scale": 7.5, "batch": 1},
            "end_to_end": results,
            # Each backend against FP32 onnxruntime for the same QUALITY_SEEDS (PSNR: the cost of bf16, int8).
            "agreement_255": {
                f"{name} vs {BASELINE}": agreement(images[name], images[BASELINE])
                for name in list(exports)[1:]
            },
            "optimum_intel": optimum.description if optimum else None,
            "throughput": None,
        }
        write(args.backend, record)  # kept should the concurrent part fail
        if args.backend == "openvino":
            # 8 batched requests need memory that four sd15 exports and two PyTorch pipelines leave short
            # on a 24 GiB machine (the run was killed there): only the measured model stays.
            measured = list(exports)[1]
            if optimum:
                optimum.close()
            del systems, optimum
            gc.collect()
            keep_only(triton.url, url, measured)
            record["throughput"] = concurrent_throughput(url, measured)
    write(args.backend, record)
    print(table(record))
    return 0


def write(backend: str, record: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{backend}_backend_cpu.json").write_text(json.dumps(record, indent=2))
    (RESULTS / f"{backend}_backend_cpu.md").write_text(table(record))


def agreement(pictures: list[np.ndarray], references: list[np.ndarray]) -> dict:
    pairs = list(zip(pictures, references, strict=True))
    return {
        "max": int(max(np.abs(a - b).max() for a, b in pairs)),
        "mean": round(float(np.mean([np.abs(a - b).mean() for a, b in pairs])), 2),
        "psnr_db": round(float(np.mean([psnr(a, b) for a, b in pairs])), 2),
    }


def same_seed_images(system: RestFrontend) -> list[np.ndarray]:
    pictures = []
    for seed in QUALITY_SEEDS:
        system.run(Workload(SIZE, STEPS, seed=seed))
        pictures.append(pixels(system.last_png))
    return pictures


def keep_only(triton_url: str, frontend_url: str, served: str) -> None:
    """Unloads every other served model's networks and waits until the frontend's catalogue says so."""
    with grpcclient.InferenceServerClient(triton_url) as client:
        for entry in client.get_model_repository_index().models:
            owner = contract.served_name_of(entry.name)
            if owner is not None and owner[0] != served:
                client.unload_model(entry.name)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        cards = httpx.get(f"{frontend_url}/v1/models").json()["data"]
        if [card["id"] for card in cards if card["id"] == card["root"]] == [served]:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the catalogue still serves more than {served} after unloading the others")


def concurrent_throughput(url: str, model: str) -> dict:
    """Images per second with CLIENTS requests at once against one at a time (the pipeline batches the
    ones that arrive together)."""
    single = RestFrontend(url, model)
    workload = Workload(size=SIZE, steps=STEPS)
    started = time.perf_counter()
    single.run(workload)
    one = time.perf_counter() - started
    clients = [RestFrontend(url, model) for _ in range(CLIENTS)]
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda c: c[1].run(Workload(SIZE, STEPS, seed=c[0])), enumerate(clients)))
    many = time.perf_counter() - started
    return {
        "model": model,
        "one_client_images_per_s": round(1 / one, 4),
        f"{CLIENTS}_clients_images_per_s": round(CLIENTS / many, 4),
        "ratio": round(one * CLIENTS / many, 2),
    }


def table(record: dict) -> str:
    machine = record["machine"]
    baseline = record["end_to_end"][f"REST, {BASELINE}"]["p50_s"]
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
    lines.append("")
    for pair, diff in record["agreement_255"].items():
        lines.append(
            f"- {pair}, seeds {', '.join(map(str, QUALITY_SEEDS))}: max {diff['max']}/255, "
            f"mean {diff['mean']}/255, PSNR {diff['psnr_db']} dB"
        )
    if record.get("optimum_intel"):
        described = record["optimum_intel"]
        lines.append(
            f"- optimum-intel's OVStableDiffusionPipeline: its own export, static {SIZE}x{SIZE}, UNet in "
            f"{described['unet_precision']} (OpenVINO {described['openvino'].split('-')[0]})"
        )
    if record["throughput"]:
        t = record["throughput"]
        lines.append(
            f"- {t['model']}: {t['one_client_images_per_s']} images/s with one client, "
            f"{t[f'{CLIENTS}_clients_images_per_s']} with {CLIENTS} at once ({t['ratio']}x)"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
