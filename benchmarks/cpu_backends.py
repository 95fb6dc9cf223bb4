"""`make bench-torch` / `make bench-openvino`: a CPU backend against today's onnxruntime FP32 path and
diffusers' own pipeline in FP32 and bf16, in one run, on one machine.

    python -m benchmarks.cpu_backends --backend torch      # torch FP32 and bf16
    python -m benchmarks.cpu_backends --backend openvino   # OpenVINO auto (bf16 where it can), FP32, int8
    ... --optimum-python var/optimum-intel/bin/python      # and optimum-intel's OpenVINO pipeline

The SD 1.5-architecture preset (random weights) at 256x256, 10 steps, guidance 7.5 (or --size, --steps):
the exports are one repository (a catalogue) behind one Triton and the REST frontend, asked by model name;
repeats are interleaved across systems so that machine noise hits all alike; then the same seeds' images
against the onnxruntime ones, and 8 clients at once against one. The CPU model and its bf16 features are
recorded (they decide what bf16 gains). Writes benchmarks/results/<backend>_backend_cpu.{json,md}
(`_<size>x<steps>` added for another workload). `make bench-openvino-512` is the 512x512, 20-step run of
what the targets compare, on one run each.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
from testbed.frontend import free_port, frontend_process, served_models

ROOT = Path(__file__).resolve().parent.parent
SIZE, STEPS, CLIENTS = 256, 10, 8  # the defaults; --size, --steps, --clients
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
DIFFUSERS = {"fp32": torch.float32, "bf16": torch.bfloat16}
# Explicit model control, everything loaded: the concurrent part unloads all but the model it measures.
MODEL_CONTROL = ("--model-control-mode=explicit", "--load-model=*")


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cpu_backends", description=__doc__)
    parser.add_argument("--backend", choices=EXPORTS, required=True)
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", nargs="+", help="the exports to measure beside the baseline (all)")
    parser.add_argument("--diffusers", nargs="*", choices=DIFFUSERS, default=list(DIFFUSERS))
    parser.add_argument("--seeds", type=int, default=len(QUALITY_SEEDS), help="same-seed images compared")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="at once against one (0: not measured)")
    parser.add_argument(
        "--optimum-python",
        type=Path,
        help="a Python with optimum-intel (make optimum-intel-venv): adds its OVStableDiffusionPipeline",
    )
    args = parser.parse_args(argv)
    known = EXPORTS[args.backend]
    unknown = sorted(set(args.models or ()) - set(known))
    if unknown:
        parser.error(f"--models: no export named {', '.join(unknown)} (known: {', '.join(known)})")
    args.exports = {
        name: extra
        for name, extra in known.items()
        if name == BASELINE or not args.models or name in args.models
    }
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    exports: dict[str, list[str]] = args.exports
    work = ROOT / "var" / f"bench_{args.backend}"
    # Exported at the benchmark's size: a model generates at its native area whatever size is asked (the
    # REST frontend resizes to it), and the int8 denoiser is calibrated at the size it is exported for.
    repository = work / ("repository" if args.size == SIZE else f"repository_{args.size}")
    for name, extra in exports.items():
        command = [
            "--preset",
            "sd15",
            "--name",
            name,
            "--native-size",
            str(args.size),
            "--output",
            str(repository),
        ]
        if export_main([*command, *extra]) != 0:
            return 1
    workload = Workload(size=args.size, steps=args.steps)
    components = build_preset("sd15")
    systems: list[System] = [
        DiffusersPyTorch(components, DIFFUSERS[dtype], f"diffusers PyTorch {dtype.upper()}")
        for dtype in args.diffusers
    ]
    folder = work / "sd15_diffusers"  # the same weights, as the folder optimum-intel reads
    if args.optimum_python:
        components.diffusers_pipeline().save_pretrained(folder)
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
        seeds = QUALITY_SEEDS[: args.seeds]
        images = {name: same_seed_images(system, workload, seeds) for name, system in rest.items()}
        record = {
            "machine": environment.describe(),
            "workload": {
                "preset": "sd15",
                "size": args.size,
                "steps": args.steps,
                "guidance_scale": 7.5,
                "batch": 1,
                "seeds": list(seeds),
            },
            "end_to_end": results,
            # Each backend against FP32 onnxruntime for the same seeds (PSNR: the cost of bf16, int8).
            "agreement_255": {
                f"{name} vs {BASELINE}": agreement(images[name], images[BASELINE])
                for name in list(exports)[1:]
                if seeds
            },
            "optimum_intel": None,
            "throughput": None,
        }
        write(args, record)  # kept should a later part fail
        # Four sd15 exports and two PyTorch pipelines fill a 24 GiB machine (the concurrent part was
        # killed there, and optimum-intel's pipeline beside them made everything page): what follows runs
        # with the first export alone loaded (the baseline when --models names only it).
        measured = next(iter(list(exports)[1:]), BASELINE)
        del systems
        gc.collect()
        keep_only(triton.url, url, measured)
        if args.optimum_python:
            paired = RestFrontend(url, measured, f"REST, {measured} (again, beside optimum-intel)")
            described = optimum_intel(args, folder, paired, workload, work)
            results.update(described.pop("end_to_end"))
            record["optimum_intel"] = described
            write(args, record)
        if args.clients:
            record["throughput"] = concurrent_throughput(url, measured, workload, args.clients)
    write(args, record)
    print(table(record))
    return 0


def optimum_intel(
    args: argparse.Namespace, folder: Path, paired: RestFrontend, workload: Workload, work: Path
) -> dict:
    """optimum-intel's pipeline interleaved with the measured export again (the pair shows whether the
    machine drifted since the first part). Its images are not compared: its pipeline differs from
    diffusers' own even in FP32 with the same latents (61/255 on the tiny preset), so a PSNR would not be
    the cost of a precision."""
    optimum = OptimumIntel(args.optimum_python, folder, args.size, work)
    try:
        results = measure([paired, optimum], workload, args.repeats, "optimum-intel")
    finally:
        optimum.close()
    return {**optimum.description, "end_to_end": results}


def write(args: argparse.Namespace, record: dict) -> None:
    """benchmarks/results/<backend>_backend_cpu.*, with _<size>x<steps> for another workload."""
    workload = "" if (args.size, args.steps) == (SIZE, STEPS) else f"_{args.size}x{args.steps}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"{args.backend}_backend_cpu{workload}"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2))
    stem.with_suffix(".md").write_text(table(record))


def agreement(pictures: list[np.ndarray], references: list[np.ndarray]) -> dict:
    pairs = list(zip(pictures, references, strict=True))
    return {
        "max": int(max(np.abs(a - b).max() for a, b in pairs)),
        "mean": round(float(np.mean([np.abs(a - b).mean() for a, b in pairs])), 2),
        "psnr_db": round(float(np.mean([psnr(a, b) for a, b in pairs])), 2),
    }


def same_seed_images(system: RestFrontend, workload: Workload, seeds: tuple[int, ...]) -> list[np.ndarray]:
    pictures = []
    for seed in seeds:
        system.run(Workload(workload.size, workload.steps, seed=seed))
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
        if served_models(frontend_url) == [served]:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the catalogue still serves more than {served} after unloading the others")


def concurrent_throughput(url: str, model: str, workload: Workload, clients: int) -> dict:
    """Images per second with `clients` requests at once against one at a time (the pipeline batches the
    ones that arrive together)."""
    single = RestFrontend(url, model)
    started = time.perf_counter()
    single.run(workload)
    one = time.perf_counter() - started
    frontends = [RestFrontend(url, model) for _ in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        seeded = [Workload(workload.size, workload.steps, seed=seed) for seed in range(clients)]
        list(pool.map(lambda frontend, each: frontend.run(each), frontends, seeded))
    many = time.perf_counter() - started
    return {
        "model": model,
        "clients": clients,
        "one_client_images_per_s": round(1 / one, 4),
        f"{clients}_clients_images_per_s": round(clients / many, 4),
        "ratio": round(one * clients / many, 2),
    }


def table(record: dict) -> str:
    machine, workload = record["machine"], record["workload"]
    size, seeds = workload["size"], workload.get("seeds", QUALITY_SEEDS)
    baseline = record["end_to_end"][f"REST, {BASELINE}"]["p50_s"]
    lines = [
        f"SD 1.5 architecture (random weights), {size}x{size}, {workload['steps']} steps, one image; "
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
            f"- {pair}, seeds {', '.join(map(str, seeds))}: max {diff['max']}/255, "
            f"mean {diff['mean']}/255, PSNR {diff['psnr_db']} dB"
        )
    if record.get("optimum_intel"):
        described = record["optimum_intel"]
        lines.append(
            f"- optimum-intel's OVStableDiffusionPipeline: its own export, static {size}x{size}, UNet in "
            f"{described['unet_precision']} (OpenVINO {described['openvino'].split('-')[0]}); measured after "
            "the others, interleaved with the first export again, the rest unloaded"
        )
    if record["throughput"]:
        t = record["throughput"]
        clients = t.get("clients", CLIENTS)
        lines.append(
            f"- {t['model']}: {t['one_client_images_per_s']} images/s with one client, "
            f"{t[f'{clients}_clients_images_per_s']} with {clients} at once ({t['ratio']}x)"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
