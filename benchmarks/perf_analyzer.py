"""Triton's perf_analyzer against the pipeline model over gRPC, its CSV report kept in results/.

PyPI's `perf-analyzer` package is an empty placeholder; the binary ships inside the tritonclient 2.41
wheel. `make perf-analyzer` puts it in var/tools/ (with the two libraries it expects, taken from the
nvidia-pytriton wheel); without it this step is recorded as skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from benchmarks.systems import GUIDANCE, NEGATIVE, PROMPT, Workload

TOOLS = Path(__file__).resolve().parent.parent / "var" / "tools"
BINARY = TOOLS / "perf_analyzer"


def input_data(workload: Workload) -> dict:
    def scalar(value: object) -> dict:
        return {"content": [value], "shape": [1]}

    return {
        "data": [
            {
                "prompt": scalar(PROMPT),
                "negative_prompt": scalar(NEGATIVE),
                "width": scalar(workload.size),
                "height": scalar(workload.size),
                "steps": scalar(workload.steps),
                "guidance_scale": scalar(GUIDANCE),
                "seed": scalar(workload.seed),
                "num_images": scalar(1),
                "scheduler": scalar("euler"),
            }
        ]
    }


def run(triton_url: str, results: Path, workload: Workload, quick: bool) -> dict:
    if not BINARY.is_file():
        return {"skipped": f"{BINARY} not installed (run `make perf-analyzer`)"}
    data_file = TOOLS / "pipeline_input.json"
    data_file.write_text(json.dumps(input_data(workload)))
    report = results / "perf_analyzer_tiny.csv"
    command = [
        str(BINARY),
        "-m",
        "pipeline",
        "-u",
        triton_url,
        "-i",
        "grpc",
        "-b",
        "1",
        # The pipeline is decoupled (previews, then the images): gRPC streaming only.
        "--streaming",
        "--input-data",
        str(data_file),
        "--concurrency-range",
        "1:2" if quick else "1:4",
        "--measurement-interval",
        "8000" if quick else "15000",
        "--stability-percentage",
        "50",
        "--max-trials",
        "3",
        "-f",
        str(report),
    ]
    env = dict(os.environ, LD_LIBRARY_PATH=str(TOOLS))
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    (results / "perf_analyzer_tiny.txt").write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        return {"failed": completed.returncode, "output": (completed.stdout + completed.stderr)[-2000:]}
    lines = report.read_text().strip().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:]]
    return {
        "report": str(report.relative_to(results.parent.parent)),
        "rows": [
            {
                "concurrency": row.get("Concurrency"),
                "inferences_per_s": row.get("Inferences/Second"),
                "p50_latency_us": row.get("p50 latency"),
                "p95_latency_us": row.get("p95 latency"),
            }
            for row in rows
        ],
    }
