"""The real stack on free loopback ports: the embedded tritonserver on the exported tiny model, and the
frontend as its own process, started once for the e2e tests and stopped after them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from t2i.triton_server import TritonServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def triton_server(tiny_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    work_dir = tmp_path_factory.mktemp("triton")
    server = TritonServer(tiny_repository, free_port(), work_dir=work_dir, log_file=work_dir / "triton.log")
    try:
        with server:
            yield server
    except Exception:
        print((work_dir / "triton.log").read_text()[-5000:], file=sys.stderr)
        raise


def wait_healthy(process: subprocess.Popen, url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"frontend exited with code {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"frontend not healthy after {timeout} s")


@pytest.fixture(scope="session")
def frontend_url(triton_server: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("frontend")
    port = free_port()
    env = dict(os.environ, T2I_DATA_DIR=str(data_dir), T2I_URL_TTL_S="3600")
    log = open(data_dir / "frontend.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "frontend", "--triton-url", triton_server.url, "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, url)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
