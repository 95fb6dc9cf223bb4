"""`make bench`: every system of a comparison measured in one run, with the machine and versions recorded.

    python -m benchmarks.run [--quick] [--skip-sd15]

1. End to end (tiny 256x256/20 steps, sd15 256x256/10 steps): diffusers PyTorch, a plain onnxruntime loop,
   Triton gRPC, the REST frontend; repeats interleaved across systems so that machine noise hits all alike.
2. Per-stage breakdown from the same run.
3. Throughput vs concurrent REST clients (tiny), bounded in count and time.
4. perf_analyzer against the pipeline model (tiny), its report kept.
5. onnxruntime settings for the sd15 UNet step (the default CPU runtime is the fastest of these).
Writes benchmarks/results/: a JSON per run, latest.json, latest.md and PNG plots.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks import environment, ort_variants, perf_analyzer, report
from benchmarks.systems import (
    DiffusersPyTorch,
    OnnxRuntimeLoop,
    RestFrontend,
    System,
    TritonGrpc,
    Workload,
)
from export.presets import build_preset
from frontend.generation.service import encode_image
from t2i.triton_server import TritonServer
from testbed.frontend import free_port, frontend_process

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "var" / "bench"
CONCURRENCY = (1, 2, 4, 8)
LEVEL_TIME_LIMIT_S = 120.0


def summary(seconds: list[float]) -> dict[str, object]:
    return {
        "p50_s": round(float(np.percentile(seconds, 50)), 4),
        "p95_s": round(float(np.percentile(seconds, 95)), 4),
        "n": len(seconds),
        "raw_s": [round(s, 4) for s in seconds],
    }


def measure(systems: list[System], workload: Workload, repeats: int, label: str) -> dict[str, dict]:
    times: dict[str, list[float]] = {s.name: [] for s in systems}
    with tqdm(total=(repeats + 1) * len(systems), desc=label, unit="run") as progress:
        for system in systems:  # warm-up: sessions, caches, first-call allocations
            system.run(workload)
            progress.update()
        for _ in range(repeats):
            for system in systems:
                started = time.perf_counter()
                system.run(workload)
                times[system.name].append(time.perf_counter() - started)
                progress.update()
    return {name: summary(values) for name, values in times.items()}


def export_model(preset: str, output: Path, native_size: int) -> Path:
    """The bench's own export, served at the benchmark size (a no-op when already there)."""
    command = [sys.executable, "-m", "export", "--preset", preset, "--output", str(output)]
    subprocess.run([*command, "--native-size", str(native_size)], check=True)
    return output


def stage_breakdown(loop: OnnxRuntimeLoop, workload: Workload, end_to_end: dict[str, dict]) -> dict:
    for values in loop.networks.seconds.values():
        values.clear()
    started = time.perf_counter()
    loop.run(workload)
    loop_total = time.perf_counter() - started
    seconds = loop.networks.seconds
    unet_steps = seconds["unet"]
    text = sum(seconds["text_encoder"])
    vae = sum(seconds["vae_decoder"])
    p50 = {name: values["p50_s"] for name, values in end_to_end.items()}
    return {
        "text_encoder_s": round(text, 4),
        "unet_per_step_s": round(statistics.median(unet_steps), 4),
        "unet_calls": len(unet_steps),
        "vae_decode_s": round(vae, 4),
        "loop_overhead_s": round(loop_total - text - sum(unet_steps) - vae, 4),
        "bls_overhead_per_step_s": round((p50["Triton gRPC"] - p50["onnxruntime loop"]) / workload.steps, 4),
        # REST minus gRPC is drowned in generation noise here; see frontend_overhead (1-step requests).
        "png_encode_s": round(png_encode_seconds(workload.size), 4),
    }


def png_encode_seconds(size: int, repeats: int = 9) -> float:
    """Median time to encode a size x size noise image as the frontend does (a worst case for PNG)."""
    image = np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        encode_image(image, size, size, "png")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def frontend_overhead(rest: RestFrontend, grpc: TritonGrpc, repeats: int) -> dict:
    """REST minus gRPC for a 1-step request, where generation noise is small; PNG encoding excluded."""
    workload = Workload(size=256, steps=1)
    result = measure([grpc, rest], workload, repeats, "frontend overhead")
    png = png_encode_seconds(workload.size)
    pairs = zip(result["REST frontend"]["raw_s"], result["Triton gRPC"]["raw_s"], strict=True)
    overhead = [rest - grpc - png for rest, grpc in pairs]
    return {
        "png_encode_s": round(png, 4),
        "overhead_ms": summary([o * 1000 for o in overhead]),
        "raw": result,
    }


