"""The real stack on free loopback ports: the embedded tritonserver on the exported tiny model, and
frontends as their own processes (one per configuration), started once and stopped after the tests."""

from __future__ import annotations

import functools
import http.server
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from t2i.triton_server import TritonServer
from testbed.frontend import create_key, free_port, frontend_process

URL_SECRET = "e2e-url-secret-" + "x" * 32
# The pipeline model raises inside on this prompt (T2I_FAULT_INJECTION_PROMPT), to test real failures.
FAULT_PROMPT = "__t2i_injected_fault__"


@pytest.fixture(scope="session")
def triton_server(tiny_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    work_dir = tmp_path_factory.mktemp("triton")
    server = TritonServer(
        tiny_repository,
        free_port(),
        work_dir=work_dir,
        log_file=work_dir / "triton.log",
        env={"T2I_FAULT_INJECTION_PROMPT": FAULT_PROMPT},
    )
    try:
        with server:
            yield server
    except Exception:
        print((work_dir / "triton.log").read_text()[-5000:], file=sys.stderr)
        raise


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    """Polls what the server reports until `condition` holds, at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@dataclass
class Frontend:
    url: str
    data_dir: Path
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[key]}"}


@contextmanager
def running_frontend(
    triton_url: str, data_dir: Path, settings: dict[str, str], key_names: tuple[str, ...] = ()
) -> Iterator[Frontend]:
    env = dict(os.environ, T2I_DATA_DIR=str(data_dir), **settings)
    keys = {name: create_key(env, name) for name in key_names}
    port = free_port()
    with frontend_process(triton_url, port, data_dir, settings):
        yield Frontend(f"http://127.0.0.1:{port}", data_dir, keys)


@pytest.fixture(scope="session")
def frontend(triton_server: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Frontend]:
    """The main frontend: API keys `alice` and `bob`; loopback references allowed for the URL test."""
    settings = {"T2I_URL_SECRET": URL_SECRET, "T2I_REFERENCE_ALLOWED_HOSTS": '["127.0.0.1"]'}
    data_dir = tmp_path_factory.mktemp("frontend")
    with running_frontend(triton_server.url, data_dir, settings, ("alice", "bob")) as running:
        yield running


def diffusers_sdxl_images(folder: Path, prompt: str, seeds: list[int], steps: int, guidance: float) -> Any:
    """diffusers' own StableDiffusionXLPipeline on `folder` at 256x256: float images [N, 256, 256, 3] in
    0..1, image i from seed seeds[i], as the served pipeline seeds them."""
    import torch
    from diffusers import StableDiffusionXLPipeline

    reference = StableDiffusionXLPipeline.from_pretrained(folder)
    reference.set_progress_bar_config(disable=True)
    return reference(
        prompt,
        height=256,
        width=256,
        num_inference_steps=steps,
        guidance_scale=guidance,
        num_images_per_prompt=len(seeds),
        generator=[torch.Generator().manual_seed(seed) for seed in seeds],
        output_type="np",
    ).images


@dataclass
class StaticFiles:
    """A static file server on loopback (an allowed reference host of `frontend`), for images by URL."""

    root: Path
    host: str  # 127.0.0.1:PORT

    def add(self, name: str, data: bytes) -> str:
        (self.root / name).write_bytes(data)
        return f"http://{self.host}/{name}"


@pytest.fixture(scope="session")
def static_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticFiles]:
    root = tmp_path_factory.mktemp("www")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield StaticFiles(root, f"127.0.0.1:{server.server_address[1]}")
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def frontend_url(frontend: Frontend) -> str:
    return frontend.url


@pytest.fixture(scope="session")
def strict_frontend(
    triton_server: TritonServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Frontend]:
    """Open mode with tight limits: 3 requests a minute, 4 KiB bodies, a 0.3 s deadline."""
    settings = {
        "T2I_RATE_LIMIT_PER_MINUTE": "3",
        "T2I_MAX_BODY_BYTES": "4096",
        "T2I_REQUEST_TIMEOUT_S": "0.3",
    }
    with running_frontend(triton_server.url, tmp_path_factory.mktemp("strict"), settings) as running:
        yield running


@pytest.fixture(scope="session")
def orphan_frontend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Frontend]:
    """A frontend whose Triton is not there (a free port nobody listens on)."""
    data_dir = tmp_path_factory.mktemp("orphan")
    with running_frontend(f"127.0.0.1:{free_port()}", data_dir, {}) as running:
        yield running
