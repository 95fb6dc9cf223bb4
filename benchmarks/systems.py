"""The systems a comparison measures, all on the same weights, scheduler, steps, size and seed:
diffusers in PyTorch, a plain onnxruntime loop over the exported ONNX files, this project through Triton
gRPC, and this project through the REST frontend."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np
import torch
import tritonclient.grpc as grpcclient

from export.components import Components
from t2i import contract, pipeline_client
from t2i.denoise import DenoisingPipeline, Networks
from t2i.onnx_networks import OnnxNetworks, local_pipeline
from t2i.request import GenerationRequest, Loras

PROMPT = "a red circle on a blue background"
NEGATIVE = "blurry"
GUIDANCE = 7.5


@dataclass(frozen=True)
class Workload:
    size: int
    steps: int
    seed: int = 42


class System(Protocol):
    name: str

    def run(self, workload: Workload) -> None: ...


def load_pipeline(repository: Path, networks: Networks) -> DenoisingPipeline:
    return local_pipeline(repository, networks=networks)


def internal_request(workload: Workload) -> GenerationRequest:
    return GenerationRequest(
        prompt=PROMPT,
        negative_prompt=NEGATIVE,
        width=workload.size,
        height=workload.size,
        steps=workload.steps,
        guidance_scale=GUIDANCE,
        seed=workload.seed,
        scheduler="euler",
    )


def diffusers_images(pipeline: Any, workload: Workload) -> np.ndarray:
    """The workload through diffusers' own pipeline: uint8 [1, H, W, 3]."""
    with torch.inference_mode():
        images = pipeline(
            PROMPT,
            negative_prompt=NEGATIVE,
            height=workload.size,
            width=workload.size,
            num_inference_steps=workload.steps,
            guidance_scale=GUIDANCE,
            generator=torch.Generator().manual_seed(workload.seed),
            output_type="np",
        ).images
    return (np.asarray(images) * 255).round().astype(np.uint8)


class DiffusersPyTorch:
    name = "diffusers PyTorch"

    def __init__(self, components: Components, dtype: torch.dtype = torch.float32, name: str | None = None):
        # A pipeline shares the components' modules: another dtype casts a copy, never the caller's.
        pipeline = components.diffusers_pipeline()
        self.pipeline = copy.deepcopy(pipeline).to(dtype=dtype) if dtype != torch.float32 else pipeline
        self.name = name or self.name

    def run(self, workload: Workload) -> None:
        diffusers_images(self.pipeline, workload)


class OptimumIntel:
    """optimum-intel's OpenVINO pipeline on the same weights (a diffusers folder), in its own virtual
    environment: one worker process (benchmarks/optimum_intel_worker.py) that exports, compiles for the
    workload's size and then answers one request per line."""

    name = "optimum-intel OpenVINO"
    WORKER = Path(__file__).with_name("optimum_intel_worker.py")

    def __init__(self, python: Path, folder: Path, size: int, work_dir: Path):
        self.png = work_dir / "optimum_intel.png"
        self.process = subprocess.Popen(
            [str(python), str(self.WORKER), str(folder), str(size)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.description = self._answer()  # optimum's precision and OpenVINO version
        self.size = size

    def _answer(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the optimum-intel worker exited with {self.process.wait()}")
        return json.loads(line)

    def run(self, workload: Workload) -> None:
        assert self.process.stdin is not None and workload.size == self.size
        request = {
            "prompt": PROMPT,
            "negative_prompt": NEGATIVE,
            "steps": workload.steps,
            "guidance_scale": GUIDANCE,
            "seed": workload.seed,
            "png": str(self.png),
        }
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        self._answer()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


class TimedNetworks(OnnxNetworks):
    """onnxruntime networks that keep the time spent in each network, for the per-stage breakdown."""

    def __init__(self, repository: Path):
        super().__init__(repository)
        self.seconds: dict[str, list[float]] = {name: [] for name in self.sessions}

    def run(
        self, spec: contract.ModelSpec, inputs: Mapping[str, torch.Tensor], loras: Loras = ()
    ) -> dict[str, torch.Tensor]:
        started = time.perf_counter()
        outputs = super().run(spec, inputs, loras)
        self.seconds[spec.name].append(time.perf_counter() - started)
        return outputs


class OnnxRuntimeLoop:
    name = "onnxruntime loop"

    def __init__(self, repository: Path):
        self.networks = TimedNetworks(repository)
        self.pipeline = load_pipeline(repository, self.networks)

    def run(self, workload: Workload) -> None:
        self.pipeline(internal_request(workload))


class TritonGrpc:
    name = "Triton gRPC"

    def __init__(self, url: str):
        self.url = url
        # One client per thread: a tritonclient gRPC client holds one stream at a time, and the pipeline
        # model is called over a stream, so threads sharing a client would refuse each other's requests.
        self.local = threading.local()

    @property
    def client(self) -> grpcclient.InferenceServerClient:
        if not hasattr(self.local, "client"):
            self.local.client = grpcclient.InferenceServerClient(self.url)
        return self.local.client

    def run(self, workload: Workload) -> None:
        self.generate(internal_request(workload))

    def generate(self, request: GenerationRequest) -> np.ndarray:
        """The pipeline model called directly: uint8 [N, H, W, 3]."""
        return pipeline_client.generate(self.client, request).images


class RestFrontend:
    name = "REST frontend"

    def __init__(self, url: str, model: str | None = None, name: str | None = None):
        self.client = httpx.Client(base_url=url, timeout=600)
        self.model = model
        self.name = name or self.name

    def run(self, workload: Workload) -> None:
        body = {
            "prompt": PROMPT,
            "negative_prompt": NEGATIVE,
            "size": f"{workload.size}x{workload.size}",
            "steps": workload.steps,
            "guidance_scale": GUIDANCE,
            "seed": workload.seed,
            "scheduler": "euler",
            "response_format": "b64_json",
        } | ({"model": self.model} if self.model else {})
        response = self.client.post("/v1/images/generations", json=body)
        response.raise_for_status()
        self.last_png = base64.b64decode(response.json()["data"][0]["b64_json"])