def client_loop(url: str, workload: Workload, index: int, requests: int, started: float) -> list[float]:
    """One client: `requests` requests in a row (distinct seeds), stopping at the level's time limit."""
    system, latencies = RestFrontend(url), []
    for i in range(requests):
        if time.perf_counter() - started > LEVEL_TIME_LIMIT_S:
            break
        t0 = time.perf_counter()
        system.run(Workload(workload.size, workload.steps, seed=index * 1000 + i))
        latencies.append(time.perf_counter() - t0)
    return latencies


def throughput(url: str, workload: Workload, requests_per_client: int) -> list[dict]:
    levels = []
    for clients in tqdm(CONCURRENCY, desc="concurrency", unit="level"):
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            futures = [
                pool.submit(client_loop, url, workload, i, requests_per_client, started)
                for i in range(clients)
            ]
            latencies = [latency for future in futures for latency in future.result()]
        wall = time.perf_counter() - started
        levels.append(
            {
                "clients": clients,
                "requests": len(latencies),
                "wall_s": round(wall, 3),
                "images_per_s": round(len(latencies) / wall, 4),
                "latency": summary(latencies),
            }
        )
    return levels


def benchmark_model(preset: str, workload: Workload, repeats: int, args: argparse.Namespace) -> dict:
    repository = export_model(preset, WORK / preset, workload.size)
    loop = OnnxRuntimeLoop(repository)
    systems: list[System] = [DiffusersPyTorch(build_preset(preset)), loop]
    result: dict = {"preset": preset, "size": workload.size, "steps": workload.steps, "seed": workload.seed}
    with TritonServer(
        repository, free_port(), work_dir=WORK, log_file=WORK / f"triton-{preset}.log"
    ) as triton:
        data_dir, port = WORK / f"frontend-{preset}", free_port()
        url = f"http://127.0.0.1:{port}"
        with frontend_process(triton.url, port, data_dir, {"T2I_RATE_LIMIT_PER_MINUTE": "0"}):
            grpc, rest = TritonGrpc(triton.url), RestFrontend(url)
            systems += [grpc, rest]
            result["end_to_end"] = measure(systems, workload, repeats, f"{preset} end to end")
            result["stages"] = stage_breakdown(loop, workload, result["end_to_end"])
            if preset == "tiny":
                result["frontend_overhead"] = frontend_overhead(rest, grpc, 9 if args.quick else 25)
                steps = (5, 10) if args.quick else (5, 10, 20, 40)
                result["latency_vs_steps"] = {
                    str(s): measure(systems, Workload(workload.size, s), 2 if args.quick else 3, f"steps={s}")
                    for s in steps
                }
                result["throughput"] = throughput(url, workload, 2 if args.quick else 4)
                result["perf_analyzer"] = perf_analyzer.run(triton.url, RESULTS, workload, quick=args.quick)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats (a smoke run, not for the README)"
    )
    parser.add_argument("--skip-sd15", action="store_true", help="tiny only (no 4 GB export)")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)

    run: dict = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": environment.describe(),
    }
    run["tiny"] = benchmark_model("tiny", Workload(256, 20), 3 if args.quick else 7, args)
    if not args.skip_sd15:
        run["sd15"] = benchmark_model("sd15", Workload(256, 10), 2 if args.quick else 3, args)
        run["ort_variants"] = ort_variants.run(WORK / "sd15", size=256, repeats=2 if args.quick else 3)
    run["targets"] = report.targets(run)
    stamp = run["started"].replace(":", "").replace("-", "")
    for path in (RESULTS / f"bench-{stamp}.json", RESULTS / "latest.json"):
        path.write_text(json.dumps(run, indent=2))
    markdown = report.markdown(run)
    (RESULTS / "latest.md").write_text(markdown)
    report.plots(run, RESULTS)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
